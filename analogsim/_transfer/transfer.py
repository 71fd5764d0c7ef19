"""The weight-transfer experiment: what chip A learned, moved to chips B1..BN by each strategy.

A learns in situ; its knowledge is then moved by measurement (`conductances`, `weights`), by
teaching (`distill`, `finetune`), or the network is trained off-chip for any chip
(`hardware-aware`); the `digital` control copies float weights bit for bit. Every target
accuracy comes out of the chip model; nothing here assumes a loss.

Keys (all from `root_key(seed)`): A is `stream(root, "source")`; target i is
`chip_key(stream(root, "target"), i)` at every variation value (the same silicon with its
spreads scaled, which makes the curves over variation smooth); each strategy's writes,
updates and shuffles take their own `"transfer"` sub-stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import xarray as xr

from device_models._checks import ParameterError, check_int_range, check_range

from .._chip.presets import hardware_table
from .._chip.spec import HardwareSpec, traced
from .._core.progress import progress_bar
from .._fleet.mesh import chip_mesh
from .._learn.algorithms import check_algorithm
from .._learn.in_situ import check_in_situ_spec
from .._learn.saved_state import SavedChip
from .._nn.data import Dataset
from .._nn.networks import Network
from .run import COSTS as COSTS
from .run import Run
from .settings import TransferSettings
from .strategies import TABLE

STRATEGIES = tuple(TABLE)  # the built-in strategies, in the order they run and report
DEFAULT_VARIATION = (0.0, 0.5, 1.0, 2.0, 4.0)


def check_strategies(strategies: Sequence[str]) -> tuple[str, ...]:
    """The strategies, validated (unknown names raise, listing the valid ones)."""
    strategies = tuple(strategies)
    unknown = [s for s in strategies if s not in TABLE]
    if unknown or not strategies:
        raise ParameterError(
            f"unknown strategy {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid: {', '.join(TABLE)}"
        )
    return tuple(dict.fromkeys(strategies))


def check_run(
    strategies: Sequence[str], chips: int, variation: Sequence[float]
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """A transfer run's strategies and variation values, validated (`ParameterError` names
    the first one out of range); `chips` must be 1..65536."""
    strategies = check_strategies(strategies)
    check_int_range("chips", chips, 1, 1 << 16)
    variation = tuple(float(v) for v in variation)
    if not variation:
        raise ParameterError("variation needs at least one value")
    for v in variation:
        check_range("variation", v, 0.0)
    return strategies, variation


def transfer(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    *,
    chips: int = 32,
    variation: Sequence[float] = DEFAULT_VARIATION,
    strategies: Sequence[str] = STRATEGIES,
    seed: int = 0,
    settings: TransferSettings | None = None,
    progress: bool = False,
    bar: Any = None,
    devices: int | None = None,
    source: SavedChip | None = None,
    **changes: Any,
) -> xr.Dataset:
    """Train a source chip in situ at each variation value and move what it learned to
    `chips` target chips by each strategy.

    Args:
        spec: a pulsed hardware spec (`spec_for`); its own `variation` is replaced by each
            value of `variation` (multipliers on every identity spread, 1 = nominal).
        net, data: the network and task.
        chips: target chips per variation value.
        strategies: any of `STRATEGIES`.
        settings: how the source is trained and each strategy runs (`TransferSettings`;
            its defaults when None).
        progress: show a progress bar; `bar`, when given, is an open bar (a sweep's) that
            the run advances by `transfer_steps(...)` instead.
        devices: the source fleet (one chip per variation value) and the target chips are
            split over this many devices (all JAX sees by default; `chip_mesh`).
        source: a saved chip (`load_chip`) to move what it learned, in place of training
            chip A in situ: the same chip at every variation value (only the targets' spreads
            scale); its spec and network must be `spec`'s and `net`'s.
        **changes: any field of `TransferSettings` (e.g. `epochs=2`), replacing the value in
            `settings`.

    Returns:
        Dataset with `source_accuracy` (variation); `strategy_source_accuracy` (variation,
        strategy), the accuracy of the chip each strategy copies from (A trained in situ;
        A programmed with the hardware-aware weights; the digital network); `target_accuracy`
        and `transfer_loss` = strategy source - target (variation, strategy, chip); the cost
        variables of `COSTS` (variation, strategy, chip); provenance attributes.

    Raises:
        ParameterError: a setting out of range or an unknown strategy.
        TrainingError: in-situ training or distillation went non-finite.
    """
    strategies, variation = check_run(strategies, chips, variation)
    settings = (TransferSettings() if settings is None else settings).replace(**changes)
    settings.check()
    spec = check_in_situ_spec(spec)
    check_algorithm(spec, settings.algorithm)
    if source is not None:
        check_source(source, spec, net)
    spec = traced(spec)
    data = data.for_network(net)
    settings = settings.for_examples(data.x_train.shape[0])

    run = Run(spec, net, data, chips, variation, strategies, seed, settings, chip_mesh(devices))
    if bar is not None:
        return _run(run, source, bar)
    steps = transfer_steps(variation, strategies, settings)
    with progress_bar(total=steps, desc="weight transfer", unit="step", enabled=progress) as own:
        return _run(run, source, own)


def transfer_steps(
    variation: Sequence[float], strategies: Sequence[str], settings: TransferSettings
) -> int:
    """The progress steps of one `transfer` run: the source's epochs, then per variation
    value each strategy's steps (one, or one per epoch for those that train)."""
    per_value = sum(TABLE[name].steps(settings) for name in strategies)
    return settings.epochs + len(variation) * per_value


def _run(run: Run, source: SavedChip | None, bar: Any) -> xr.Dataset:
    """The experiment: source chips, then every strategy at each variation value in turn."""
    run.bar = bar
    if source is None:
        run.train_sources()
    else:
        run.load_source(source)
    for vi in range(len(run.variation)):
        at = run.targets(vi)
        for name in run.strategies:
            TABLE[name].run(run, at)
    return run.dataset()


def check_source(source: SavedChip, spec: HardwareSpec, net: Network) -> None:
    """Raise `ParameterError` unless the saved chip was made for this spec and network."""
    mine, theirs = hardware_table(spec), hardware_table(source.spec)
    if mine != theirs:
        raise ParameterError(
            f"the source chip was made for hardware {theirs}, not {mine}; transfer it with "
            "its own spec (the command line does)"
        )
    if net.shapes != source.net.shapes:
        raise ParameterError(
            f"the source chip holds a network of layers {source.net.shapes}, not {net.shapes}"
        )
