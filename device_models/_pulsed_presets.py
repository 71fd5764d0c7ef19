"""Named pulsed-update presets, each citing the measurements it was fitted to.

The numbers are those of IBM aihwkit's device presets (normalized weight axis w in
[w_min, w_max], see `_pulse_response.py`), mapped onto 0..25 uS (`reram_es` onto RRAM's
0..40 uS); the conductance scale is a convention (the fits are in normalized units), the
number of states and every spread are not.

Each preset also names how its devices *read* (`read_model`): `reram_es` devices are HfOx
RRAM and read as the `rram` preset does (read gain, stuck devices, I-V law, read noise,
relaxation), `pcm_pulsed` devices as the `pcm` preset does (drift, 1/f read noise); the
others are abstract update models (aihwkit's convention) whose reads are ideal, so
everything chip-specific about them is in their update response and converters.
"""

from __future__ import annotations

from ._base import AbstractDeviceModel
from ._checks import ParameterError
from ._ideal import Ideal
from ._pcm import PCM
from ._pcm_pulsed import PCMSetStep
from ._pulse_families import ConstantStep, ExpStep, LinearStep
from ._pulse_response import AbstractPulseResponse
from ._rram import RRAM


def idealized() -> ConstantStep:
    """About 10,000 states (dw_min = 0.0002 on [-1, 1]) as aihwkit's IdealizedPresetDevice
    (Rasch, Gokmen & Haensch, IEEE Design & Test 2019), with every spread reduced to 1%: the
    near-ideal reference device of in-situ training."""
    return ConstantStep(
        name="idealized",
        citation="Rasch, Gokmen & Haensch, IEEE Des. Test 2019 (aihwkit Idealized), spreads 1%",
        dw_min=0.0002,
        dw_min_dtod=0.01,
        dw_min_std=0.01,
        up_down=0.0,
        up_down_dtod=0.0,
        w_min_dtod=0.01,
        w_max_dtod=0.01,
    )


def gokmen_vlasov() -> ConstantStep:
    """The resistive processing unit specification of Gokmen & Vlasov, Front. Neurosci.
    10:333 (2016), as aihwkit's GokmenVlasovPresetDevice: ~1250 states (dw_min = 0.0016 on
    [-1, 1]), 30% device-to-device step spread, 30% cycle-to-cycle, 1% up/down imbalance
    spread, 30% spread of the bounds."""
    return ConstantStep(
        name="gokmen_vlasov",
        citation="Gokmen & Vlasov, Front. Neurosci. 10:333 (2016) (aihwkit GokmenVlasov preset)",
        dw_min=0.0016,
        dw_min_dtod=0.3,
        dw_min_std=0.3,
        up_down=0.0,
        up_down_dtod=0.01,
        w_min_dtod=0.3,
        w_max_dtod=0.3,
    )


def reram_es() -> ExpStep:
    """HfOx RRAM, exponential step fitted by aihwkit (ReRamESPresetDevice) to Gong et al.,
    "Signal and noise extraction from analog memory elements for neuromorphic computing",
    Nat. Commun. 9:2102 (2018): dw_min = 0.00135, up_down = 0.259, a = b = -0.5,
    gamma = 5, A_up = -1.18445, A_down = -0.081404, 20% step and 30% bound spread, 5% imbalance
    spread and a cycle-to-cycle step spread of 500% (steps often go the wrong way). aihwkit's
    additional read-out "write noise" of that preset is not modelled here; reads follow the
    `rram` preset instead (`read_model`), whose 0..40 uS range this preset is mapped onto."""
    return ExpStep(
        name="reram_es",
        citation="Gong et al., Nat. Commun. 9:2102 (2018) (aihwkit ReRamESPresetDevice)",
        g_max=40.0,
        dw_min=0.00135,
        up_down=0.259359,
        a=-0.5,
        b=-0.5,
        gamma_up=5.0,
        gamma_down=5.0,
        A_up=-1.18445,
        A_down=-0.081404,
        dw_min_dtod=0.2,
        up_down_dtod=0.05,
        w_min_dtod=0.3,
        w_max_dtod=0.3,
        dw_min_std=5.0,
    )


