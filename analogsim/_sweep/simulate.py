"""Sweeps of `simulate`: a trained network programmed on a fleet at every point of a grid.

Every (grid point, chip) pair runs through one compiled program: the traced parameters
(`_chip.sweepable.sweepable`) are `vmap`ped together with the chip index, so the whole grid
compiles once (`_sweep.chunks`). With a store folder, every finished chunk is written there as
it completes (a zarr store that `xarray.open_zarr` reads while the sweep runs, `_sweep.store`),
next to a manifest of everything that decides the numbers. Rerunning the same
sweep skips finished chunks and gives the dataset an uninterrupted run gives; a store
written by another sweep is refused, and left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import Mesh
from jaxtyping import Array

from device_models._checks import ParameterError, check_int_range

from .._chip.program import ProgramMethod
from .._chip.spec import HardwareSpec
from .._chip.sweepable import with_params
from .._core.dataset import experiment_dataset
from .._core.keys import root_key
from .._fleet.fleet import chip_accuracy
from .._fleet.mesh import chip_mesh, fleet_vmap
from .._fleet.simulate import accuracy_labels
from .._nn.data import Dataset
from .._nn.digital import accuracy
from .._nn.networks import Network, apply_digital
from .chunks import run_pairs
from .grid import Grid, grid_labels, make_grid, sweep_manifest
from .store import digest

MEMORY_BUDGET_BYTES = 2 << 30  # per compiled call; chunks are sized to stay under it


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
    mesh: Mesh | None = None,
) -> Array:
    """Accuracy (pairs, times) of chip `chips[p]` with the parameters `names` at `values[p]`,
    the pairs split over `mesh` (`fleet_vmap`)."""

    def one(vals: Array, chip: Array) -> Array:
        point = with_params(spec, names, vals)
        return chip_accuracy(point, net, params, root, chip, times, x, y, method=method)

    return fleet_vmap(one, mesh)(values, chips)


def sweep_simulate(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    data: Dataset,
    grid: dict[str, Sequence[float]],
    *,
    chips: int = 64,
    seed: int = 0,
    method: ProgramMethod = "published",
    chunk_size: int | None = None,
    store: str | Path | None = None,
    progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    devices: int | None = None,
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
        devices: each chunk's pairs are split over this many devices (all JAX sees by
            default); the store does not depend on it, results agree to float32 rounding.

    Returns:
        Dataset with `accuracy` (one dim per swept parameter in `grid` order, then `chip`),
        `digital_accuracy`, units on every coordinate, and provenance attributes.

    Raises:
        ParameterError: an unknown parameter (the message lists the sweepable ones), an empty
            grid or value list, or a bad value.
        StoreMismatchError: `store` holds chunks of another sweep (they are left untouched).
    """
    check_int_range("chips", chips, 1, 10**9)
    mesh = chip_mesh(devices)
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

    pairs = lambda group_spec, values, index: _simulate_pairs(
        group_spec, g.traced, values, net, params, root, index, jnp.asarray(times), x, y,
        method, mesh,
    )  # fmt: skip
    digital = float(accuracy(apply_digital(net, params, x), y))
    return run_sweep_of_simulate(
        spec, g, pairs, chips=chips, chunk_size=chunk_size, store=store, manifest=manifest,
        digital=digital, dataset=data.name, network=net.name, seed=seed, method=method,
        progress=progress, on_chunk=on_chunk, mesh=mesh,
    )  # fmt: skip


def run_sweep_of_simulate(
    spec: HardwareSpec,
    g: Grid,
    pairs: Callable[[HardwareSpec, Array, Array], Array],
    *,
    chips: int,
    chunk_size: int,
    store: str | Path | None,
    manifest: dict[str, Any],
    digital: float,
    dataset: str,
    network: str,
    seed: int,
    method: str,
    progress: bool,
    on_chunk: Callable[[int], None] | None,
    mesh: Mesh,
    **extra: object,
) -> xr.Dataset:
    """Run `pairs(group_spec, values, chip_indices) -> accuracy (pairs, times)` over the grid
    `g` x `chips` chips chunk by chunk (`run_pairs`, resumable in `store`), and label it: the
    sweep dataset of `sweep_simulate` and `sweep_simulate_model` (`extra`: more attributes)."""
    times = np.asarray(g.values.get("t", [1.0]), np.float32)

    def compute(group_spec: HardwareSpec, values: Array, index: Array, tick: Any) -> Any:
        acc = pairs(group_spec, values, index)
        tick()
        return {"accuracy": acc}

    names = list(g.values)
    labels = {**grid_labels(g), **accuracy_labels(dataset)}
    out = run_pairs(
        spec,
        g,
        chips,
        chunk_size,
        compute,
        store=store,
        manifest=manifest,
        dims={"accuracy": ("t",)},
        coords={"t": times.astype(np.float64)},
        labels=labels,
        progress=progress,
        desc="sweep",
        on_chunk=on_chunk,
        mesh=mesh,
    )
    ds = experiment_dataset(
        {
            "accuracy": ([*g.static, *g.traced, "chip", "t"], out["accuracy"].astype(np.float64)),
            "digital_accuracy": ((), digital),
        },
        {
            **{n: np.asarray(g.values[n], np.float64) for n in names if n != "t"},
            "chip": np.arange(chips),
            "t": times.astype(np.float64),
        },
        labels=labels,
        spec=spec,
        experiment="sweep",
        swept_experiment="simulate",
        swept=names,
        network=network,
        dataset=dataset,
        seed=seed,
        chips=chips,
        program_method=method,
        chunk_size=chunk_size,
        **extra,
    )
    if "t" not in g.values:
        ds = ds.isel(t=0)  # read at 1 s: a scalar coordinate, not a dimension
    return ds.transpose(*names, "chip")


def _chunk_size(net: Network, examples: int, times: int) -> int:
    """(grid point, chip) pairs per call under `MEMORY_BUDGET_BYTES`: per pair, about 12
    float32 numbers per device (identity, state, a read) and the activations of every read."""
    devices = sum(2 * r * c for r, c in net.shapes)
    activations = examples * sum(r + c for r, c in net.shapes) * times * 3
    per_pair = 4 * (12 * devices + activations)
    return max(1, MEMORY_BUDGET_BYTES // per_pair)
