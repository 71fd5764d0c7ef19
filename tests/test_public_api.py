"""The public face keeps every name 0.1.0 gave: the layout moved files, not names; plumbing
that left the front page is in `analogsim.internal`, and its old names still work with a
DeprecationWarning."""

import warnings

import pytest

import analogsim
import device_models

# `dir()` of 0.1.0, less modules and private names
ANALOGSIM_0_1 = """
ChipIdentity ChipState Conv2d CrossbarError CrossbarSolution Dataset Dense DeviceUpdateState
HardwareSpec LayerIdentity LayerState Network ParameterError PeripheryVariation STRATEGIES
SavedChip SavedNetwork StateFileError StoreMismatchError TrainingError accuracy analog_linear
analog_mvm apply_analog apply_digital characterize_device chip_gradients chip_key chip_map
chip_mesh cnn device_update distill_loss draw_fleet fleet_state_accuracy get_network
hardware_spec hardware_table init_fleet init_in_situ init_params initialize_distributed
is_main_process load_chip load_dataset load_digits load_network load_npz make_chip
measure_conductances measure_weights mlp noiseless opt_init_tree parse_values
plot_accuracy_vs_time plot_chip_map plot_dataset plot_device plot_learning_curve
plot_pulse_response plot_sweep plot_transfer probe_weights program_and_verify program_chip
quantize read_conductances root_key save_chip save_network simulate soft_targets
solve_crossbar spec_for stream sweep_simulate sweep_train sweep_transfer sweepable train
train_digital train_fleet train_in_situ transfer use_cpu_cores with_pulse_residue
write_conductances write_dataset write_weights
""".split()
DEVICE_MODELS_0_1 = """
AbstractDeviceModel AbstractPulseResponse ConstantStep DeviceIdentity DeviceState
DeviceVariation ExpStep Ideal LinearStep PCM PCMSetStep PRESETS PULSE_PRESETS ParameterError
PowStep PulseIdentity RRAM SoftBounds draw_identity fold_in get_device get_pulse_response
list_devices noise_bits noise_normal noise_uniform read_model
""".split()
MOVED = ("fleet_state_accuracy", "init_fleet", "opt_init_tree", "parse_values", "train_fleet")


def test_every_name_of_0_1_still_works():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        missing = [n for n in ANALOGSIM_0_1 if not hasattr(analogsim, n)]
    missing += [f"device_models.{n}" for n in DEVICE_MODELS_0_1 if not hasattr(device_models, n)]
    assert not missing


@pytest.mark.parametrize("name", MOVED)
def test_plumbing_moved_to_internal_warns_at_its_old_name(name):
    assert name not in dir(analogsim)  # off the front page (and the docs' API page)
    with pytest.warns(DeprecationWarning, match=f"analogsim.internal.{name}"):
        old = getattr(analogsim, name)
    assert old is getattr(analogsim.internal, name)


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'telepathy'"):
        analogsim.telepathy  # noqa: B018
