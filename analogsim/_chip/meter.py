"""A meter: what a product deep inside a model measured (the crossbar's load, the vectors it
read), brought out of the pure function that computed it.

A model's own code calls its products and returns only its outputs. A meter is a leaf the
product holds, `meter_zero()`, that `metered(y, meter, reading)` ties to its output: the
value is `y` unchanged, and the cotangent of the meter is `reading`, whatever reaches `y`
from above. So `jax.vjp(run, meters)` with a zero cotangent returns, for every meter, the
sum of what its products read across every call: under `vmap`, `scan`, a weight used twice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

# what one meter reads: the array load (uS, `array_load`) and the input vectors
READINGS = ("array_load", "vectors")


def meter_zero() -> Float[Array, "2"]:
    """A fresh meter: one number per reading of `READINGS`."""
    return jnp.zeros(len(READINGS), jnp.float32)


@jax.custom_vjp
def metered(y: Array, meter: Array, reading: Array) -> Array:
    """`y`, with `reading` (shaped like `meter`) recorded on `meter`."""
    return y


def _fwd(y: Array, meter: Array, reading: Array) -> tuple[Array, Array]:
    return y, reading


def _bwd(reading: Array, ct: Array) -> tuple[Array, Array, Array]:
    # the reading is the meter's cotangent whatever comes from above; nothing flows back
    # into what computed it
    return ct, reading, jnp.zeros_like(reading)


metered.defvjp(_fwd, _bwd)
