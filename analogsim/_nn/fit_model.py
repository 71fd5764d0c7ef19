"""Digital training (optax) of a user's JAX model: an equinox module called one example at a
time, `model(x) -> logits (classes,)`, as equinox's own layers are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from device_models._checks import ParameterError, check_int_range, check_range

from .._core.keys import stream
from .._core.progress import progress_bar
from .data import Dataset
from .digital import accuracy, cross_entropy

# loss(model, x_batch, y_batch, step_key) -> scalar
ModelLoss = Callable[[Any, Array, Array, Array], Array]


def model_logits(model: Any, x: Array, *, batch_size: int = 512) -> Array:
    """`model` run digitally on every example of `x` (vmapped, `batch_size` at a time, so a
    large test set does not hold every activation at once): (n, classes)."""
    return _logits(model, jnp.asarray(x), batch_size=min(batch_size, len(x)))


@eqx.filter_jit
def _logits(model: Any, x: Array, *, batch_size: int) -> Array:
    n = x.shape[0]
    whole = n // batch_size * batch_size
    run = jax.vmap(model)
    head = jax.lax.map(run, x[:whole].reshape(-1, batch_size, *x.shape[1:]))
    head = head.reshape(whole, *head.shape[2:])
    return head if whole == n else jnp.concatenate([head, run(x[whole:])])


def model_accuracy(model: Any, x: Array, y: Array) -> float:
    """Digital accuracy of `model` on examples `x`, labels `y`."""
    return float(accuracy(model_logits(model, x), jnp.asarray(y)))


def digital_model_loss(model: Any, x: Array, y: Array, key: Array) -> Array:
    """Cross-entropy of the digital model on a batch (`key` unused; `fit_model`'s signature)."""
    return cross_entropy(jax.vmap(model)(x), y)


def fit_model(
    model: Any,
    data: Dataset,
    loss_fn: ModelLoss = digital_model_loss,
    *,
    key: Array,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    progress: bool = False,
    desc: str = "train",
) -> tuple[Any, np.ndarray]:
    """Minimize `loss_fn(model, x_batch, y_batch, step_key)` over `data`'s training set with
    AdamW (`learning_rate` warmed up over the first 5% of steps, then cosine-decayed to 0).

    Args:
        model: an equinox module (its float arrays are trained; everything else is kept).
        data: the task; `x_train` shaped as the model takes one example (see
            `Dataset.input_shape`).
        loss_fn: the loss of a batch (`digital_model_loss`, or an analog one for
            hardware-aware training); a module-level function, or a `jax.tree_util.Partial`
            of one, so its arrays are traced and the program compiles once.
        key: the shuffle of epoch e is `stream(key, "train", 1, e)`, step s's key
            `stream(key, "train", 2, s)`.
        epochs, batch_size, learning_rate, weight_decay: AdamW's schedule.
        progress: a progress bar over epochs, with the last epoch's loss.

    Returns:
        The trained model and the mean loss of each epoch, shape (epochs,).
    """
    check_int_range("epochs", epochs, 1, 1_000_000)
    check_int_range("batch_size", batch_size, 1, 1 << 20)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    check_range("weight_decay", weight_decay, 0.0)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    batch_size = min(batch_size, x.shape[0])
    steps = x.shape[0] // batch_size
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, max(1, steps * epochs // 20), steps * epochs
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=weight_decay)
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    if not jax.tree.leaves(params):
        raise ParameterError("fit_model: the model has no float arrays to train")
    state = optimizer.init(params)
    losses = []
    with progress_bar(total=epochs, desc=desc, unit="epoch", enabled=progress) as bar:
        for e in range(epochs):
            # optax's step counts are int32 mixed with floats, which strict promotion refuses
            with jax.numpy_dtype_promotion("standard"):
                params, state, loss = _epoch(
                    params,
                    state,
                    static,
                    loss_fn,
                    optimizer,
                    x,
                    y,
                    key,
                    jnp.uint32(e),
                    batch_size=batch_size,
                )
            losses.append(float(loss))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            bar.update(1)
    return eqx.combine(params, static), np.asarray(losses)


@eqx.filter_jit
def _epoch(params, state, static, loss_fn, optimizer, x, y, key, e, *, batch_size: int):
    """One epoch (a `scan` over its steps); compiled once, whatever the epoch number."""
    steps = x.shape[0] // batch_size
    perm = jax.random.permutation(stream(key, "train", 1, e), x.shape[0])
    perm = perm[: steps * batch_size].reshape(steps, batch_size)

    def step(carry, inputs):
        p, s = carry
        j, idx = inputs
        k = stream(key, "train", 2, e * steps + j)
        loss = lambda p: loss_fn(eqx.combine(p, static), x[idx], y[idx], k)
        value, grads = jax.value_and_grad(loss)(p)
        updates, s = optimizer.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), value

    (params, state), losses = jax.lax.scan(
        step, (params, state), (jnp.arange(steps, dtype=jnp.uint32), perm)
    )
    return params, state, losses.mean()
