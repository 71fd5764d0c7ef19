"""Sweeps of the weight-transfer experiment: transfer loss per strategy over a parameter grid.

`transfer` already runs its variation values as one vmapped fleet; a sweep runs it once per
point of the other parameters, each point a resumable chunk. Spec numbers reach `transfer`
as traced arrays, so every point reuses the programs the first one compiled (experiment
settings that decide shapes, such as epochs or the labels budget, compile their own). The
source chip, the targets and every strategy's keys are the same at every point (the seed's):
points differ by the parameter, not by luck.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from device_models._checks import ParameterError, check_int_range

from .._chip.spec import HardwareSpec
from .._chip.sweepable import with_values
from .._core.dataset import experiment_dataset
from .._fleet.mesh import chip_mesh
from .._learn.algorithms import SGD, algorithm_attrs, check_algorithm
from .._learn.in_situ import check_in_situ_spec
from .._learn.in_situ_fleet import TrainingError
from .._nn.data import Dataset
from .._nn.networks import Network
from .._transfer.run import transfer_labels
from .._transfer.settings import TransferSettings
from .._transfer.transfer import (
    COSTS,
    STRATEGIES,
    check_strategies,
    transfer,
    transfer_steps,
)
from .chunks import run_chunks
from .grid import Grid, grid_labels, make_grid, sweep_manifest
from .store import Layout, Store, digest

# experiment settings a transfer sweep can vary: name -> whole numbers only
SETTINGS = {
    "epochs": True,
    "learning_rate": False,
    "temperature": False,
    "distill_epochs": True,
    "distill_examples": True,
    "finetune_examples": True,
    "finetune_epochs": True,
    "hardware_aware_epochs": True,
    "reads": True,
    "probes": True,
}
_RESULTS = ("source_accuracy", "strategy_source_accuracy", "target_accuracy", "transfer_loss")
_COSTS = tuple(COSTS)
# the own dims of each of transfer's results (a sweep adds the looped parameters before them)
_DIMS = {
    "source_accuracy": ("variation",),
    "strategy_source_accuracy": ("variation", "strategy"),
    **{k: ("variation", "strategy", "chip") for k in (*_RESULTS[2:], *_COSTS)},
}


def sweep_transfer(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    grid: dict[str, Sequence[float]],
    *,
    chips: int = 16,
    seed: int = 0,
    strategies: Sequence[str] = STRATEGIES,
    store: str | Path | None = None,
    progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    devices: int | None = None,
    **settings: Any,
) -> xr.Dataset:
    """The weight-transfer experiment (`transfer`) at every point of `grid`.

    Args:
        spec: a pulsed hardware spec (`spec_for`).
        net, data: the network and task.
        grid: parameter name -> values; any name of `sweepable(spec)` (`variation` becomes
            `transfer`'s own variation axis, one vmapped run), a shape-deciding setting of
            `STATIC`, or an experiment setting of `SETTINGS` (e.g. `finetune_examples`).
        chips: target chips per point.
        strategies: any of `STRATEGIES`.
        devices: each point's chips are split over this many devices (all JAX sees by
            default); the store does not depend on it; results agree as in-situ training
            allows (`_fleet.mesh`).
        settings: fixed `transfer` settings (epochs, temperature, ...) for every point.

    Returns:
        `transfer`'s dataset with one more dim per swept parameter (in `grid` order, before
        `strategy` and `chip`); without `variation` in the grid, it is a scalar coordinate
        (the spec's own). Units and provenance in attributes.

    Raises:
        ParameterError: an unknown parameter (the message lists the sweepable ones), an empty
            grid, a value out of range, or a bad setting.
        StoreMismatchError: `store` holds chunks of another sweep (left untouched).
        TrainingError: in-situ training or distillation went non-finite (names the point).
    """
    spec = check_in_situ_spec(spec)
    strategies = check_strategies(strategies)
    check_int_range("chips", chips, 1, 1 << 16)
    chip_mesh(devices)  # a bad device count is refused before the store exists
    unknown = sorted(set(settings) - set(SETTINGS) - {"algorithm"})
    if unknown:
        raise ParameterError(
            f"unknown transfer setting {unknown[0]!r}; known: {', '.join(SETTINGS)}"
        )
    g = make_grid(spec, grid, other=tuple(SETTINGS))
    for name in g.other:  # before the store exists: a bad grid leaves nothing behind
        given = g.values[name]
        if SETTINGS[name] and any(v != int(v) for v in given):
            raise ParameterError(f"{name} takes whole numbers; got {given}")
        if min(given) <= 0:
            raise ParameterError(f"{name} must be > 0; got {min(given):g}")
        if name in ("finetune_examples", "distill_examples"):
            check_int_range(name, int(max(given)), 1, data.x_train.shape[0])
    variation = g.values.get("variation", [float(spec.variation)])
    looped = [n for n in g.values if n != "variation"]
    points = list(itertools.product(*(g.values[n] for n in looped)))
    algorithm = settings.pop("algorithm", SGD)
    check_algorithm(spec, algorithm)
    fixed = {**_transfer_defaults(), **settings}
    if fixed["distill_examples"] is None:  # transfer's default: the whole training set
        fixed["distill_examples"] = int(data.x_train.shape[0])
    manifest = {
        **sweep_manifest(spec, "transfer", g, chips, seed, 1, network=net),
        "strategies": list(strategies),
        "settings": fixed,
        **algorithm_attrs(algorithm),
        "data_sha256": digest([data.x_train, data.y_train, data.x_test, data.y_test]),
    }
    layout = Layout(
        {n: g.values[n] for n in looped},
        [(i, i + 1) for i in range(len(points))],
        _DIMS,
        {"variation": variation, "strategy": list(strategies), "chip": np.arange(chips)},
        {**grid_labels(g), **transfer_labels(data.name)},
    )
    chunks = Store(store, manifest, layout)
    runs = []  # per point: its values, spec, transfer settings and progress steps
    for point in points:
        values = dict(zip(looped, point, strict=True))
        spec_settings = {n: v for n, v in values.items() if n not in SETTINGS}
        own = {n: int(v) if SETTINGS[n] else float(v) for n, v in values.items() if n in SETTINGS}
        settings_at = TransferSettings(**{**fixed, **own}, algorithm=algorithm)
        steps = transfer_steps(variation, strategies, settings_at)
        runs.append((values, with_values(spec, spec_settings), settings_at, steps))

    def compute(i: int, bar: Any) -> dict[str, np.ndarray]:
        values, point_spec, settings_at, _ = runs[i]
        try:
            ds = transfer(
                point_spec,
                net,
                data,
                chips=chips,
                variation=variation,
                strategies=strategies,
                seed=seed,
                bar=bar,
                devices=devices,
                settings=settings_at,
            )
        except TrainingError as err:
            where = ", ".join(f"{n} = {v:g}" for n, v in values.items())
            raise TrainingError(f"at {where or 'the point'}: {err}") from None
        return {k: ds[k].values[None] for k in layout.dims}  # one cell: this point

    results = run_chunks(
        layout,
        compute,
        store=chunks,
        steps=[run[3] for run in runs],
        progress=progress,
        desc="sweep transfer",
        unit="step",
        on_chunk=on_chunk,
    )
    ds = _dataset(spec, net, data, g, looped, variation, strategies, results, chips, seed, fixed)
    ds.attrs.update(algorithm_attrs(algorithm))
    return ds


def _transfer_defaults() -> dict[str, Any]:
    """`transfer`'s own defaults of `SETTINGS` (a store remembers them: a changed default
    is another sweep)."""
    defaults = TransferSettings().attrs()
    return {k: defaults[k] for k in SETTINGS}


def _dataset(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    g: Grid,
    looped: list[str],
    variation: list[float],
    strategies: tuple[str, ...],
    results: dict[str, np.ndarray],
    chips: int,
    seed: int,
    settings: dict[str, Any],
) -> xr.Dataset:
    variables = {}
    for key, value in results.items():
        dtype = np.int32 if key in _COSTS else np.float64
        variables[key] = ((*looped, *_DIMS[key]), value.astype(dtype))
    swept = list(g.values)
    labels = {**grid_labels(g), **transfer_labels(data.name)}
    ds = experiment_dataset(
        variables,
        {
            **{n: np.asarray(g.values[n], np.float64) for n in looped},
            "variation": np.asarray(variation, np.float64),
            "strategy": list(strategies),
            "chip": np.arange(chips, dtype=np.int32),
        },
        labels=labels,
        spec=spec,
        experiment="sweep",
        swept_experiment="transfer",
        swept=swept,
        network=net.name,
        dataset=data.name,
        seed=seed,
        chips=chips,
        **settings,
    )
    if "variation" not in g.values:
        ds = ds.isel(variation=0)
    return ds.transpose(*swept, ..., "strategy", "chip", missing_dims="ignore")
