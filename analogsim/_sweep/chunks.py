"""The loop every sweep runs: chunks of work, each computed once and kept in the store.

`run_chunks` is the loop itself (store look-up, progress, `on_chunk`, the results assembled
into the grid's shape); `run_pairs` feeds it the (grid point, chip) pairs of simulate and
train sweeps, and the transfer sweep feeds it one grid point per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array

from .._chip.spec import HardwareSpec, traced
from .._chip.sweepable import with_static
from .._core.dataset import Labels
from .._core.progress import progress_bar
from .._fleet.mesh import chip_mesh, padded, shard_rows, to_host
from .grid import Grid
from .store import Layout, Store


def run_chunks(
    layout: Layout,
    compute: Callable[[int, Any], dict[str, np.ndarray]],
    *,
    store: Store,
    steps: Sequence[int],
    progress: bool,
    desc: str,
    unit: str,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run every chunk of `layout` in order: a chunk `store` holds is read back, the others are
    computed and kept.

    Args:
        compute: `compute(k, bar)` returns chunk k's results (name -> array, leading axis: its
            cells) and advances the progress `bar` by `steps[k]`.
        steps: progress steps per chunk (counted in `unit`).
        on_chunk: called with the number of chunks finished so far, after each chunk.

    Returns:
        name -> array (*layout.shape, ...).
    """
    results = []
    with progress_bar(total=sum(steps), desc=desc, unit=unit, enabled=progress) as bar:
        for k in range(len(layout.spans)):
            result = store.load(k)
            if result is None:
                result = compute(k, bar)
                store.save(k, result)
            else:
                bar.update(steps[k])
            results.append(result)
            if on_chunk is not None:
                on_chunk(k + 1)
    return layout.assemble(results)


Compute = Callable[[HardwareSpec, Array, Array, Callable[[], None]], dict[str, np.ndarray]]


def run_pairs(
    spec: HardwareSpec,
    grid: Grid,
    chips: int,
    chunk_size: int,
    compute: Compute,
    *,
    store: str | Path | None,
    manifest: dict[str, Any],
    dims: Mapping[str, tuple[str, ...]],
    coords: Mapping[str, Sequence[Any]] | None = None,
    labels: Labels | None = None,
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
    results. Finished chunks are kept in the store folder `store` (`Store`, with `manifest`)
    and not recomputed.

    Args:
        dims, coords, labels: every result's own dims after (*grid dims, chip), their
            coordinates, and labels (`Layout`).

    Returns:
        name -> array of shape (*grid.shape, chips, ...).
    """
    points = grid.points
    pairs = points.shape[0] * chips
    chunk_size = min(chunk_size, pairs)
    per_group = -(-pairs // chunk_size)
    groups = grid.groups
    mesh = chip_mesh() if mesh is None else mesh
    width = padded(chunk_size, mesh)
    # a static group's pairs are consecutive cells of (*static, *traced, chip)
    spans = [
        (g * pairs + k * chunk_size, g * pairs + min((k + 1) * chunk_size, pairs))
        for g in range(len(groups))
        for k in range(per_group)
    ]
    cells = {n: grid.values[n] for n in (*grid.static, *grid.traced)}
    layout = Layout({**cells, "chip": np.arange(chips)}, spans, dims, coords or {}, labels or {})
    group_specs: dict[int, HardwareSpec] = {}

    def run(k: int, bar: Any) -> dict[str, np.ndarray]:
        g, start = divmod(spans[k][0], pairs)
        stop = spans[k][1] - g * pairs
        if g not in group_specs:
            group_specs[g] = traced(with_static(spec, groups[g][1]))
        p = np.minimum(np.arange(start, start + width), pairs - 1)
        values = shard_rows(mesh, points[p // chips].astype(np.float32))
        index = shard_rows(mesh, (p % chips).astype(np.uint32))
        result = compute(group_specs[g], values, index, lambda: bar.update(1))
        return {key: to_host(v)[: stop - start] for key, v in result.items()}

    return run_chunks(
        layout,
        run,
        store=Store(store, manifest, layout),
        steps=[steps_per_chunk] * len(spans),
        progress=progress,
        desc=desc,
        unit=unit,
        on_chunk=on_chunk,
    )
