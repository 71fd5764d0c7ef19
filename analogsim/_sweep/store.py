"""A sweep's resumable store: a zarr (v3) store of the results, filled in chunk by chunk.

A sweep computes its results in chunks; chunk k fills the cells `[start, stop)` (C order) of
its *cells*, the leading dims every result shares: for simulate and train sweeps the static
settings, the traced parameters and `chip`; for transfer sweeps the grid's parameters other
than `variation`. The store folder is both a zarr group and the sweep's record:

    FOLDER/manifest.json     everything that decides the numbers and the chunk layout (grid,
                             chips, seed, settings, the spec, hashes of weights and data, the
                             package version, the store format); written first
    FOLDER/zarr.json         the zarr group, with consolidated metadata
    FOLDER/<coordinate>/     one array per dim that has values (grid parameters, chip, t, ...)
    FOLDER/<result>/         one array per result, dims (*cells, *its own dims), NaN (floats)
                             or 0 where not computed yet; zarr chunks are rows of the last cell
                             dim (one grid point's chips), created with the first chunk
    FOLDER/chunk_done/       (chunk,) bool: which chunks are finished

so `xarray.open_zarr(FOLDER)` shows the results while the sweep is still running, under the
dims and coordinates of the final dataset (cells first; a dim the dataset makes a scalar, such
as `t` of a simulate sweep read at 1 s, has length 1 here). Only a chunk marked in `chunk_done`
counts: its values are written first, then its mark, and every file of a zarr `LocalStore` is
replaced whole (a temporary file, then a rename; zarr >= 3.1.3), so a crash at any moment
leaves finished chunks intact and at most one chunk's values without its mark, which a
resumed run computes again. A folder whose manifest differs is another sweep's, and a folder
holding files but no manifest is no sweep's: both are refused and left untouched. In a run
over several processes only process 0 writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from device_models._checks import ParameterError

from .._core.dataset import Labels, attributes
from .._core.process import is_main_process
from .._core.provenance import write_bytes

STORE_FORMAT = 2  # 1: a folder of .npz chunks (analogsim before the zarr store)
DONE = "chunk_done"


class StoreMismatchError(ParameterError):
    """A sweep's store folder holds chunks of a different sweep."""


def digest(arrays: Iterable[Any]) -> str:
    """SHA-256 of arrays' float32 bytes (weights, a data set): a manifest's fingerprint."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, np.float32)).tobytes())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a sweep's results go.

    Attributes:
        cells: the leading dims every result shares, in order, and their coordinates.
        spans: chunk k computes the cells `[start, stop)` of `spans[k]` (C order over
            `cells`); the chunks cover every cell once, in order.
        dims: every result's name and its own dims after the cells.
        coords: the coordinates of those own dims.
        labels: (units, long_name) of any coordinate or result (`_core.dataset`).
    """

    cells: Mapping[str, Sequence[Any]]
    spans: Sequence[tuple[int, int]]
    dims: Mapping[str, tuple[str, ...]]
    coords: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)
    labels: Labels = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.cells.values())

    def assemble(self, chunks: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Every chunk's results (leading axis: its cells) as arrays (*shape, ...)."""
        out = {}
        for name in self.dims:
            flat = np.concatenate([c[name] for c in chunks])
            out[name] = flat.reshape(*self.shape, *flat.shape[1:])
        return out


class Store:
    """The finished chunks of one sweep in `folder` (None: nothing is kept, every chunk is
    computed)."""

    def __init__(self, folder: str | Path | None, manifest: dict[str, Any], layout: Layout) -> None:
        self.folder = None if folder is None else Path(folder)
        self.layout = layout
        self.done = np.zeros(len(layout.spans), bool)
        if self.folder is None:
            return
        _open(self.folder, json.loads(json.dumps({**manifest, "store_format": STORE_FORMAT})))
        made = (self.folder / DONE / "zarr.json").exists()
        if is_main_process():
            if not made:  # new, or killed while it was being made: (re)make it
                self._create()
            self._consolidate()
        if made:
            self.done[:] = self._array(DONE)[:]

    def load(self, k: int) -> dict[str, np.ndarray] | None:
        """The results of chunk `k` (leading axis: its cells) if it was finished, else None."""
        if not self.done[k]:
            return None
        out = {}
        for name in self.layout.dims:
            try:
                out[name] = _read(self._array(name), len(self.layout.cells), *self.layout.spans[k])
            except (OSError, ValueError, KeyError) as err:
                raise StoreMismatchError(
                    f"{self.folder}: chunk {k} is marked finished but its {name!r} cannot be "
                    f"read ({err}); use another --out"
                ) from None
        return out

    def save(self, k: int, results: dict[str, np.ndarray]) -> None:
        """Keep the results of chunk `k`: its values, then its mark in `chunk_done`."""
        if set(results) != set(self.layout.dims):
            raise ValueError(f"results {sorted(results)}; expected {sorted(self.layout.dims)}")
        self.done[k] = True
        if self.folder is None or not is_main_process():
            return
        new = [n for n in self.layout.dims if not (self.folder / n / "zarr.json").exists()]
        for name in new:
            self._create_result(name, np.asarray(results[name]))
        if new:
            self._consolidate()
        for name in self.layout.dims:
            values = np.asarray(results[name])
            _write(self._array(name), len(self.layout.cells), *self.layout.spans[k], values)
        self._array(DONE)[k] = True

    def _array(self, name: str) -> zarr.Array:
        return zarr.open_array(store=str(self.folder), path=name, mode="r+", zarr_format=3)

    def _create(self) -> None:
        """The group, its coordinates and `chunk_done` (last: it says the store is made)."""
        about = "a resumable analogsim sweep; chunk_done marks the finished chunks"
        zarr.open_group(str(self.folder), mode="a", zarr_format=3, attributes={"about": about})
        for name, values in {**self.layout.cells, **self.layout.coords}.items():
            values = np.asarray(values)
            dtype = str if values.dtype.kind in "UO" else values.dtype
            self._new(name, (name,), values.shape, dtype, values.shape)[...] = values
        self._new(DONE, ("chunk",), (len(self.layout.spans),), bool, (len(self.layout.spans),))

    def _create_result(self, name: str, value: np.ndarray) -> None:
        own = self.layout.dims[name]
        if value.ndim != 1 + len(own):
            raise ValueError(f"result {name!r} has {value.ndim - 1} dims per cell; expected {own}")
        cells = self.layout.shape
        rows = (*(1 for _ in cells[:-1]), *cells[-1:])  # a zarr chunk: one row of the last dim
        dims = (*self.layout.cells, *own)
        self._new(name, dims, (*cells, *value.shape[1:]), value.dtype, (*rows, *value.shape[1:]))

    def _new(
        self, name: str, dims: tuple[str, ...], shape: tuple[int, ...], dtype: Any, chunks: Any
    ) -> zarr.Array:
        units, long_name = self.layout.labels.get(name, (None, None))
        if name == DONE:
            long_name = "chunk finished (its values are in)"
        floating = dtype is not str and np.dtype(dtype).kind == "f"
        return zarr.create_array(
            store=str(self.folder),
            name=name,
            shape=shape,
            dtype=dtype,
            chunks=chunks,
            fill_value=np.nan if floating else None,
            dimension_names=dims,
            attributes=attributes(units, long_name),
            zarr_format=3,
            overwrite=True,
        )

    def _consolidate(self) -> None:
        with warnings.catch_warnings():  # consolidated metadata is not (yet) in the v3 spec
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.folder))


