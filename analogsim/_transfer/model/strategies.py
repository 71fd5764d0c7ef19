"""The transfer strategies for a converted model, by name, in the order they run and report:
each `run(run, at, i)` moves what chip A learned onto target chip i and records its accuracy
and costs through `ModelRun`. The same six as the built-in experiment's (`..strategies`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.keys import stream
from ..._learn.fit_in_situ import chip_distill_loss, chip_loss
from ..._learn.model_in_situ import without_model_fast_arrays
from ..._model.convert import analog_weights, to_analog
from ..._nn.fit_model import model_accuracy
from ..copy import verify_read_cycles
from .copy import rows_of, write_conductances, write_weights
from .run import ModelRun, ModelStrategy, ModelTargets


def conductances(run: ModelRun, at: ModelTargets, i: int) -> None:
    """Read A's conductances and write them onto target i, device by device."""
    key_b = run.keys_b[i]
    chip_b, cycles, writes = write_conductances(
        at.chip_a, at.g, at.spec, key_b=key_b, key=stream(key_b, "transfer", 0)
    )
    run.record(
        at.vi, "conductances", i, run.accuracy(chip_b, key_b), run.source[at.vi],
        read_cycles=cycles + at.g_cycles, device_writes=writes,
    )  # fmt: skip


def weights_copy(run: ModelRun, at: ModelTargets, i: int) -> tuple[Any, int, int]:
    """Target i written to match A's probed effective weights (chip, read cycles, writes),
    computed once for the strategies that start there (`run.per_target`, which
    `transfer_model` empties for the next target)."""
    if "weights" not in run.per_target:
        key_b = run.keys_b[i]
        chip_b, cycles, writes = write_weights(
            at.chip_a, at.w, at.spec, key_b=key_b, key=stream(key_b, "transfer", 1),
            probes=run.settings.probes,
        )  # fmt: skip
        run.per_target["weights"] = (chip_b, int(cycles) + int(at.w_cycles), int(writes))
    return run.per_target["weights"]


def copy_accuracy(run: ModelRun, at: ModelTargets, i: int) -> float:
    """Target i's accuracy right after the `weights` copy, measured once: the `weights`
    strategy's result and the start of both teaching curves (the same chip and reads)."""
    if "weights accuracy" not in run.per_target:
        chip_b = weights_copy(run, at, i)[0]
        run.per_target["weights accuracy"] = run.accuracy(chip_b, run.keys_b[i])
    return run.per_target["weights accuracy"]


def weights(run: ModelRun, at: ModelTargets, i: int) -> None:
    """Probe A's effective weights through its read-out and program target i to match them
    through its own."""
    _, cycles, writes = weights_copy(run, at, i)
    run.record(
        at.vi, "weights", i, copy_accuracy(run, at, i), run.source[at.vi],
        read_cycles=cycles, device_writes=writes,
    )  # fmt: skip


