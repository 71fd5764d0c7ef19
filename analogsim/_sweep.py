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

import hashlib
import io
import itertools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

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
from ._provenance import describe, provenance_attrs, write_bytes
from ._spec import HardwareSpec, traced
from ._sweep_params import STATIC, check_params, units, with_params, with_static
from ._train_digital import accuracy
from ._version import __version__

MEMORY_BUDGET_BYTES = 2 << 30  # per compiled call; chunks are sized to stay under it


class StoreMismatchError(ParameterError):
    """A sweep's store folder holds chunks of a different sweep."""


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
    if not grid:
        raise ParameterError("the grid is empty: give at least one parameter and its values")
    names = list(grid)
    check_params(spec, names, extra=("t",))
    grid = {n: [float(v) for v in grid[n]] for n in names}
    for n, values in grid.items():
        if not values:
            raise ParameterError(f"parameter {n!r} has no values")
        if n in STATIC and any(v != int(v) for v in values):
            raise ParameterError(f"{n} takes whole numbers; got {values}")
        if n == "t" and min(values) < 0:
            raise ParameterError(f"t must be >= 0 seconds; got {min(values)}")
    static = [n for n in names if n in STATIC]
    swept = tuple(n for n in names if n not in STATIC and n != "t")
    times = np.asarray(grid.get("t", [1.0]), np.float32)
    for combo in itertools.product(*(grid[n] for n in static)):  # refuse bad values up front
        with_static(spec, dict(zip(static, combo, strict=True)))

    data = data.for_network(net)
    x, y = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    root = root_key(seed)
    # pair p is grid point p // chips (C order over `swept`) on chip p % chips
    axes = np.meshgrid(*(np.asarray(grid[n], np.float32) for n in swept), indexing="ij")
    point_values = np.stack([a.ravel() for a in axes], -1) if swept else np.zeros((1, 0))
    point_values = point_values.astype(np.float32)
    pairs = point_values.shape[0] * chips
    if chunk_size is None:
        chunk_size = _chunk_size(net, x.shape[0], len(times))
    check_int_range("chunk_size", chunk_size, 1, 10**9)
    chunk_size = min(chunk_size, pairs)
    per_group = -(-pairs // chunk_size)
    groups = list(itertools.product(*(range(len(grid[n])) for n in static)))

    folder = None
    if store is not None:
        folder = Path(store)
        manifest = _manifest(spec, net, params, data, grid, chips, seed, method, chunk_size)
        _open_store(folder, manifest)

    shape = tuple(len(grid[n]) for n in static) + tuple(len(grid[n]) for n in swept)
    out = np.full((*shape, chips, len(times)), np.nan, np.float32)
    done = 0
    total = len(groups) * per_group
    with progress_bar(total=total, desc="sweep", unit="chunk", enabled=progress) as bar:
        for gi, group in enumerate(groups):
            settings = {n: grid[n][i] for n, i in zip(static, group, strict=True)}
            group_spec = traced(with_static(spec, settings))
            flat = np.empty((pairs, len(times)), np.float32)
            for k in range(per_group):
                start, stop = k * chunk_size, min((k + 1) * chunk_size, pairs)
                path = None if folder is None else folder / f"chunk-{gi:04d}-{k:06d}.npy"
                if path is not None and path.exists():
                    result = np.load(path)
                else:
                    # every call has the same shape: the last chunk repeats the last pair
                    p = np.minimum(np.arange(start, start + chunk_size), pairs - 1)
                    result = np.asarray(
                        _simulate_pairs(
                            group_spec,
                            swept,
                            jnp.asarray(point_values[p // chips]),
                            net,
                            params,
                            root,
                            jnp.asarray((p % chips).astype(np.uint32)),
                            jnp.asarray(times),
                            x,
                            y,
                            method,
                        )
                    )[: stop - start]
                    if path is not None:
                        _save_atomic(path, result)
                flat[start:stop] = result
                done += 1
                bar.update(1)
                if on_chunk is not None:
                    on_chunk(done)
            out[group] = flat.reshape(*shape[len(static) :], chips, len(times))

    dims = [*static, *swept, "chip", "t"]
    ds = xr.Dataset(
        {
            "accuracy": (dims, out.astype(np.float64)),
            "digital_accuracy": ((), float(accuracy(apply_digital(net, params, x), y))),
        },
        coords={
            **{n: np.asarray(grid[n], np.float64) for n in names if n != "t"},
            "chip": np.arange(chips),
            "t": times.astype(np.float64),
        },
    )
    if "t" not in grid:
        ds = ds.isel(t=0)  # read at 1 s: a scalar coordinate, not a dimension
    ds = ds.transpose(*names, "chip")
    for n in [*names, "t"]:
        ds[n].attrs.update(units=units(n))
    ds["t"].attrs.update(long_name="time since programming")
    ds["chip"].attrs.update(long_name="chip index (chip_key(root_key(seed), i))")
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


def _manifest(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    data: Dataset,
    grid: dict[str, list[float]],
    chips: int,
    seed: int,
    method: str,
    chunk_size: int,
) -> dict[str, object]:
    """Everything that decides a sweep's numbers and its chunk layout."""
    weights = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        weights.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    test = hashlib.sha256(np.ascontiguousarray(data.x_test, np.float32).tobytes())
    return {
        "analogsim_version": __version__,
        "experiment": "simulate",
        "grid": grid,
        "chips": chips,
        "seed": seed,
        "program_method": method,
        "chunk_size": chunk_size,
        "hardware_spec": json.loads(json.dumps(describe(spec))),
        "network": [net.name, [list(s) for s in net.shapes]],
        "weights_sha256": weights.hexdigest(),
        "test_set_sha256": test.hexdigest(),
    }


def _open_store(folder: Path, manifest: dict[str, object]) -> None:
    """Create the store, or check that the one there holds this very sweep."""
    path = folder / "manifest.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise StoreMismatchError(f"{path} is not a readable sweep manifest ({err})") from None
        differ = sorted(k for k in set(stored) | set(manifest) if stored.get(k) != manifest.get(k))
        if differ:
            raise StoreMismatchError(
                f"{folder} holds chunks of another sweep (differs in {', '.join(differ)}); "
                "rerun with the same settings to resume, or use another --out"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    stale = sorted(folder.glob("chunk-*.npy"))
    if stale:
        raise StoreMismatchError(f"{folder} holds chunks but no manifest; use another --out")
    write_bytes(path, json.dumps(manifest, indent=1).encode())


def _save_atomic(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes(path, buffer.getvalue())
