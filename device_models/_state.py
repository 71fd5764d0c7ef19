"""The state of programmed devices: what programming left behind."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float


class DeviceState(eqx.Module):
    """Conductances as programmed, plus what programming fixed that plays out over time.

    Attributes:
        g: conductance after programming, microsiemens (before drift or relaxation).
        relaxation_z: a standard-normal draw per device made when programming settled; devices
            that relax (RRAM) move by `relaxation_sigma(t) * relaxation_z`, so two reads at the
            same time see the same relaxed conductance. Unused by devices without relaxation.
        g_target: the conductance the device was programmed to aim at, microsiemens. Published
            drift statistics are functions of it (PCM's drift exponent). A pulsed update
            (in-situ training) sets it to the conductance the pulses left.
    """

    g: Float[Array, "..."]
    relaxation_z: Float[Array, "..."]
    g_target: Float[Array, "..."]
