"""Full float32 precision for matrix products, on every backend.

XLA's default precision for a float32 product on NVIDIA GPUs from Ampere on is TF32: its
inputs are rounded to a 10-bit mantissa (relative error ~5e-4), which would add a
backend-dependent error to every crossbar read, least-squares fit and digital reference
(measured on an H200: an exact chip and its digital model differed by up to 1.5%). The
simulator's products ask for full float32 instead, so a chip reads the same on a CPU, GPU
or TPU to float32 rounding. Users' own digital layers keep the precision they choose.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array

PRECISION = jax.lax.Precision.HIGHEST


def matmul(a: Array, b: Array) -> Array:
    """`a @ b` in full float32 (`jnp.matmul` broadcasting rules)."""
    return jnp.matmul(a, b, precision=PRECISION)
