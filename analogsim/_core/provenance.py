"""Provenance: the attributes every dataset carries; atomic writes of results, and datasets
written (netCDF-4) and read back (netCDF-4, or the netCDF-3 of earlier versions)."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import numpy as np
import xarray as xr

from .._version import __version__
from .process import is_main_process


def describe(module: Any) -> Any:
    """A JSON-able description of a spec or device: class name and every field's value."""
    if isinstance(module, eqx.Module):
        out: dict[str, Any] = {"type": type(module).__name__}
        for field in dataclasses.fields(module):
            out[field.name] = describe(getattr(module, field.name))
        return out
    if isinstance(module, tuple | list):
        return [describe(v) for v in module]
    arr = np.asarray(module)
    if arr.dtype.kind in "biuf":
        return arr.item() if arr.ndim == 0 else arr.tolist()
    return module


# scipy's netCDF-3 writer keeps global attributes as attributes of its file object
_RESERVED = {"mode", "filename", "version_byte", "maskandscale", "dimensions", "variables"}


def provenance_attrs(spec: Any = None, **extra: Any) -> dict[str, Any]:
    """netCDF-safe attributes: package version, device name and citation, the full spec as
    JSON, and any extra settings (seed, network, ...)."""
    attrs: dict[str, Any] = {"analogsim_version": __version__}
    if spec is not None:
        attrs["device"] = spec.device.name
        attrs["device_citation"] = spec.device.citation
        if spec.pulse_response is not None:
            attrs["device"] = spec.pulse_response.name
            attrs["device_citation"] = spec.pulse_response.citation
            attrs["read_device"] = spec.device.name
        attrs["hardware_spec"] = json.dumps(describe(spec))
    for key, value in extra.items():
        if key in _RESERVED:
            raise ValueError(f"attribute name {key!r} clashes with the netCDF writer's own")
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, list | tuple | dict):
            value = json.dumps(value)
        attrs[key] = value
    return attrs


def write_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` as netCDF-4 (HDF5, through h5netcdf) atomically: a temporary file in the same
    folder, then a rename, so a crash never leaves a complete-looking partial file.

    Every dtype is kept (64-bit integers, strings), so `read_dataset` gives back a dataset
    identical to `ds`; arrays of data are compressed (gzip, lossless).
    """
    encoding = {
        name: {"zlib": True, "complevel": 4, "shuffle": True}
        for name, var in ds.data_vars.items()
        if var.ndim > 0 and var.dtype.kind in "biuf"
    }
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))


def read_dataset(path: str | Path) -> xr.Dataset:
    """A dataset from a netCDF file analogsim wrote, loaded into memory: netCDF-4 (HDF5, what
    `write_dataset` writes) or netCDF-3 (what analogsim wrote before).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not a netCDF file.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:3] == b"CDF":
        engine = "scipy"
    elif head == b"\x89HDF\r\n\x1a\n":
        engine = "h5netcdf"
    else:
        raise ValueError("not a netCDF file (neither netCDF-4/HDF5 nor netCDF-3)")
    return xr.load_dataset(path, engine=engine)


def write_atomic(path: str | Path, write: Callable[[str], object]) -> Path:
    """Create `path` all at once: `write(tmp)` fills a temporary file in the same folder,
    which is then renamed into place with the permissions of a normally created file.

    In a run over several processes only process 0 writes; the others return `path`.
    """
    path = Path(path)
    if not is_main_process():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private to its owner
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_bytes(path: str | Path, payload: bytes) -> Path:
    """Write `payload` to `path` atomically (`write_atomic`)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_bytes(payload))


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure atomically (format from the suffix: .png or .svg)."""
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=150, bbox_inches="tight"))
