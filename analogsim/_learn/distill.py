"""Knowledge distillation: a student learns a teacher's output distribution, not labels.

Hinton, Vinyals & Dean, "Distilling the knowledge in a neural network" (2015): soft targets
softmax(z_teacher / T) carry how the teacher ranks every class, not only its top guess; the
student minimizes the cross-entropy to them at the same temperature T, scaled by T^2 so the
gradient size does not shrink as T grows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def soft_targets(
    logits: Float[Array, "batch classes"], temperature: ArrayLike
) -> Float[Array, "batch classes"]:
    """The teacher's output distribution at `temperature`: softmax(logits / T)."""
    return jax.nn.softmax(logits / temperature, axis=-1)


def distill_loss(
    logits: Float[Array, "batch classes"],
    targets: Float[Array, "batch classes"],
    temperature: ArrayLike = 2.0,
) -> Float[Array, ""]:
    """T^2 times the mean cross-entropy of the student's softmax(logits / T) to `targets`."""
    log_p = jax.nn.log_softmax(logits / temperature, axis=-1)
    return temperature**2 * jnp.mean(-jnp.sum(targets * log_p, axis=-1))
