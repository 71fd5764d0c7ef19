"""Key derivation by name and index, so a chip is the same chip whatever the fleet size."""

from __future__ import annotations

import jax
from jaxtyping import Array

from device_models import fold_in
from device_models._checks import ParameterError

# Fixed ids of the independent random streams. Never renumber: it would change every chip.
STREAMS: dict[str, int] = {
    "chips": 0,
    "identity": 1,
    "program": 2,
    "read": 3,
    "update": 4,
    "calibrate": 5,
    "train": 6,
    "verify": 7,
    "source": 8,
    "target": 9,
    "probe": 10,
    "transfer": 11,
    "settle": 12,
    "fast": 13,
    "chopper": 14,
}


def root_key(seed: int) -> Array:
    """The typed root key of an experiment."""
    return jax.random.key(seed)


def stream(key: Array, name: str, *indices: int | Array) -> Array:
    """Sub-key of `key` for the stream `name`, then for each index in turn (layer, step, ...)."""
    if name not in STREAMS:
        raise ParameterError(f"unknown key stream {name!r}; the streams are {', '.join(STREAMS)}")
    key = fold_in(key, STREAMS[name])
    for index in indices:
        key = fold_in(key, index)
    return key


def chip_key(root: Array, index: int | Array) -> Array:
    """The key of chip number `index` of an experiment: depends on nothing else."""
    return stream(root, "chips", index)