def _teach(
    run: ModelRun,
    at: ModelTargets,
    i: int,
    name: str,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    index: int,
    loss: Any = chip_loss,
) -> tuple[float, dict[str, int]]:
    """Target i, from the `weights` copy, taught on `x`, `y` in situ (its updates from
    `stream(key_b, "transfer", index)`): its curve recorded; (its accuracy at the end, its
    costs)."""
    key_b = run.keys_b[i]
    chip_b, cycles, writes = weights_copy(run, at, i)
    # a Tiki-Taka algorithm teaches through the target's own fast arrays, drawn at its
    # variation (the copy's weights carry the targets' spec)
    start = run.with_fast_arrays(chip_b, key_b)
    batch = min(batch_size, len(x))
    total = epochs * (len(x) // batch) * batch
    taught = run.teach(
        start, x, y, loss=loss, key=stream(key_b, "transfer", index), epochs=epochs,
        batch_size=batch, checkpoints=checkpoints(total, batch, run.settings.curve_points),
        evaluate=lambda chip: (
            copy_accuracy(run, at, i)
            if chip is start
            else run.accuracy(without_model_fast_arrays(chip), key_b)
        ),
        desc=f"{name}, chip {i + 1}",
    )  # fmt: skip
    run.record_curve(at.vi, name, i, taught.curve)
    # the student's forward and backward passes read its arrays once each per example
    reads = 2 * taught.examples * run.read_cycles_per_example(chip_b)
    costs = dict(
        read_cycles=cycles + reads, device_writes=writes, update_pulses=taught.pulses,
        examples=taught.examples,
    )  # fmt: skip
    return taught.curve[-1][1], costs  # the last checkpoint is the end of teaching


def distill(run: ModelRun, at: ModelTargets, i: int) -> None:
    """Target i learns in situ from A's soft outputs (no labels), from the `weights` copy."""
    s = run.settings
    x = run.data.x_train[: s.distill_examples]
    loss = jax.tree_util.Partial(chip_distill_loss, temperature=jnp.float32(s.temperature))
    accuracy, costs = _teach(
        run, at, i, "distill", x, np.asarray(at.soft), loss=loss, epochs=s.distill_epochs,
        batch_size=s.distill_batch_size, index=2,
    )  # fmt: skip
    # the teacher's outputs: each input once through A
    costs["read_cycles"] += len(x) * run.read_cycles_per_example(at.chip_a)
    run.record(at.vi, "distill", i, accuracy, run.source[at.vi], **costs)


def finetune(run: ModelRun, at: ModelTargets, i: int) -> None:
    """The `weights` copy, then in-situ training of target i on a small labelled budget."""
    s = run.settings
    pick = run.finetune_pick
    accuracy, costs = _teach(
        run, at, i, "finetune", run.data.x_train[pick], run.data.y_train[pick],
        epochs=s.finetune_epochs, batch_size=s.batch_size, index=3,
    )  # fmt: skip
    run.record(at.vi, "finetune", i, accuracy, run.source[at.vi], labels=len(pick), **costs)


def hardware_aware(run: ModelRun, at: ModelTargets, i: int) -> None:
    """The hardware-aware weights for this variation, programmed (the preset's published
    procedure) onto A and onto target i."""
    key = ("hardware-aware", at.vi)
    if key not in run.memo:
        chip_a = to_analog(at.hardware_aware, at.deploy, key=run.key_a, method="published")
        run.memo[key] = run.accuracy(chip_a, run.key_a)
    chip_b = to_analog(at.hardware_aware, at.deploy, key=run.keys_b[i], method="published")
    ws = analog_weights(chip_b)
    # the published procedure counts one write per device (`program_chip_counted`)
    writes = sum(2 * int(np.prod(w.weight_shape)) for w in ws)
    cycles = sum(verify_read_cycles(rows_of(w)) for w in ws)
    run.record(
        at.vi, "hardware-aware", i, run.accuracy(chip_b, run.keys_b[i]), run.memo[key],
        read_cycles=cycles, device_writes=writes,
    )  # fmt: skip


def digital(run: ModelRun, at: ModelTargets, i: int) -> None:
    """The control: the digital model's float weights copied bit for bit to a replica; the
    transfer loss is exactly 0 (asserted)."""
    if "digital" not in run.memo:
        model = run.digital_model()
        source = float(model_accuracy(model, run.x_test, run.y_test))
        run.memo["digital"] = (model, source)
    model, source = run.memo["digital"]
    replica = jax.tree.map(lambda a: np.copy(a) if isinstance(a, np.ndarray | jax.Array) else a,
                           model)  # fmt: skip
    for a, b in zip(jax.tree.leaves(model), jax.tree.leaves(replica), strict=True):
        if hasattr(a, "shape") and not np.array_equal(a, b):
            raise AssertionError("a digital replica differs from its source")
    accuracy = float(model_accuracy(replica, run.x_test, run.y_test))
    if accuracy != source:
        raise AssertionError(f"a digital replica reads {accuracy}, its source {source}")
    run.record(at.vi, "digital", i, accuracy, source)


def checkpoints(total: int, batch: int, points: int) -> list[int]:
    """`points` measurement points over `total` examples taught in batches of `batch`: the
    start, then log-spaced whole batches up to the end (repeated where batches are few)."""
    if points == 1:
        return [total]
    steps = np.geomspace(1, total // batch, points - 1)
    return [0, *(int(np.ceil(s)) * batch for s in steps)]


TABLE: dict[str, ModelStrategy] = {
    "conductances": ModelStrategy(conductances),
    "weights": ModelStrategy(weights),
    "distill": ModelStrategy(distill),
    "finetune": ModelStrategy(finetune),
    "hardware-aware": ModelStrategy(hardware_aware),
    "digital": ModelStrategy(digital),
}
