"""Named device presets."""

from __future__ import annotations

from ._base import AbstractDeviceModel
from ._checks import ParameterError
from ._ideal import Ideal
from ._pcm import PCM
from ._rram import RRAM

PRESETS: dict[str, type[AbstractDeviceModel]] = {
    "ideal": Ideal,
    "pcm": PCM,
    "rram": RRAM,
}


def get_device(name: str, **overrides: object) -> AbstractDeviceModel:
    """The preset called `name`, with any of its fields overridden by keyword.

    Raises:
        ParameterError: unknown name (the message lists the known presets) or field.
    """
    try:
        cls = PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ParameterError(f"unknown device preset {name!r}; known presets: {known}") from None
    try:
        return cls(**overrides)
    except TypeError as err:
        raise ParameterError(f"device preset {name!r}: {err}") from None


def list_devices() -> list[tuple[str, str]]:
    """(name, citation) of every preset, sorted by name."""
    return [(name, PRESETS[name].citation) for name in sorted(PRESETS)]
