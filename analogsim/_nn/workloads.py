"""The shipped workloads: a model factory, the task it is trained on, and its training
schedule, by name (`--model NAME` on the command line).

A factory is `factory(data, *, key) -> model`: it sizes the model from the task (its
example shape, vocabulary, classes) and initializes it from `key`. A user's own factory
(`--model FILE.py:FACTORY`) has the same signature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from jaxtyping import Array

from device_models._checks import ParameterError

from .data import Dataset

Factory = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Workload:
    """A shipped model: its factory, default task and training schedule (AdamW, `fit_model`)."""

    name: str
    factory: Factory
    dataset: str
    epochs: int
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    description: str = ""


def transformer_for(data: Dataset, *, key: Array) -> Any:
    """A 2-block, 64-wide decoder-only transformer sized to a token task (vocabulary from
    the largest token, length from the sequences, classes from the labels)."""
    from .transformer import transformer

    x = np.asarray(data.x_train)
    if x.ndim != 2 or x.dtype.kind not in "iu":
        raise ParameterError(
            f"the transformer takes token sequences, (examples, length) integers; the dataset "
            f"{data.name!r} has examples of shape {x.shape[1:]} {x.dtype}"
        )
    vocab = int(max(x.max(), np.asarray(data.x_test).max())) + 1
    return transformer(vocab=vocab, length=x.shape[1], classes=data.classes, key=key)


def resnet_for(data: Dataset, *, key: Array) -> Any:
    """A ResNet-8-style CNN (16, 32, 64 channels) sized to an image task."""
    from .resnet import resnet

    shape = data.input_shape
    if len(shape) != 3:
        raise ParameterError(
            f"the resnet takes images, (examples, height, width, channels); the dataset "
            f"{data.name!r} has examples of shape {shape}"
        )
    return resnet(key=key, classes=data.classes, image=shape)


WORKLOADS: dict[str, Workload] = {
    "transformer": Workload(
        "transformer",
        transformer_for,
        dataset="recall",
        epochs=10,
        weight_decay=0.01,
        description="decoder-only transformer, 2 blocks x 64 wide, on associative recall",
    ),
    "resnet": Workload(
        "resnet",
        resnet_for,
        dataset="synthetic-images",
        epochs=5,
        learning_rate=2e-3,
        description="ResNet-8-style CNN with GroupNorm on CIFAR-shaped images",
    ),
}


def get_workload(name: str) -> Workload:
    """The shipped workload `name`."""
    if name not in WORKLOADS:
        raise ParameterError(f"unknown model {name!r}; shipped models: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]
