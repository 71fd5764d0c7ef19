"""The tasks by name: the built-in ones and a user's `.npz` (`--dataset` on the command line)."""

from __future__ import annotations

import dataclasses

from device_models._checks import ParameterError

from .data import Dataset, load_digits, load_npz
from .images import synthetic_images
from .recall import associative_recall

BUILT_IN = ("digits", "recall", "synthetic-images")


def load_dataset(name: str, *, flatten: bool = True) -> Dataset:
    """A built-in task by name, or the path of an `.npz` file (`load_npz`, `flatten` as it
    takes it): `digits` (the embedded default), `recall` (`associative_recall`) or
    `synthetic-images` (`synthetic_images`, CIFAR-shaped)."""
    if name == "digits":
        return load_digits()
    if name == "recall":
        return associative_recall()
    if name == "synthetic-images":
        data = synthetic_images()
        if not flatten:
            return data
        rows = lambda x: x.reshape(len(x), -1)
        return dataclasses.replace(data, x_train=rows(data.x_train), x_test=rows(data.x_test))
    if not name.endswith(".npz"):
        raise ParameterError(
            f"dataset must be one of {', '.join(BUILT_IN)} or a path to an .npz file; got {name!r}"
        )
    return load_npz(name, flatten=flatten)
