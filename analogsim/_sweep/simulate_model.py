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
from .._core.keys import root_key
from .._fleet.mesh import chip_mesh, fleet_vmap
from .._fleet.model_fleet import model_chip_accuracy, test_batches
from .._nn.data import Dataset
from .._nn.fit_model import model_accuracy
from .grid import make_grid, sweep_manifest
from .simulate import run_sweep_of_simulate
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

    pairs = lambda group_spec, values, index: _model_pairs(
        group_spec, g.traced, values, model, root, index, jnp.asarray(times), x, y, method,
        batch_size, mesh,
    )  # fmt: skip
    return run_sweep_of_simulate(
        spec, g, pairs, chips=chips, chunk_size=chunk_size, store=store, manifest=manifest,
        digital=model_accuracy(model, x, y), dataset=data.name, network=name, seed=seed,
        method=method, progress=progress, on_chunk=on_chunk, mesh=mesh, test_examples=len(x),
    )  # fmt: skip
