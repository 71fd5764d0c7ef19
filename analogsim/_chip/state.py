"""A programmed chip's state: its devices' conductance state and the digital numbers beside it."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float, Int

from device_models import DeviceState


class FastArray(eqx.Module):
    """A Tiki-Taka fast array (A) beside a layer, and the digital numbers its algorithm keeps.

    Attributes:
        devices: state of the fast array's (A+, reference) pairs, fields (2, rows, cols).
        buffer: the digital accumulator H between the fast and the slow array, in pulses of
            the slow array, (rows, cols).
        chopper: each input row's chopper sign (+1 or -1), (rows,).
        running_mean: AGAD's running mean of each fast-array read, weight units, (rows, cols).
        past_mean: AGAD's dynamic reference, the running mean when the row's chopper last
            flipped, weight units, (rows, cols).
        pointer: the next row to read.
        sweeps: full passes over the rows completed.
    """

    devices: DeviceState
    buffer: Float[Array, "rows cols"]
    chopper: Float[Array, " rows"]
    running_mean: Float[Array, "rows cols"]
    past_mean: Float[Array, "rows cols"]
    pointer: Int[Array, ""]
    sweeps: Int[Array, ""]


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
        fast: under a Tiki-Taka algorithm, the fast array the gradient accumulates on and
            its algorithm's digital numbers (`FastArray`); None otherwise.
    """

    devices: DeviceState
    scale: Float[Array, " cols"]
    bias: Float[Array, " cols"]
    drift_reference: Float[Array, ""]
    pulse_residue: Float[Array, "rows cols"] | None = None
    fast: FastArray | None = None


class ChipState(eqx.Module):
    """A chip's programmed state: one `LayerState` per analog layer."""

    layers: tuple[LayerState, ...]
