"""A programmed chip's state: its devices' conductance state and the digital numbers beside it."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float

from device_models import DeviceState


class LayerState(eqx.Module):
    """What a programmed layer holds: its devices' state and the digital numbers beside it.

    Attributes:
        devices: state of the (G+, G-) devices, fields of shape (2, rows, cols).
        scale: digital weight scale per output column, shape (cols,).
        bias: digital bias, shape (cols,).
        drift_reference: calibration read right after programming (sum of |outputs| for a
            full-scale input), used by global drift compensation.
        pulse_residue: under mixed-precision updates, the desired weight change (weight
            units, (rows, cols)) not yet fired as pulses, a digital number kept beside the
            array; None otherwise.
    """

    devices: DeviceState
    scale: Float[Array, " cols"]
    bias: Float[Array, " cols"]
    drift_reference: Float[Array, ""]
    pulse_residue: Float[Array, "rows cols"] | None = None


class ChipState(eqx.Module):
    """A chip's programmed state: one `LayerState` per analog layer."""

    layers: tuple[LayerState, ...]
