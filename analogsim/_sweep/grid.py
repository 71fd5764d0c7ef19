"""The machinery every sweep shares: a grid of values, chunks of (grid point, chip) pairs.

A grid is validated against the spec before any work (names, values the spec's constructors
accept). Traced numbers are `vmap`ped with the chip index inside one compiled program;
shape-deciding settings (`STATIC`) loop in Python, one program each. Chip i is
`chip_key(root_key(seed), i)` at every grid point (common random numbers), so neighbouring
points differ by the parameter, not by luck. Chunks go to a resumable `Store`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr
from jax.sharding import Mesh
from jaxtyping import Array

from device_models._checks import ParameterError

from .._chip.spec import HardwareSpec, traced
from .._chip.sweepable import STATIC, check_params, check_values, units, with_static
from .._core.progress import progress_bar
from .._core.provenance import describe
from .._fleet.mesh import chip_mesh, padded, shard_rows, to_host
from .._nn.networks import Network
from .._version import __version__
from .store import Store


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

    @functools.cached_property
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
    mesh: Mesh | None = None,
) -> dict[str, np.ndarray]:
    """Run `compute` over every (grid point, chip) pair in chunks of `chunk_size` pairs.

    `compute(group_spec, values, chips, tick)` gets the traced spec of one static group, the
    chunk's traced values (chunk_size, len(grid.traced)) and chip indices (chunk_size,)
    uint32, and returns named arrays with a leading pair axis; it calls `tick()` after each
    of its `steps_per_chunk` steps (the progress bar counts them in `unit`). Every call has
    the same shape: the last chunk repeats the last pair. A chunk's pairs are split over
    `mesh` (all devices by default), padded to a multiple of its device count with repeats
    of the last pair; neither the padding nor the device count reaches the store or the
    results. Finished chunks are kept in `store` and not recomputed.

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
    mesh = chip_mesh() if mesh is None else mesh
    width = padded(chunk_size, mesh)
    with progress_bar(total=total, desc=desc, unit=unit, enabled=progress) as bar:
        for gi, (group, settings) in enumerate(groups):
            group_spec = traced(with_static(spec, settings))
            flat: dict[str, np.ndarray] = {}
            for k in range(per_group):
                start, stop = k * chunk_size, min((k + 1) * chunk_size, pairs)
                name = f"chunk-{gi:04d}-{k:06d}"
                result = store.load(name)
                if result is None:
                    p = np.minimum(np.arange(start, start + width), pairs - 1)
                    values = shard_rows(mesh, points[p // chips].astype(np.float32))
                    index = shard_rows(mesh, (p % chips).astype(np.uint32))
                    result = compute(group_spec, values, index, lambda: bar.update(1))
                    result = {key: to_host(v)[: stop - start] for key, v in result.items()}
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
