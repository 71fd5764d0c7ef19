"""What a batch actually does on a chip: each analog weight's crossbar load and input vectors,
read by meters from the same analog run the simulation makes (`_chip.meter`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._chip.meter import meter_zero
from .._model.convert import analog_call, analog_weights, map_weights


class Measured(eqx.Module):
    """Per analog weight, in `analog_weights` order, over a whole batch.

    Attributes:
        paths: the weights' paths (static).
        array_load: sum of g V^2 (in V_read^2 units) times the read-time fraction, uS
            (`array_load`); times V_read^2, the read time and 1e-6 S/uS it is joules.
        vectors: input vectors the weight's crossbars read.
    """

    paths: tuple[str, ...] = eqx.field(static=True)
    array_load: np.ndarray
    vectors: np.ndarray


def measure(chip: Any, *args: Any, t: ArrayLike, key: Array, in_axes: Any = 0) -> Measured:
    """Run `chip` (a converted model) on a batch as `analog_call(chip, *args, t=t, key=key,
    in_axes=in_axes)` does, and read each weight's meter: the outputs are the simulation's own,
    and the meters sum over every product, however the model loops, maps or reuses a weight."""
    weights = analog_weights(chip)
    meters = [meter_zero() for _ in weights]
    readings = _read_meters(chip, meters, args, jnp.asarray(t, jnp.float32), key, in_axes)
    readings = np.asarray(jnp.stack(readings), np.float64)
    return Measured(tuple(w.path for w in weights), readings[:, 0], readings[:, 1])


@eqx.filter_jit
def _read_meters(chip: Any, meters: list[Array], args: tuple, t: Array, key: Array, in_axes: Any):
    def run(meters: list[Array]) -> Any:
        metered = map_weights(lambda w, m: dataclasses.replace(w, meter=m), chip, meters)
        return analog_call(metered, *args, t=t, key=key, in_axes=in_axes)

    out, pull = jax.vjp(run, meters)
    # a zero cotangent: the meters' cotangents are their readings alone (`metered`)
    (readings,) = pull(jax.tree.map(jnp.zeros_like, out))
    return readings
