"""`fit_model_in_situ`: a converted model trained on its own chip over a dataset, SGD's change
fired as pulses (straight at the weights, or through Tiki-Taka fast arrays), one compiled step
in a Python loop (as `fit_model` runs, and for its reason)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike

from device_models import fold_in
from device_models._checks import ParameterError, check_int_range, check_nonnegative, check_range

from .._core.keys import stream
from .._core.progress import progress_bar
from .._model.convert import analog_call
from .._nn.data import Dataset
from .._nn.digital import cross_entropy
from .algorithms import SGD, Algorithm
from .distill import distill_loss
from .in_situ_fleet import TrainingError
from .model_in_situ import model_in_situ_step, model_weights


def chip_loss(chip: Any, x: Array, y: Array, key: Array, t: Array) -> Array:
    """Cross-entropy of converted model `chip` on a batch, called one example at a time and
    read `t` seconds after programming with `key`."""
    return cross_entropy(analog_call(chip, x, t=t, key=key, in_axes=0), y)


def chip_distill_loss(
    chip: Any, x: Array, targets: Array, key: Array, t: Array, *, temperature: Array
) -> Array:
    """`distill_loss` of converted model `chip`'s outputs on a batch to a teacher's soft
    `targets` (batch, classes) at `temperature`; bind it with `Partial(chip_distill_loss,
    temperature=T)` to teach with it."""
    logits = analog_call(chip, x, t=t, key=key, in_axes=0)
    return distill_loss(logits, targets, temperature)


class Taught(NamedTuple):
    """What `teach_in_situ` returns: the chip, mean loss of each epoch (epochs,), pulses
    fired (a 64-bit Python int), seconds per epoch after the first, examples taught, and the
    measured curve [(examples taught, `evaluate(chip)`), ...] at the checkpoints."""

    chip: Any
    losses: np.ndarray
    pulses: int
    seconds_per_epoch: float
    examples: int
    curve: list[tuple[int, float]]


@eqx.filter_jit
def _step(
    chip: Any,
    opt_state: optax.OptState,
    x: Array,
    y: Array,
    key: Array,
    step: Array,
    t: Array,
    learning_rate: Array,
    loss: Callable[..., Array],
    max_pulses: int,
    algorithm: Algorithm,
) -> tuple[Any, optax.OptState, Array, Array]:
    # built here, so the rate is traced and every chip shares one compiled step
    opt = optax.sgd(learning_rate)
    # the step's key derived here: outside, its three fold_ins were three dispatches a step
    key = stream(key, "train", 2, step)
    return model_in_situ_step(
        loss, chip, opt, opt_state, x, y, fold_in(key, 0), t, key=fold_in(key, 1),
        max_pulses=max_pulses, algorithm=algorithm, batch=x.shape[0],
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
    algorithm: Algorithm = SGD,
    progress: bool = False,
    desc: str = "in-situ training",
) -> tuple[Any, np.ndarray, int, float]:
    """Train converted model `chip` (`to_analog(..., method="in-situ")`) on its chip over
    `data`'s training set: plain SGD at `learning_rate` (weight units), each step's forward
    through the chip read `t` s after programming, its change fired as pulses by
    `algorithm` (`model_in_situ_step`; a Tiki-Taka one needs `with_model_fast_arrays`);
    digital numbers (biases, norms) take SGD's change exactly.

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
    taught = teach_in_situ(
        chip, data.x_train, data.y_train, key=key, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, t=t, max_pulses=max_pulses, algorithm=algorithm,
        progress=progress, desc=desc,
    )  # fmt: skip
    return taught.chip, taught.losses, taught.pulses, taught.seconds_per_epoch


def teach_in_situ(
    chip: Any,
    x: Any,
    y: Any,
    *,
    key: Array,
    epochs: int,
    loss: Callable[..., Array] = chip_loss,
    batch_size: int = 16,
    learning_rate: ArrayLike = 0.05,
    t: ArrayLike = 1.0,
    max_pulses: int = 31,
    algorithm: Algorithm = SGD,
    progress: bool = False,
    desc: str = "in-situ training",
    on_epoch: Callable[[], None] | None = None,
    checkpoints: Sequence[int] = (),
    evaluate: Callable[[Any], float] | None = None,
) -> Taught:
    """`fit_model_in_situ` on examples `x` and targets `y` (labels, or a teacher's soft
    targets) with any `loss(chip, x, y, key, t)` (`chip_loss`, a bound `chip_distill_loss`;
    a `Partial` or a module-level function, so that the compiled step is shared).

    Args:
        on_epoch: called after each epoch (an outer progress bar).
        checkpoints: examples taught (counted in whole batches) after which to call
            `evaluate(chip)`; 0 measures the start. The curve has one entry per checkpoint,
            measured at the first step that reaches it (a checkpoint past the examples
            taught is left out).
    """
    check_int_range("epochs", epochs, 1, 1_000_000)
    check_int_range("batch_size", batch_size, 1, 1 << 20)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    check_nonnegative("t", t, unit="s")
    x, y = np.asarray(x), np.asarray(y)
    batch_size = min(batch_size, x.shape[0])
    steps = x.shape[0] // batch_size
    rate = jnp.float32(learning_rate)
    opt_state = optax.sgd(rate).init(model_weights(chip))
    t = jnp.float32(t)
    pending = sorted(int(c) for c in checkpoints)
    curve: list[tuple[int, float]] = []

    def measure(examples: int) -> None:
        value = float(evaluate(chip))  # type: ignore[misc]
        while pending and pending[0] <= examples:
            curve.append((examples, value))
            pending.pop(0)

    if pending and evaluate is None:
        raise ParameterError("teach_in_situ: checkpoints need an evaluate function")
    if pending and pending[0] <= 0:
        measure(0)
    losses, pulses, seconds, examples = [], 0, [], 0
    with progress_bar(total=epochs, desc=desc, unit="epoch", enabled=progress) as bar:
        for e in range(epochs):
            start = time.perf_counter()
            order = np.asarray(jax.random.permutation(stream(key, "train", 1, e), x.shape[0]))
            epoch_loss, epoch_pulses = [], []
            for j in range(steps):
                idx = order[j * batch_size : (j + 1) * batch_size]
                step = np.uint32(e * steps + j)
                chip, opt_state, value, fired = _step(
                    chip, opt_state, x[idx], y[idx], key, step, t, rate, loss, max_pulses,
                    algorithm,
                )  # fmt: skip
                epoch_loss.append(value)
                epoch_pulses.append(fired)
                examples += batch_size
                if pending and pending[0] <= examples:
                    measure(examples)
            # summed here in 64 bits: a large model fires more than int32 holds in a run
            pulses += int(np.sum(np.asarray(jnp.stack(epoch_pulses)), dtype=np.int64))
            mean = float(jnp.mean(jnp.stack(epoch_loss)))
            if not np.isfinite(mean):
                raise TrainingError(f"{desc}: the loss of epoch {e + 1} is {mean}")
            losses.append(mean)
            seconds.append(time.perf_counter() - start)
            bar.update(1)
            bar.set_postfix(loss=f"{mean:.3f}")
            if on_epoch is not None:
                on_epoch()
    per_epoch = float(np.median(seconds[1:])) if epochs > 1 else seconds[0]
    return Taught(chip, np.asarray(losses), pulses, per_epoch, examples, curve)