def _open(folder: Path, manifest: dict[str, Any]) -> None:
    """Check that `folder` holds this very sweep, or nothing yet (then, in process 0, write its
    manifest)."""
    path = folder / "manifest.json"
    if folder.exists() and not folder.is_dir():
        raise StoreMismatchError(f"{folder} is a file, not a sweep's store; use another --out")
    # one listing: the manifest is written before anything else, so a listing that shows
    # other files shows it too
    entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if "manifest.json" in entries:
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise StoreMismatchError(f"{path} is not a readable sweep manifest ({err})") from None
        if not isinstance(stored, dict):
            raise StoreMismatchError(f"{path} is not a sweep manifest")
        differ = sorted(k for k in set(stored) | set(manifest) if stored.get(k) != manifest.get(k))
        if differ:
            raise StoreMismatchError(
                f"{folder} holds chunks of another sweep (differs in {', '.join(differ)}); "
                "rerun with the same settings to resume, or use another --out"
            )
        return
    if any(not name.startswith(".") for name in entries):  # hidden: a killed atomic write
        raise StoreMismatchError(
            f"{folder} holds files but no sweep manifest; use another --out or an empty folder"
        )
    if is_main_process():
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps(manifest, indent=1).encode())


def _block(shape: tuple[int, ...], start: int, stop: int) -> tuple[tuple[slice, ...], int, int]:
    """The smallest block of an array of cells `shape` that holds its cells `[start, stop)` (C
    order) and is itself a run of consecutive cells: its slices, first cell and size."""
    if not shape:
        return (), 0, 1
    a = np.unravel_index(start, shape)
    b = np.unravel_index(stop - 1, shape)
    d = next((i for i in range(len(shape)) if a[i] != b[i]), len(shape) - 1)
    lo = [int(a[i]) if i <= d else 0 for i in range(len(shape))]
    hi = [int(a[i]) + 1 for i in range(d)] + [int(b[d]) + 1] + list(shape[d + 1 :])
    first = int(np.ravel_multi_index(lo, shape))
    size = math.prod(h - low for low, h in zip(lo, hi, strict=True))
    return tuple(map(slice, lo, hi)), first, size


def _read(array: zarr.Array, ncells: int, start: int, stop: int) -> np.ndarray:
    """Cells `[start, stop)` of `array`, whose first `ncells` dims are cells."""
    box, first, size = _block(array.shape[:ncells], start, stop)
    block = np.asarray(array[box])
    return block.reshape(size, *block.shape[ncells:])[start - first : stop - first]


def _write(array: zarr.Array, ncells: int, start: int, stop: int, values: np.ndarray) -> None:
    """Write `values` (leading axis: cells) to cells `[start, stop)` of `array`."""
    box, first, size = _block(array.shape[:ncells], start, stop)
    if first == start and size == stop - start:
        array[box] = values.reshape(*_sizes(box), *values.shape[1:])
        return
    block = np.asarray(array[box])  # the neighbours' cells are written back as they are
    flat = block.reshape(size, *values.shape[1:])
    flat[start - first : stop - first] = values
    array[box] = flat.reshape(block.shape)


def _sizes(box: tuple[slice, ...]) -> tuple[int, ...]:
    return tuple(s.stop - s.start for s in box)
