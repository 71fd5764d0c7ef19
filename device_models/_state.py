"""The state of programmed devices: what a write left behind."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float


class DeviceState(eqx.Module):
    """Conductances as written, plus the per-write random draws that play out over time.

    Attributes:
        g: conductance right after the write, microsiemens (before drift or relaxation).
        relaxation_z: a standard-normal draw per device made at the write; devices that relax
            (RRAM) move by `relaxation_sigma(t) * relaxation_z`, so two reads at the same time see
            the same relaxed conductance. Unused by devices without relaxation.
    """

    g: Float[Array, "..."]
    relaxation_z: Float[Array, "..."]
