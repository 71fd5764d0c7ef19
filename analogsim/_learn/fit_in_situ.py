"""`fit_model_in_situ`: a converted model trained on its own chip over a dataset, SGD fired
as pulses, one compiled step in a Python loop (as `fit_model` runs, and for its reason)."""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike

from device_models import fold_in
from device_models._checks import check_int_range, check_nonnegative, check_range

from .._core.keys import stream
from .._core.progress import progress_bar
from .._model.convert import analog_call
from .._nn.data import Dataset
from .._nn.digital import cross_entropy
from .in_situ_fleet import TrainingError
from .model_in_situ import model_in_situ_step, model_weights


def chip_loss(chip: Any, x: Array, y: Array, key: Array, t: Array) -> Array:
    """Cross-entropy of converted model `chip` on a batch, called one example at a time and
    read `t` seconds after programming with `key`."""
    return cross_entropy(analog_call(chip, x, t=t, key=key, in_axes=0), y)


@eqx.filter_jit
def _step(
    chip: Any,
    opt_state: optax.OptState,
    x: Array,
    y: Array,
    key: Array,
    t: Array,
    learning_rate: Array,
    max_pulses: int,
) -> tuple[Any, optax.OptState, Array, Array]:
    # built here, so the rate is traced and every chip shares one compiled step
    opt = optax.sgd(learning_rate)
    return model_in_situ_step(
        chip_loss, chip, opt, opt_state, x, y, fold_in(key, 0), t, key=fold_in(key, 1),
        max_pulses=max_pulses,
    )  # fmt: skip


def fit_model_in_situ(
    chip: Any,
    data: Dataset,
    *,
    key: Array,
    epochs: int,
    batch_size: int = 16,
    learning_rate: ArrayLike = 0.05,
    t: ArrayLike = 1.0,
    max_pulses: int = 31,
    progress: bool = False,
    desc: str = "in-situ training",
) -> tuple[Any, np.ndarray, int, float]:
    """Train converted model `chip` (`to_analog(..., method="in-situ")`) on its chip over
    `data`'s training set: plain SGD at `learning_rate` (weight units), each step's forward
    through the chip read `t` s after programming, its change fired as pulses
    (`model_in_situ_step`); digital numbers (biases, norms) take SGD's change exactly.

    Args:
        key: epoch e's shuffle is `stream(key, "train", 1, e)`; step s reads with
            `fold_in(stream(key, "train", 2, s), 0)` and fires with `fold_in(..., 1)`.
        epochs, batch_size: the schedule; one compiled step, so any epoch count compiles once.
        max_pulses: the most pulses one device takes per step.
        progress: a progress bar over epochs, with the last epoch's loss.

    Returns:
        (the trained chip, mean loss of each epoch (epochs,), pulses fired, seconds per
        epoch after the first).

    Raises:
        TrainingError: an epoch's loss was not finite (names the epoch).
    """
    check_int_range("epochs", epochs, 1, 1_000_000)
    check_int_range("batch_size", batch_size, 1, 1 << 20)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    check_nonnegative("t", t, unit="s")
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    batch_size = min(batch_size, x.shape[0])
    steps = x.shape[0] // batch_size
    rate = jnp.float32(learning_rate)
    opt_state = optax.sgd(rate).init(model_weights(chip))
    t = jnp.float32(t)
    losses, pulses, seconds = [], 0, []
    with progress_bar(total=epochs, desc=desc, unit="epoch", enabled=progress) as bar:
        for e in range(epochs):
            start = time.perf_counter()
            order = np.asarray(jax.random.permutation(stream(key, "train", 1, e), x.shape[0]))
            epoch_loss, epoch_pulses = [], []
            for j in range(steps):
                idx = order[j * batch_size : (j + 1) * batch_size]
                k = stream(key, "train", 2, e * steps + j)
                chip, opt_state, value, fired = _step(
                    chip, opt_state, x[idx], y[idx], k, t, rate, max_pulses
                )
                epoch_loss.append(value)
                epoch_pulses.append(fired)
            # summed here in 64 bits: a large model fires more than int32 holds in a run
            pulses += int(np.sum(np.asarray(jnp.stack(epoch_pulses)), dtype=np.int64))
            mean = float(jnp.mean(jnp.stack(epoch_loss)))
            if not np.isfinite(mean):
                raise TrainingError(f"in-situ training: the loss of epoch {e + 1} is {mean}")
            losses.append(mean)
            seconds.append(time.perf_counter() - start)
            bar.update(1)
            bar.set_postfix(loss=f"{mean:.3f}")
    per_epoch = float(np.median(seconds[1:])) if epochs > 1 else seconds[0]
    return chip, np.asarray(losses), pulses, per_epoch
