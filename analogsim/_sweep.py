"""Sweeps: a grid of parameter values x a fleet of chips, in memory-bounded, resumable chunks.

A sweep of `simulate` runs every (grid point, chip) pair through one compiled program:
the traced parameters (`_sweep_params.sweepable`) are `vmap`ped together with the chip
index, so the whole grid compiles once; shape-deciding settings (`STATIC`) loop in Python.
Chip i is `chip_key(root_key(seed), i)` at every grid point (common random numbers), so
neighbouring points differ by the parameter, not by luck.

With a store folder, every finished chunk is written there as it completes, next to a
manifest of everything that decides the numbers. Rerunning the same sweep skips finished
chunks and gives the dataset an uninterrupted run gives; a store written by another sweep
is refused, and left as it is.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array

from device_models._checks import ParameterError, check_int_range

from ._data import Dataset
from ._fleet import chip_accuracy
from ._keys import root_key
from ._networks import Network, apply_digital
from ._program import ProgramMethod
from ._progress import progress_bar
from ._provenance import describe, provenance_attrs
from ._spec import HardwareSpec, traced
from ._sweep_params import STATIC, check_params, check_values, units, with_params, with_static
from ._sweep_store import Store, digest
from ._train_digital import accuracy
from ._version import __version__

MEMORY_BUDGET_BYTES = 2 << 30  # per compiled call; chunks are sized to stay under it


def parse_values(text: str) -> list[float]:
    """`a,b,c` (the values) or `start:stop:count` (`count` evenly spaced values, both ends
    included)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ValueError
            values = np.linspace(start, stop, count).tolist()
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(
            f"malformed values {text!r}: use a,b,c or start:stop:count (count >= 1)"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"malformed values {text!r}: need at least one finite number")
    return values


@dataclasses.dataclass(frozen=True)
class Grid:
    """A validated sweep grid.

    Attributes:
        values: parameter name -> its values, in the order given.
        static: shape-deciding settings (`STATIC`), looped in Python, one program each.
        traced: numbers vmapped inside one program (spec parameters and traced experiment
            settings); point p is C order over them.
        other: experiment settings the experiment handles itself (e.g. read times `t`).
    """

    values: dict[str, list[float]]
    static: tuple[str, ...]
    traced: tuple[str, ...]
    other: tuple[str, ...]

    @property
    def points(self) -> np.ndarray:
        """The traced values of every point, (points, len(traced)) float32."""
        axes = np.meshgrid(
            *(np.asarray(self.values[n], np.float32) for n in self.traced), indexing="ij"
        )
        if not self.traced:
            return np.zeros((1, 0), np.float32)
        return np.stack([a.ravel() for a in axes], -1).astype(np.float32)

    @property
    def groups(self) -> list[tuple[tuple[int, ...], dict[str, int]]]:
        """Every combination of the static settings (one compiled program each): its indices
        along the static axes and its settings."""
        out = []
        for index in itertools.product(*(range(len(self.values[n])) for n in self.static)):
            settings = {n: int(self.values[n][i]) for n, i in zip(self.static, index, strict=True)}
            out.append((index, settings))
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.values[n]) for n in (*self.static, *self.traced))


def make_grid(
    spec: HardwareSpec,
    grid: dict[str, Sequence[float]],
    *,
    traced_settings: tuple[str, ...] = (),
    other: tuple[str, ...] = (),
) -> Grid:
    """Validate `grid` for `spec`: known names (the error lists the sweepable ones), at least
    one value each, values the spec accepts (`check_values`).

    Args:
        traced_settings: experiment settings that are traced numbers (e.g. a learning rate).
        other: experiment settings the experiment handles itself.
    """
    if not grid:
        raise ParameterError("the grid is empty: give at least one parameter and its values")
    names = list(grid)
    check_params(spec, names, extra=(*traced_settings, *other))
    values = {n: [float(v) for v in grid[n]] for n in names}
    for n, vs in values.items():
        if not vs:
            raise ParameterError(f"parameter {n!r} has no values")
        if not all(math.isfinite(v) for v in vs):
            raise ParameterError(f"parameter {n!r} has a value that is not a finite number")
    check_values(spec, values)
    return Grid(
        values=values,
        static=tuple(n for n in names if n in STATIC),
        traced=tuple(n for n in names if n not in STATIC and n not in other),
        other=tuple(n for n in names if n in other),
    )


