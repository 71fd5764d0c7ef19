"""Digital training (optax) of a user's JAX model: an equinox module called one example at a
time, `model(x) -> logits (classes,)`, as equinox's own layers are."""

from __future__ import annotations

import functools
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
    x = jnp.asarray(x)
    return jnp.concatenate(
        [_logits(model, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )


# a Python loop of one compiled batch: a convolution runs slowly inside an XLA loop (`_step`)
@eqx.filter_jit
def _logits(model: Any, x: Array) -> Array:
    return jax.vmap(model)(x)


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
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    batch_size = min(batch_size, x.shape[0])
    steps = x.shape[0] // batch_size
    total = steps * epochs
    optimizer = _optimizer(float(learning_rate), float(weight_decay), total)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    if not jax.tree.leaves(params):
        raise ParameterError("fit_model: the model has no float arrays to train")
    state = optimizer.init(params)
    losses = []
    with progress_bar(total=epochs, desc=desc, unit="epoch", enabled=progress) as bar:
        for e in range(epochs):
            order = np.asarray(jax.random.permutation(stream(key, "train", 1, e), x.shape[0]))
            epoch_loss = []
            for j in range(steps):
                idx = order[j * batch_size : (j + 1) * batch_size]
                step = np.uint32(e * steps + j)
                # optax's step counts are int32 mixed with floats, which strict promotion
                # refuses
                with jax.numpy_dtype_promotion("standard"):
                    params, state, loss = _step(
                        params, state, static, loss_fn, optimizer, x[idx], y[idx], key, step
                    )
                epoch_loss.append(loss)
            losses.append(float(jnp.mean(jnp.stack(epoch_loss))))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            bar.update(1)
    return eqx.combine(params, static), np.asarray(losses)


# Cached: the compiled step takes the optimizer as static, compared by identity, so every
# call with the same schedule (hardware-aware training at each point of a sweep) reuses one
# compiled step instead of compiling again (40 s for the shipped transformer).
@functools.lru_cache(maxsize=32)
def _optimizer(
    learning_rate: float, weight_decay: float, total: int
) -> optax.GradientTransformation:
    """AdamW with clipping, warmed up over the first 5% of `total` steps, cosine-decayed to 0."""
    if total < 2:  # optax's cosine schedule needs a step after its warm-up
        schedule: optax.Schedule = optax.constant_schedule(learning_rate)
    else:
        schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, total // 20, total)
    return optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=weight_decay)
    )


# One jitted step in a Python loop, not the epoch as a `lax.scan`: XLA on CPU runs a
# convolution inside a loop 6-10x slower than outside one (jax-ml/jax#12868), which made a
# ResNet's epoch 31 s instead of 5.
# The step's key is derived inside: outside, its three fold_ins were three more dispatches
# per step.
@eqx.filter_jit
def _step(params, state, static, loss_fn, optimizer, x, y, key, step):
    step_key = stream(key, "train", 2, step)
    loss = lambda p: loss_fn(eqx.combine(p, static), x, y, step_key)
    value, grads = jax.value_and_grad(loss)(params)
    updates, state = optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state, value
