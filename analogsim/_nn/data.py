"""Datasets: scikit-learn's bundled 8x8 digits (no download), with a fixed split."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from device_models._checks import ParameterError, check_range

from .networks import Network


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification task: features scaled to [0, 1], integer labels 0..classes-1."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example (features, or an image's (height, width, channels))."""
        return tuple(self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def validation_split(self, fraction: float = 0.1) -> Dataset:
        """The task for choosing settings: the last `fraction` of the training set held out
        as the examples it reports on, the rest to train on; the test set is not used.
        Learning rates, epochs, temperatures and budgets are chosen on this split, so the
        test set only reports."""
        check_range("fraction", fraction, 0.0, 1.0, low_open=True)
        n = self.x_train.shape[0]
        held = max(1, int(round(n * fraction)))
        if held >= n:
            raise ParameterError(f"a validation fraction of {fraction} leaves no training example")
        return Dataset(
            f"{self.name} (validation)",
            self.x_train[: n - held],
            self.y_train[: n - held],
            self.x_train[n - held :],
            self.y_train[n - held :],
        )

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


_NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | Path, *, flatten: bool = True) -> Dataset:
    """A task of the user's own from an `.npz` file with arrays `x_train`, `y_train`, `x_test`,
    `y_test`: features of any shape (used as they are: scale them to about [0, 1] for analog
    inputs) and integer labels 0..classes-1.

    With `flatten` (for the built-in networks) each example becomes one row of float32
    features; without it (for a model of the user's own) it keeps its shape, (32, 32, 3) for
    a CIFAR image, and integer features (tokens) stay integers (int32).

    Raises:
        ParameterError: a missing array, lengths that do not match, non-integer or negative
            labels, feature counts that differ, or non-finite features.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ParameterError(f"cannot read {path} as an .npz file: {err}") from None
    with archive:
        missing = [name for name in _NPZ_ARRAYS if name not in archive.files]
        if missing:
            raise ParameterError(
                f"{path} lacks array(s) {', '.join(missing)}; it needs {', '.join(_NPZ_ARRAYS)}"
            )
        arrays = {name: archive[name] for name in _NPZ_ARRAYS}
    out = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 1 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ParameterError(
                f"{path}: x_{split} has {x.shape[0] if x.ndim else 0} examples but y_{split} has "
                f"shape {y.shape}; they need the same (non-zero) length, labels one per example"
            )
        if y.dtype.kind not in "iu" and not (
            y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))
        ):
            raise ParameterError(f"{path}: y_{split} must hold integer class labels; got {y.dtype}")
        if y.min() < 0:
            raise ParameterError(f"{path}: y_{split} has negative labels; use 0..classes-1")
        if flatten:
            x = x.reshape(x.shape[0], -1)
        tokens = not flatten and x.dtype.kind in "iu"
        x = x.astype(np.int32 if tokens else np.float32)
        if not np.all(np.isfinite(x)):
            raise ParameterError(f"{path}: x_{split} contains NaN or infinity")
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.int32)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise ParameterError(
            f"{path}: x_train's examples have shape {out['x_train'].shape[1:]}, x_test's "
            f"{out['x_test'].shape[1:]}"
        )
    return Dataset(path.stem, **out)
