"""Device-to-device variation parameters: what makes each device of a chip its own."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import ArrayLike

from ._checks import check_nonnegative, check_probability, check_range


class DeviceVariation(eqx.Module):
    """Spreads of the fixed, per-device properties drawn into a chip's identity.

    Every field is a number a user may sweep (a traced leaf, so sweeping never recompiles).
    All spreads are multiplied by the chip-level `variation` multiplier when an identity is
    drawn; the mean I-V nonlinearity is a property of the technology, not a spread, and is not.

    Attributes:
        read_gain_sigma: sigma of ln(read gain); a device reads as `gain * g`, gain log-normal
            with mean 1. Acts identically on verify and compute reads, so program-and-verify
            (and the presets' published procedure) absorbs it; an open-loop write does not.
        range_sigma: sigma of ln(g_max_device / g_max); each device's own upper conductance bound.
        stuck_on_prob: probability that a device is stuck at its own g_max (ignores writes).
        stuck_off_prob: probability that a device is stuck at its own g_min (ignores writes).
        iv_nonlinearity: mean k of the I-V law I = g V (1 + k ((V / V_read)^2 - 1)),
            dimensionless. A verify read at V_read sees exactly g; a compute read at a lower
            voltage sees g (1 - k (1 - (V/V_read)^2)).
        iv_nonlinearity_sigma: device-to-device standard deviation of k.
        drift_sigma_scale: scale on the preset's device-to-device spread of the drift exponent
            (1 = the published spread); each device keeps its rank in that distribution.
    """

    read_gain_sigma: ArrayLike = 0.0
    range_sigma: ArrayLike = 0.0
    stuck_on_prob: ArrayLike = 0.0
    stuck_off_prob: ArrayLike = 0.0
    iv_nonlinearity: ArrayLike = 0.0
    iv_nonlinearity_sigma: ArrayLike = 0.0
    drift_sigma_scale: ArrayLike = 1.0

    def __check_init__(self) -> None:
        check_nonnegative("read_gain_sigma", self.read_gain_sigma)
        check_nonnegative("range_sigma", self.range_sigma)
        check_probability("stuck_on_prob", self.stuck_on_prob)
        check_probability("stuck_off_prob", self.stuck_off_prob)
        check_range("iv_nonlinearity", self.iv_nonlinearity, -1.0, 1.0)
        check_nonnegative("iv_nonlinearity_sigma", self.iv_nonlinearity_sigma)
        check_nonnegative("drift_sigma_scale", self.drift_sigma_scale)
