"""analogsim: simulate neural networks on noisy analog in-memory-computing chips."""

from device_models import ParameterError as ParameterError

from ._chip import ChipIdentity as ChipIdentity
from ._chip import LayerIdentity as LayerIdentity
from ._chip import make_chip as make_chip
from ._forward import analog_linear as analog_linear
from ._forward import apply_analog as apply_analog
from ._forward import read_conductances as read_conductances
from ._keys import chip_key as chip_key
from ._keys import root_key as root_key
from ._keys import stream as stream
from ._networks import Conv2d as Conv2d
from ._networks import Dense as Dense
from ._networks import Network as Network
from ._networks import apply_digital as apply_digital
from ._networks import cnn as cnn
from ._networks import get_network as get_network
from ._networks import init_params as init_params
from ._networks import mlp as mlp
from ._periphery import PeripheryVariation as PeripheryVariation
from ._periphery import quantize as quantize
from ._program import ChipState as ChipState
from ._program import LayerState as LayerState
from ._program import program_and_verify as program_and_verify
from ._program import program_chip as program_chip
from ._spec import HardwareSpec as HardwareSpec
from ._tile import analog_mvm as analog_mvm
from ._version import __version__ as __version__
