"""Datasets: scikit-learn's bundled 8x8 digits (no download), with a fixed split."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ._networks import Network


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification task: features scaled to [0, 1], integer labels 0..classes-1."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def for_network(self, net: Network) -> Dataset:
        """The same data reshaped to the network's input shape."""
        shape = (-1, *net.input_shape)
        return dataclasses.replace(
            self, x_train=self.x_train.reshape(shape), x_test=self.x_test.reshape(shape)
        )


@functools.cache
def load_digits() -> Dataset:
    """The 1797 8x8 digits of scikit-learn (bundled with it), pixels scaled to [0, 1].

    The split is fixed (25% test, stratified, random_state 0), whatever the experiment seed:
    1347 training and 450 test images.
    """
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return Dataset("digits", x_tr, y_tr, x_te, y_te)
