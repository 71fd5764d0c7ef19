"""device_models: the physics of one analog memory device, with cited presets.

Conductances in microsiemens, times in seconds since programming. Never imports analogsim.
"""

from ._base import AbstractDeviceModel as AbstractDeviceModel
from ._checks import ParameterError as ParameterError
from ._fold_in import fold_in as fold_in
from ._ideal import Ideal as Ideal
from ._identity import DeviceIdentity as DeviceIdentity
from ._identity import draw_identity as draw_identity
from ._noise import noise_bits as noise_bits
from ._noise import noise_normal as noise_normal
from ._noise import noise_uniform as noise_uniform
from ._pcm import PCM as PCM
from ._pcm_pulsed import PCMSetStep as PCMSetStep
from ._pulse_families import ConstantStep as ConstantStep
from ._pulse_families import ExpStep as ExpStep
from ._pulse_families import LinearStep as LinearStep
from ._pulse_families import PowStep as PowStep
from ._pulse_families import SoftBounds as SoftBounds
from ._pulse_response import AbstractPulseResponse as AbstractPulseResponse
from ._pulse_response import PulseIdentity as PulseIdentity
from ._pulsed_presets import PULSE_PRESETS as PULSE_PRESETS
from ._pulsed_presets import get_pulse_response as get_pulse_response
from ._pulsed_presets import read_model as read_model
from ._registry import PRESETS as PRESETS
from ._registry import get_device as get_device
from ._registry import list_devices as list_devices
from ._rram import RRAM as RRAM
from ._state import DeviceState as DeviceState
from ._variation import DeviceVariation as DeviceVariation
