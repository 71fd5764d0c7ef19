"""A sweep's resumable store: a folder of finished chunks next to a manifest of the sweep.

The manifest holds everything that decides the sweep's numbers and its chunk layout (grid,
chips, seed, settings, the spec, hashes of weights and data, the package version). A folder
whose manifest differs is another sweep's: it is refused and left untouched. Each chunk is
an `.npz` of named arrays, written atomically, so a chunk file that exists is complete.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from device_models._checks import ParameterError

from .._core.provenance import write_bytes


class StoreMismatchError(ParameterError):
    """A sweep's store folder holds chunks of a different sweep."""


def digest(arrays: Iterable[Any]) -> str:
    """SHA-256 of arrays' float32 bytes (weights, a data set): a manifest's fingerprint."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, np.float32)).tobytes())
    return h.hexdigest()


class Store:
    """The chunks of one sweep in `folder` (None: nothing is kept, every chunk is computed)."""

    def __init__(self, folder: str | Path | None, manifest: dict[str, Any]) -> None:
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None:
            _open(self.folder, json.loads(json.dumps(manifest)))

    def load(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays of chunk `name` if it was finished before, else None."""
        if self.folder is None or not (self.folder / f"{name}.npz").exists():
            return None
        with np.load(self.folder / f"{name}.npz", allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def save(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Keep chunk `name` (atomically: the file appears complete or not at all)."""
        if self.folder is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
        write_bytes(self.folder / f"{name}.npz", buffer.getvalue())


def _open(folder: Path, manifest: dict[str, Any]) -> None:
    """Create the store, or check that the one there holds this very sweep."""
    path = folder / "manifest.json"
    if path.exists():
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
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob("chunk-*")):
        raise StoreMismatchError(f"{folder} holds chunks but no manifest; use another --out")
    write_bytes(path, json.dumps(manifest, indent=1).encode())
