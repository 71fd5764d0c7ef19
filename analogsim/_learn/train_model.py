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
from .._core.keys import root_key
from .._fleet.model_fleet import simulate_model, test_batches
from .._model.convert import analog_call, to_analog
from .._nn.data import Dataset
from .._nn.digital import cross_entropy
from .._nn.fit_model import digital_model_loss, fit_model, model_accuracy
from .train import training_dataset

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
    if mode == "digital":
        x, y, _ = test_batches(data, eval_batch_size)
        digital = model_accuracy(model, x, y)
        acc = np.full(chips, digital)  # bit-for-bit copies compute exactly the same
    else:  # programmed on each chip (the published procedure), read 1 s later
        fleet = simulate_model(
            spec, model, data, name=name, chips=chips, times=[1.0], seed=seed,
            batch_size=eval_batch_size, devices=devices,
        )  # fmt: skip
        acc, digital = fleet["accuracy"].values[:, 0], float(fleet["digital_accuracy"])
    loss = np.broadcast_to(epoch_loss, (chips, epochs))
    extra = {"digital_accuracy": ((), digital)}
    ds = training_dataset(
        spec, acc, loss, extra, dataset=data.name, network=name, mode=mode, seed=seed
    )
    return ds, model