def ecram() -> LinearStep:
    """Lithium ECRAM, linear step fitted by aihwkit (EcRamPresetDevice) to Tang et al.,
    "ECRAM as scalable synaptic cell for high-speed, low-power neuromorphic computing",
    IEDM 2018: ~1000 states (dw_min = 0.002), asymmetric slopes gamma_up = 0.1153,
    gamma_down = 0.5085, range [-0.8276, 1.1724], 10% step spread, 5% bound and slope spread,
    30% cycle-to-cycle."""
    return LinearStep(
        name="ecram",
        citation="Tang et al., IEDM 2018 (aihwkit EcRamPresetDevice)",
        dw_min=0.002,
        up_down=0.0,
        w_min=-0.8276,
        w_max=1.1724,
        gamma_up=0.1153,
        gamma_down=0.5085,
        gamma_dtod=0.05,
        dw_min_dtod=0.1,
        up_down_dtod=0.01,
        w_min_dtod=0.05,
        w_max_dtod=0.05,
        dw_min_std=0.3,
    )


def pcm_pulsed() -> PCMSetStep:
    """Ge2Sb2Te5 PCM under SET pulses, as aihwkit's PCMPresetDevice fitted to Nandakumar et
    al., "Mixed-precision deep learning based on computational memory", Front. Neurosci.
    14:406 (2020): exponential SET step dw_min = 0.01 on a [0, 2] range (here [-1, 1]), a = -1,
    gamma = 2.5, A_up = -27.235 (the first pulses after a RESET are ~28x the last ones, about
    73 nominal pulses from floor to top), 20% step and 10% upper-bound spread, 5% imbalance
    spread, cycle-to-cycle noise 0.6 (|step| + 0.042 + 0.108 q), RESET to 0.01 +- 0.02 above
    the floor. Unidirectional: used as a G+/G- pair with refresh at aihwkit's thresholds
    (one device above 75% of the range, the other above 25%). Reads follow the `pcm`
    statistical model (programming noise, drift, 1/f read noise) over 0..25 uS."""
    return PCMSetStep(
        name="pcm_pulsed",
        citation="Nandakumar et al., Front. Neurosci. 14:406 (2020) (aihwkit PCMPresetDevice)",
        g_max=25.0,
        dw_min=0.01,
        up_down=0.0,
        up_down_dtod=0.05,
        dw_min_dtod=0.2,
        w_max_dtod=0.1,
        w_min_dtod=0.0,
        dw_min_std=0.6,
    )


PULSE_PRESETS = {
    "idealized": idealized,
    "gokmen_vlasov": gokmen_vlasov,
    "reram_es": reram_es,
    "ecram": ecram,
    "pcm_pulsed": pcm_pulsed,
}


def get_pulse_response(name: str) -> AbstractPulseResponse:
    """The pulsed-update preset called `name` (the message lists the known ones)."""
    try:
        return PULSE_PRESETS[name]()
    except KeyError:
        known = ", ".join(sorted(PULSE_PRESETS))
        raise ParameterError(f"unknown pulsed preset {name!r}; known presets: {known}") from None


def read_model(name: str) -> AbstractDeviceModel:
    """How the devices of pulsed preset `name` read: `rram` for `reram_es` (HfOx RRAM), `pcm`
    for `pcm_pulsed`, an ideal read over the response's conductance range for the abstract
    update models."""
    response = get_pulse_response(name)
    if name == "reram_es":
        return RRAM(g_min=response.g_min, g_max=response.g_max)
    if name == "pcm_pulsed":
        return PCM(g_max=response.g_max)
    return Ideal(g_min=response.g_min, g_max=response.g_max)
