"""Reading a programmed array: the conductances a read sees, and the drift calibration read."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from device_models import fold_in

from .identity import LayerIdentity
from .spec import HardwareSpec
from .state import LayerState
from .tile import analog_mvm


def read_conductances(
    spec: HardwareSpec, layer: LayerIdentity, state: LayerState, t: ArrayLike, *, key: Array | None
) -> Float[Array, "2 rows cols"]:
    """The (G+, G-) conductances (uS) one array read sees at `t` seconds after programming."""
    return spec.device.conductance(layer.devices, state.devices, t, key=key)


def calibration_read(
    spec: HardwareSpec, layer: LayerIdentity, state: LayerState, t: ArrayLike, *, key: Array
) -> Float[Array, ""]:
    """Sum of |outputs| for a full-scale all-ones input at time `t`: the drift reference."""
    g = read_conductances(spec, layer, state, t, key=fold_in(key, 0))
    ones = jnp.ones((1, g.shape[1]), jnp.float32)
    y = analog_mvm(spec, layer, g, ones, key=fold_in(key, 1))
    return jnp.sum(jnp.abs(y))
