"""Sweeps of `simulate_model`: a user's JAX model on a fleet at every point of a grid.

As `sweep_simulate` does for the built-in networks: every (grid point, chip) pair runs
through one compiled program with the swept parameters traced, chunk by chunk, resumable in
a store folder.
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
from .._fleet.mesh import chip_mesh, fleet_vmap
from .._fleet.model_fleet import model_chip_accuracy, test_batches
from .._fleet.simulate import accuracy_labels
from .._nn.data import Dataset
from .._nn.fit_model import model_accuracy
from .chunks import run_pairs
from .grid import grid_labels, make_grid, sweep_manifest
from .store import digest


@eqx.filter_jit
def _model_pairs(
    spec: HardwareSpec,
    names: tuple[str, ...],
    values: Array,
    model: Any,
    root: Array,
    chips: Array,
    times: Array,
    x: Array,
    y: Array,
    method: ProgramMethod,
    batch_size: int | None,
    mesh: Mesh | None = None,
) -> Array:
    """Accuracy (pairs, times) of chip `chips[p]` with the parameters `names` at `values[p]`."""

    def one(vals: Array, chip: Array) -> Array:
        point = with_params(spec, names, vals)
        return model_chip_accuracy(
            point, model, root, chip, times, x, y, method=method, batch_size=batch_size
        )

    return fleet_vmap(one, mesh)(values, chips)


def sweep_simulate_model(
    spec: HardwareSpec,
    model: Any,
    data: Dataset,
    grid: dict[str, Sequence[float]],
    *,
    name: str = "model",
    chips: int = 16,
    seed: int = 0,
    method: ProgramMethod = "published",
    batch_size: int | None = 500,
    chunk_size: int = 1,
    store: str | Path | None = None,
    progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    devices: int | None = None,
) -> xr.Dataset:
    """Test accuracy of `model` programmed on `chips` chips at every point of `grid`.

    Args:
        spec, data, grid, chips, seed: as `sweep_simulate` takes them.
        method, store, progress, on_chunk, devices: as `sweep_simulate` takes them.
        model, name: an equinox model called one example at a time, and its name.
        batch_size: test examples per read (`simulate_model`).
        chunk_size: (grid point, chip) pairs per compiled call (memory: `simulate_model`).

    Returns:
        Dataset with `accuracy` (one dim per swept parameter, then `chip`),
        `digital_accuracy` and provenance attributes, as `sweep_simulate` writes it.
    """
    check_int_range("chips", chips, 1, 10**9)
    check_int_range("chunk_size", chunk_size, 1, 10**9)
    mesh = chip_mesh(devices)
    g = make_grid(spec, grid, other=("t",))
    if "t" in g.values and min(g.values["t"]) < 0:
        raise ParameterError(f"t must be >= 0 seconds; got {min(g.values['t'])}")
    times = np.asarray(g.values.get("t", [1.0]), np.float32)
    x, y, batch_size = test_batches(data, batch_size)
    root = root_key(seed)
    chunk_size = min(chunk_size, g.points.shape[0] * chips)
    leaves = jax.tree.leaves(eqx.filter(model, eqx.is_array))
    description = [name, [list(leaf.shape) for leaf in leaves]]
    manifest = {
        **sweep_manifest(spec, "simulate", g, chips, seed, chunk_size, network=description),
        "program_method": method,
        "test_batch": batch_size,
        "weights_sha256": digest(leaves),
        "test_set_sha256": digest([np.asarray(x)]),
    }

    def compute(group_spec: HardwareSpec, values: Array, index: Array, tick: Any) -> Any:
        t = jnp.asarray(times)
        acc = _model_pairs(
            group_spec, g.traced, values, model, root, index, t, x, y, method, batch_size, mesh
        )
        tick()
        return {"accuracy": acc}

    names = list(g.values)
    labels = {**grid_labels(g), **accuracy_labels(data.name)}
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
            "digital_accuracy": ((), model_accuracy(model, x, y)),
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
        network=name,
        dataset=data.name,
        seed=seed,
        chips=chips,
        program_method=method,
        chunk_size=chunk_size,
        test_examples=len(x),
    )
    if "t" not in g.values:
        ds = ds.isel(t=0)
    return ds.transpose(*names, "chip")
