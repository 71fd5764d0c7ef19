"""A trained model on disk without pickle: its arrays by equinox's leaf serialization (plain
numpy `.npy` records in tree order), its description as JSON beside them.

Loading needs the model's skeleton (the same factory on the same task), into which the saved
arrays are read: a file holds numbers, never code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import equinox as eqx

from device_models._checks import ParameterError


def save_model(path: str | Path, model: Any, info: dict[str, Any]) -> Path:
    """Write `model`'s arrays to `path` (`.eqx`) and `info` (what built and trained it) to
    `path` with suffix `.json`; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    eqx.tree_serialise_leaves(path, model)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return path


def load_model(path: str | Path, like: Any) -> Any:
    """The model saved at `path`, read into the skeleton `like` (a model of the same
    structure and shapes, from the same factory and task).

    Raises:
        ParameterError: a missing or unreadable file, or one whose arrays do not fit `like`.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"no saved model at {path}")
    try:
        return eqx.tree_deserialise_leaves(path, like)
    except (ValueError, RuntimeError, OSError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ParameterError(
            f"{path} does not hold this model's arrays (another model, task or size?): {first}"
        ) from None


def model_info(path: str | Path) -> dict[str, Any]:
    """The description saved beside the model at `path` ({} if there is none)."""
    info = Path(path).with_suffix(".json")
    if not info.is_file():
        return {}
    try:
        data = json.loads(info.read_text())
    except ValueError as err:
        raise ParameterError(f"{info} is not valid JSON: {err}") from None
    return data if isinstance(data, dict) else {}