Compute = Callable[[HardwareSpec, Array, Array, Callable[[], None]], dict[str, np.ndarray]]


def run_pairs(
    spec: HardwareSpec,
    grid: Grid,
    chips: int,
    chunk_size: int,
    compute: Compute,
    *,
    store: Store,
    progress: bool,
    desc: str,
    steps_per_chunk: int = 1,
    unit: str = "chunk",
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run `compute` over every (grid point, chip) pair in chunks of `chunk_size` pairs.

    `compute(group_spec, values, chips, tick)` gets the traced spec of one static group, the
    chunk's traced values (chunk_size, len(grid.traced)) and chip indices (chunk_size,)
    uint32, and returns named arrays with a leading pair axis; it calls `tick()` after each
    of its `steps_per_chunk` steps (the progress bar counts them in `unit`). Every call has
    the same shape: the last chunk repeats the last pair. Finished chunks are kept in `store`
    and not recomputed.

    Returns:
        name -> array of shape (*grid.shape, chips, ...).
    """
    points = grid.points
    pairs = points.shape[0] * chips
    chunk_size = min(chunk_size, pairs)
    per_group = -(-pairs // chunk_size)
    groups = grid.groups
    out: dict[str, np.ndarray] = {}
    done = 0
    total = len(groups) * per_group * steps_per_chunk
    with progress_bar(total=total, desc=desc, unit=unit, enabled=progress) as bar:
        for gi, (group, settings) in enumerate(groups):
            group_spec = traced(with_static(spec, settings))
            flat: dict[str, np.ndarray] = {}
            for k in range(per_group):
                start, stop = k * chunk_size, min((k + 1) * chunk_size, pairs)
                name = f"chunk-{gi:04d}-{k:06d}"
                result = store.load(name)
                if result is None:
                    p = np.minimum(np.arange(start, start + chunk_size), pairs - 1)
                    values = jnp.asarray(points[p // chips])
                    index = jnp.asarray((p % chips).astype(np.uint32))
                    result = compute(group_spec, values, index, lambda: bar.update(1))
                    result = {key: np.asarray(v)[: stop - start] for key, v in result.items()}
                    store.save(name, result)
                else:
                    bar.update(steps_per_chunk)
                for key, v in result.items():
                    if key not in flat:
                        flat[key] = np.empty((pairs, *v.shape[1:]), v.dtype)
                    flat[key][start:stop] = v
                done += 1
                if on_chunk is not None:
                    on_chunk(done)
            for key, v in flat.items():
                if key not in out:
                    out[key] = np.empty((*grid.shape, chips, *v.shape[1:]), v.dtype)
                out[key][group] = v.reshape(*grid.shape[len(grid.static) :], chips, *v.shape[1:])
    return out


def label(ds: xr.Dataset, grid: Grid) -> xr.Dataset:
    """Units on every swept coordinate and the chip coordinate's meaning."""
    for n in grid.values:
        ds[n].attrs.update(units=units(n))
    ds["chip"].attrs.update(long_name="chip index (chip_key(root_key(seed), i))")
    return ds


@eqx.filter_jit
def _simulate_pairs(
    spec: HardwareSpec,
    names: tuple[str, ...],
    values: Array,
    net: Network,
    params: Sequence[dict[str, Array]],
    root: Array,
    chips: Array,
    times: Array,
    x: Array,
    y: Array,
    method: ProgramMethod,
) -> Array:
    """Accuracy (pairs, times) of chip `chips[p]` with the parameters `names` at `values[p]`."""

    def one(vals: Array, chip: Array) -> Array:
        point = with_params(spec, names, vals)
        return chip_accuracy(point, net, params, root, chip, times, x, y, method=method)

    return jax.vmap(one)(values, chips)


def sweep_simulate(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    data: Dataset,
    grid: dict[str, Sequence[float]],
    *,
    chips: int = 64,
    seed: int = 0,
    method: ProgramMethod = "open-loop",
    chunk_size: int | None = None,
    store: str | Path | None = None,
    progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> xr.Dataset:
    """Test accuracy of `params` programmed on `chips` chips at every point of `grid`.

    Args:
        spec, net, params, data: as for `simulate`.
        grid: parameter name -> values; any name of `sweepable(spec)`, a shape-deciding
            setting of `STATIC`, or `t` (seconds after programming; read at 1 s otherwise).
        chips: chips per grid point; chip i is the same chip at every point.
        chunk_size: (grid point, chip) pairs per compiled call; by default as many as fit
            `MEMORY_BUDGET_BYTES`. Results do not depend on it, but a store remembers it.
        store: folder for finished chunks and their manifest (resumable); None keeps all in
            memory.
        on_chunk: called with the number of chunks finished so far (after each chunk).

    Returns:
        Dataset with `accuracy` (one dim per swept parameter in `grid` order, then `chip`),
        `digital_accuracy`, units on every coordinate, and provenance attributes.

    Raises:
        ParameterError: an unknown parameter (the message lists the sweepable ones), an empty
            grid or value list, or a bad value.
        StoreMismatchError: `store` holds chunks of another sweep (they are left untouched).
    """
    check_int_range("chips", chips, 1, 10**9)
    g = make_grid(spec, grid, other=("t",))
    if "t" in g.values and min(g.values["t"]) < 0:
        raise ParameterError(f"t must be >= 0 seconds; got {min(g.values['t'])}")
    times = np.asarray(g.values.get("t", [1.0]), np.float32)
    data = data.for_network(net)
    x, y = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    root = root_key(seed)
    if chunk_size is None:
        chunk_size = _chunk_size(net, x.shape[0], len(times))
    check_int_range("chunk_size", chunk_size, 1, 10**9)
    chunk_size = min(chunk_size, g.points.shape[0] * chips)
    manifest = {
        **sweep_manifest(spec, "simulate", g, chips, seed, chunk_size, network=net),
        "program_method": method,
        "weights_sha256": digest(jax.tree.leaves(params)),
        "test_set_sha256": digest([data.x_test]),
    }

    def compute(group_spec: HardwareSpec, values: Array, index: Array, tick: Any) -> Any:
        t = jnp.asarray(times)
        acc = _simulate_pairs(
            group_spec, g.traced, values, net, params, root, index, t, x, y, method
        )
        tick()
        return {"accuracy": acc}

    out = run_pairs(
        spec,
        g,
        chips,
        chunk_size,
        compute,
        store=Store(store, manifest),
        progress=progress,
        desc="sweep",
        on_chunk=on_chunk,
    )
    names = list(g.values)
    dims = [*g.static, *g.traced, "chip", "t"]
    ds = xr.Dataset(
        {
            "accuracy": (dims, out["accuracy"].astype(np.float64)),
            "digital_accuracy": ((), float(accuracy(apply_digital(net, params, x), y))),
        },
        coords={
            **{n: np.asarray(g.values[n], np.float64) for n in names if n != "t"},
            "chip": np.arange(chips),
            "t": times.astype(np.float64),
        },
    )
    if "t" not in g.values:
        ds = ds.isel(t=0)  # read at 1 s: a scalar coordinate, not a dimension
    ds = label(ds.transpose(*names, "chip"), g)
    ds["t"].attrs.update(units="s", long_name="time since programming")
    ds["accuracy"].attrs.update(units="1", long_name=f"test accuracy on {data.name}")
    ds["digital_accuracy"].attrs.update(units="1", long_name="digital (float) test accuracy")
    ds.attrs.update(
        provenance_attrs(
            spec,
            experiment="sweep",
            swept_experiment="simulate",
            swept=names,
            network=net.name,
            dataset=data.name,
            seed=seed,
            chips=chips,
            program_method=method,
            chunk_size=chunk_size,
        )
    )
    return ds


def _chunk_size(net: Network, examples: int, times: int) -> int:
    """(grid point, chip) pairs per call under `MEMORY_BUDGET_BYTES`: per pair, about 12
    float32 numbers per device (identity, state, a read) and the activations of every read."""
    devices = sum(2 * r * c for r, c in net.shapes)
    activations = examples * sum(r + c for r, c in net.shapes) * times * 3
    per_pair = 4 * (12 * devices + activations)
    return max(1, MEMORY_BUDGET_BYTES // per_pair)


def sweep_manifest(
    spec: HardwareSpec,
    experiment: str,
    grid: Grid,
    chips: int,
    seed: int,
    chunk_size: int,
    *,
    network: Network,
) -> dict[str, Any]:
    """The manifest entries every sweep has (experiments add their settings and hashes)."""
    return {
        "analogsim_version": __version__,
        "experiment": experiment,
        "grid": grid.values,
        "chips": chips,
        "seed": seed,
        "chunk_size": chunk_size,
        "hardware_spec": describe(spec),
        "network": [network.name, [list(s) for s in network.shapes]],
    }
