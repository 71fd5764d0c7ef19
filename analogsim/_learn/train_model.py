"""`train` for any JAX model: digitally, or hardware-aware (through a fresh chip per batch),
then measured on a fleet of chips.

In-situ training of a user's model (its conductances updated by pulses on one chip) is not
here yet: `train` runs it for the built-in networks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, ArrayLike

from device_models import fold_in
from device_models._checks import ParameterError, check_nonnegative

from .._chip.spec import HardwareSpec
from .._core.dataset import experiment_dataset
from .._core.keys import root_key
from .._fleet.fleet import fleet_map
from .._fleet.mesh import chip_mesh
from .._fleet.model_fleet import model_fleet_accuracy, test_batches
from .._model.convert import analog_call, to_analog
from .._nn.data import Dataset
from .._nn.digital import cross_entropy
from .._nn.fit_model import digital_model_loss, fit_model, model_accuracy

MODEL_MODES = ("digital", "hardware-aware")


def hardware_aware_model_loss(
    spec: HardwareSpec, t: Array, model: Any, x: Array, y: Array, key: Array
) -> Array:
    """Cross-entropy of `model` programmed (the preset's published procedure) on a fresh chip
    drawn from `fold_in(key, 0)` and read `t` seconds later with `fold_in(key, 2)`: the
    gradient flows through programming and reading to the float weights."""
    chip = to_analog(model, spec, key=fold_in(key, 0), method="published")
    logits = analog_call(chip, x, t=t, key=fold_in(key, 2), in_axes=0)
    return cross_entropy(logits, y)


def train_model(
    spec: HardwareSpec,
    model: Any,
    data: Dataset,
    *,
    mode: str = "hardware-aware",
    name: str = "model",
    chips: int = 4,
    epochs: int = 10,
    seed: int = 0,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    t: ArrayLike = 1.0,
    eval_batch_size: int | None = 500,
    progress: bool = False,
    devices: int | None = None,
) -> tuple[xr.Dataset, Any]:
    """Train `model` by `mode` (`fit_model`, AdamW) and measure it on `chips` chips.

    Args:
        mode: "digital" (float weights; its chips are bit-for-bit digital copies) or
            "hardware-aware" (every batch through a fresh chip read `t` s after programming;
            then programmed on each of `chips` chips, published procedure, read at 1 s).
        name: the model's name in the dataset's attributes.
        eval_batch_size: test examples per read on the chips (`simulate_model`).

    Returns:
        (dataset with `test_accuracy` (chip), `loss` (chip, epoch) and `digital_accuracy`, as
        `train` writes it; the trained model).
    """
    if mode not in MODEL_MODES:
        raise ParameterError(
            f"mode must be one of {', '.join(MODEL_MODES)} for a JAX model; got {mode!r} "
            "(in-situ training runs the built-in networks)"
        )
    check_nonnegative("t", t, unit="s")
    loss = digital_model_loss
    if mode == "hardware-aware":
        loss = jax.tree_util.Partial(hardware_aware_model_loss, spec, jnp.float32(t))
    model, epoch_loss = fit_model(
        model,
        data,
        loss,
        key=root_key(seed),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        progress=progress,
        desc=f"{mode} training",
    )
    x, y, size = test_batches(data, eval_batch_size)
    digital = model_accuracy(model, x, y)
    if mode == "digital":
        acc = np.full(chips, digital)  # bit-for-bit copies compute exactly the same
    else:
        root, mesh, one_second = root_key(seed), chip_mesh(devices), jnp.ones(1, jnp.float32)
        run = lambda idx: model_fleet_accuracy(
            spec, model, root, idx, one_second, x, y, "published", mesh, (10, 0.5), size
        )
        acc = fleet_map(run, chips, chunk_size=1, mesh=mesh)[:, 0]
    ds = experiment_dataset(
        {
            "test_accuracy": (("chip",), np.asarray(acc, np.float64)),
            "loss": (("chip", "epoch"), np.broadcast_to(epoch_loss, (chips, epochs)).copy()),
            "digital_accuracy": ((), digital),
        },
        {"chip": np.arange(chips), "epoch": np.arange(1, epochs + 1)},
        labels={
            "test_accuracy": ("1", f"test accuracy on {data.name}"),
            "loss": ("1", "mean training cross-entropy"),
            "digital_accuracy": ("1", "digital (float) test accuracy"),
        },
        spec=spec,
        experiment="train",
        training_mode=mode,
        network=name,
        dataset=data.name,
        seed=seed,
        chips=chips,
        epochs=epochs,
    )
    return ds, model
