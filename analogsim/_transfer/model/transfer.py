"""The weight-transfer experiment for any JAX model: what chip A learned on itself, moved to
chips B1..BN by each strategy (`..transfer` runs it for the built-in networks).

Chip A starts from hardware-aware weights (the digital model trained further through fresh
chips at A's variation), written in the in-situ mapping, and then learns on itself: forward
passes through A, SGD's changes fired as pulses that A's own devices answer. What A then
holds is adapted to A. Each strategy moves it to targets drawn at the same variation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import xarray as xr

from ..._chip.spec import HardwareSpec, traced
from ..._core.progress import progress_bar
from ..._learn.algorithms import check_algorithm
from ..._learn.in_situ import check_in_situ_spec
from ..._nn.data import Dataset
from ..transfer import STRATEGIES, check_run
from .run import TEACHERS, ModelRun
from .settings import ModelTransferSettings
from .strategies import TABLE

# 4x the nominal spread is left out: there the transformer's chip A barely learns on itself
# (docs/transfer.md), so there is nothing of its own to move
MODEL_VARIATION = (0.0, 0.5, 1.0, 2.0)
DEFAULT_SCHEDULE = dict(epochs=10, batch_size=128, learning_rate=1e-3, weight_decay=0.0)


def transfer_model(
    spec: HardwareSpec,
    model: Any,
    data: Dataset,
    *,
    name: str = "model",
    chips: int = 4,
    variation: Sequence[float] = MODEL_VARIATION,
    strategies: Sequence[str] = STRATEGIES,
    seed: int = 0,
    settings: ModelTransferSettings | None = None,
    schedule: dict[str, Any] | None = None,
    trained: Any = None,
    progress: bool = False,
    **changes: Any,
) -> xr.Dataset:
    """Train chip A on itself at each variation value and move what it learned to `chips`
    target chips by each strategy.

    Args:
        spec: a pulsed hardware spec (`spec_for`); its `variation` is replaced by each value
            of `variation` (multipliers on every identity spread, 1 = nominal).
        model: an equinox model called one example at a time (untrained: it is trained
            digitally first, by `schedule`, unless `trained` is given).
        data: its task; `name`: the model's name in the attributes.
        chips: target chips per variation value.
        strategies: any of `STRATEGIES`.
        settings: `ModelTransferSettings` (its defaults when None); `**changes` replace
            fields of it (e.g. `epochs=2`).
        schedule: `fit_model`'s schedule for the digital model (AdamW; epochs, batch_size,
            learning_rate, weight_decay), default 10 epochs at 1e-3, batch 128.
        trained: the digitally trained model, to skip that training (e.g. `--weights`).
        progress: a progress bar.

    Returns:
        The built-in experiment's dataset (`source_accuracy`, `strategy_source_accuracy`,
        `target_accuracy`, `transfer_loss` and the costs over (variation, strategy, chip)),
        and: `source_start_accuracy`, `source_weight_change` and `source_pulses` of chip A
        (variation); `taught_accuracy` (variation, teacher, point, chip), the targets'
        accuracy while `distill` and `finetune` teach them, at `examples_taught` (teacher,
        point).

    Raises:
        ParameterError: a setting out of range, an unknown strategy, a spec without pulses.
        TrainingError: training on a chip went non-finite.
    """
    strategies, variation = check_run(strategies, chips, variation)
    settings = (ModelTransferSettings() if settings is None else settings).replace(**changes)
    settings.check()
    settings = settings.for_examples(data.x_train.shape[0])
    spec = traced(check_in_situ_spec(spec))
    check_algorithm(spec, settings.algorithm)
    schedule = {**DEFAULT_SCHEDULE, **(schedule or {})}
    run = ModelRun(
        spec, model, data, name=name, chips=chips, variation=variation,
        strategies=strategies, seed=seed, settings=settings, schedule=schedule, trained=trained,
    )  # fmt: skip
    steps = model_transfer_steps(variation, strategies, chips, settings)
    with progress_bar(total=steps, desc="weight transfer", unit="step", enabled=progress) as bar:
        run.bar = bar
        run.digital_model()
        bar.update(1)
        for vi in range(len(variation)):
            at = run.targets(vi)
            for i in range(chips):
                run.per_target = {}  # the last target's copy is not kept: a model is large
                for strategy in strategies:
                    TABLE[strategy].run(run, at, i)
                    if strategy not in TEACHERS:
                        bar.update(1)
    return run.dataset({"digital_epochs": schedule["epochs"]})


def model_transfer_steps(
    variation: Sequence[float],
    strategies: Sequence[str],
    chips: int,
    settings: ModelTransferSettings,
) -> int:
    """Progress steps of `transfer_model`: the digital model, then per variation value the
    hardware-aware weights, A's epochs and each target's strategies (one step, or one per
    epoch of teaching)."""
    teaching = {"distill": settings.distill_epochs, "finetune": settings.finetune_epochs}
    per_chip = sum(teaching.get(s, 1) for s in strategies)
    return 1 + len(variation) * (1 + settings.epochs + chips * per_chip)
