"""analogsim: simulate neural networks on noisy analog in-memory-computing chips."""

from device_models import ParameterError as ParameterError

from . import internal as internal
from ._chip.characterize import characterize_device as characterize_device
from ._chip.chip_map import chip_map as chip_map
from ._chip.crossbar import CrossbarError as CrossbarError
from ._chip.crossbar import CrossbarSolution as CrossbarSolution
from ._chip.crossbar import solve_crossbar as solve_crossbar
from ._chip.forward import analog_linear as analog_linear
from ._chip.forward import apply_analog as apply_analog
from ._chip.identity import ChipIdentity as ChipIdentity
from ._chip.identity import LayerIdentity as LayerIdentity
from ._chip.identity import make_chip as make_chip
from ._chip.periphery import PeripheryVariation as PeripheryVariation
from ._chip.periphery import quantize as quantize
from ._chip.presets import hardware_spec as hardware_spec
from ._chip.presets import hardware_table as hardware_table
from ._chip.presets import spec_for as spec_for
from ._chip.program import program_and_verify as program_and_verify
from ._chip.program import program_chip as program_chip
from ._chip.read import read_conductances as read_conductances
from ._chip.spec import HardwareSpec as HardwareSpec
from ._chip.spec import noiseless as noiseless
from ._chip.state import ChipState as ChipState
from ._chip.state import LayerState as LayerState
from ._chip.sweepable import sweepable as sweepable
from ._chip.tile import analog_mvm as analog_mvm
from ._core.keys import chip_key as chip_key
from ._core.keys import root_key as root_key
from ._core.keys import stream as stream
from ._core.process import is_main_process as is_main_process
from ._core.provenance import write_dataset as write_dataset
from ._cost.chip_costs import CostModel as CostModel
from ._cost.estimate import cost as cost
from ._cost.presets import cost_model_for as cost_model_for
from ._cost.presets import get_cost_model as get_cost_model
from ._cost.published import published_table as published_table
from ._fleet.cpu_devices import use_cpu_cores as use_cpu_cores
from ._fleet.distributed import initialize_distributed as initialize_distributed
from ._fleet.mesh import chip_mesh as chip_mesh
from ._fleet.model_fleet import simulate_model as simulate_model
from ._fleet.simulate import simulate as simulate
from ._learn.algorithms import Algorithm as Algorithm
from ._learn.algorithms import algorithm_presets as algorithm_presets
from ._learn.algorithms import get_algorithm as get_algorithm
from ._learn.device_update import DeviceUpdateState as DeviceUpdateState
from ._learn.device_update import device_update as device_update
from ._learn.device_update import tiki_taka_update as tiki_taka_update
from ._learn.device_update import with_pulse_residue as with_pulse_residue
from ._learn.distill import distill_loss as distill_loss
from ._learn.distill import soft_targets as soft_targets
from ._learn.fit_in_situ import Taught as Taught
from ._learn.fit_in_situ import chip_distill_loss as chip_distill_loss
from ._learn.fit_in_situ import chip_loss as chip_loss
from ._learn.fit_in_situ import fit_model_in_situ as fit_model_in_situ
from ._learn.fit_in_situ import teach_in_situ as teach_in_situ
from ._learn.in_situ import chip_gradients as chip_gradients
from ._learn.in_situ import init_in_situ as init_in_situ
from ._learn.in_situ_fleet import TrainingError as TrainingError
from ._learn.model_in_situ import apply_model_updates as apply_model_updates
from ._learn.model_in_situ import model_chip_gradients as model_chip_gradients
from ._learn.model_in_situ import model_in_situ_step as model_in_situ_step
from ._learn.model_in_situ import model_weights as model_weights
from ._learn.model_in_situ import with_model_fast_arrays as with_model_fast_arrays
from ._learn.model_in_situ import without_model_fast_arrays as without_model_fast_arrays
from ._learn.saved_state import SavedChip as SavedChip
from ._learn.saved_state import SavedNetwork as SavedNetwork
from ._learn.saved_state import StateFileError as StateFileError
from ._learn.saved_state import load_chip as load_chip
from ._learn.saved_state import load_network as load_network
from ._learn.saved_state import save_chip as save_chip
from ._learn.saved_state import save_network as save_network
from ._learn.train import train as train
from ._learn.train import train_in_situ as train_in_situ
from ._learn.train_model import train_model as train_model
from ._model.convert import analog_call as analog_call
from ._model.convert import from_analog as from_analog
from ._model.convert import to_analog as to_analog
from ._model.products import read_vectors as read_vectors
from ._model.weight import AnalogWeight as AnalogWeight
from ._nn.data import Dataset as Dataset
from ._nn.data import load_digits as load_digits
from ._nn.data import load_npz as load_npz
from ._nn.digital import accuracy as accuracy
from ._nn.digital import train_digital as train_digital
from ._nn.equinox_network import equinox_network as equinox_network
from ._nn.fit_model import fit_model as fit_model
from ._nn.fit_model import model_accuracy as model_accuracy
from ._nn.images import synthetic_images as synthetic_images
from ._nn.model_file import load_model as load_model
from ._nn.model_file import save_model as save_model
from ._nn.networks import Conv2d as Conv2d
from ._nn.networks import Dense as Dense
from ._nn.networks import Network as Network
from ._nn.networks import apply_digital as apply_digital
from ._nn.networks import cnn as cnn
from ._nn.networks import get_network as get_network
from ._nn.networks import init_params as init_params
from ._nn.networks import mlp as mlp
from ._nn.recall import associative_recall as associative_recall
from ._nn.resnet import resnet as resnet
from ._nn.tasks import load_dataset as load_dataset
from ._nn.transformer import transformer as transformer
from ._plot.chip_map import plot_chip_map as plot_chip_map
from ._plot.dataset import plot_dataset as plot_dataset
from ._plot.device import plot_device as plot_device
from ._plot.device import plot_pulse_response as plot_pulse_response
from ._plot.pareto import plot_pareto as plot_pareto
from ._plot.simulate import plot_accuracy_vs_time as plot_accuracy_vs_time
from ._plot.sweep import plot_sweep as plot_sweep
from ._plot.teaching import plot_teaching as plot_teaching
from ._plot.train import plot_learning_curve as plot_learning_curve
from ._plot.transfer import plot_transfer as plot_transfer
from ._sweep.simulate import sweep_simulate as sweep_simulate
from ._sweep.simulate_model import sweep_simulate_model as sweep_simulate_model
from ._sweep.store import StoreMismatchError as StoreMismatchError
from ._sweep.train import sweep_train as sweep_train
from ._sweep.transfer import sweep_transfer as sweep_transfer
from ._transfer.copy import measure_conductances as measure_conductances
from ._transfer.copy import measure_weights as measure_weights
from ._transfer.copy import write_conductances as write_conductances
from ._transfer.copy import write_weights as write_weights
from ._transfer.fleet import draw_fleet as draw_fleet
from ._transfer.model.settings import ModelTransferSettings as ModelTransferSettings
from ._transfer.model.transfer import transfer_model as transfer_model
from ._transfer.probe import probe_weights as probe_weights
from ._transfer.settings import TransferSettings as TransferSettings
from ._transfer.transfer import STRATEGIES as STRATEGIES
from ._transfer.transfer import transfer as transfer
from ._version import __version__ as __version__

_MOVED_TO_INTERNAL = (
    "fleet_state_accuracy",
    "init_fleet",
    "opt_init_tree",
    "parse_values",
    "train_fleet",
)


def __getattr__(name: str) -> object:
    # plumbing that left the front page: still reachable here until 0.3, with a warning
    if name in _MOVED_TO_INTERNAL:
        import warnings

        warnings.warn(
            f"analogsim.{name} moved to analogsim.internal.{name}; the old name goes in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(internal, name)
    raise AttributeError(f"module 'analogsim' has no attribute {name!r}")
