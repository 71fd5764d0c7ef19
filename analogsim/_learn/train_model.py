"""`train` for any JAX model: digitally, hardware-aware (through a fresh chip per batch) or
in situ (each chip learning on itself by pulses), then measured on a fleet of chips."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, ArrayLike

from device_models import fold_in
from device_models._checks import ParameterError, check_int_range, check_nonnegative

from .._chip.spec import HardwareSpec
from .._core.keys import chip_key, root_key
from .._fleet.model_fleet import converted_accuracy_jit, simulate_model, test_batches
from .._model.convert import analog_call, to_analog
from .._nn.data import Dataset
from .._nn.digital import cross_entropy
from .._nn.fit_model import digital_model_loss, fit_model, model_accuracy
from .algorithms import SGD, Algorithm, algorithm_attrs, check_algorithm
from .fit_in_situ import fit_model_in_situ
from .model_in_situ import with_model_fast_arrays, without_model_fast_arrays
from .train import training_dataset

MODEL_MODES = ("digital", "hardware-aware", "in-situ")

# (batch size, learning rate) when not given: AdamW's for fit_model, SGD's in situ
DEFAULT_SCHEDULE = {"digital": (128, 1e-3), "hardware-aware": (128, 1e-3), "in-situ": (16, 0.05)}


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
    batch_size: int | None = None,
    learning_rate: float | None = None,
    weight_decay: float = 0.0,
    t: ArrayLike = 1.0,
    eval_batch_size: int | None = 500,
    progress: bool = False,
    devices: int | None = None,
    algorithm: Algorithm = SGD,
) -> tuple[xr.Dataset, Any]:
    """Train `model` by `mode` and measure it on `chips` chips.

    Args:
        mode: "digital" (float weights, `fit_model`'s AdamW; its chips are bit-for-bit
            digital copies), "hardware-aware" (AdamW, every batch through a fresh chip read
            `t` s after programming; then programmed on each of `chips` chips, published
            procedure, read at 1 s) or "in-situ" (`model` written onto each chip
            `chip_key(root_key(seed), i)` in the in-situ mapping, then trained there by
            `fit_model_in_situ`, SGD's change fired as pulses by `algorithm`, read `t` s
            after programming; measured on itself at 1 s; `spec` needs a pulsed preset).
        algorithm: in situ only: how the change reaches the devices (`get_algorithm`;
            plain SGD by default). A Tiki-Taka one learns through fast arrays drawn from
            each chip's key (`with_model_fast_arrays`); the chips returned hold their
            weights' arrays alone.
        batch_size, learning_rate: None: 128 and 1e-3 (AdamW), 16 and 0.05 in situ (SGD).
        name: the model's name in the dataset's attributes.
        eval_batch_size: test examples per read on the chips (`simulate_model`).

    Returns:
        (dataset with `test_accuracy` (chip), `loss` (chip, epoch) and `digital_accuracy`
        (in situ: `pulses` (chip) instead), as `train` writes it; the trained model, or in
        situ the list of trained chips, converted models for `save_model`).
    """
    if mode not in MODEL_MODES:
        raise ParameterError(
            f"mode must be one of {', '.join(MODEL_MODES)} for a JAX model; got {mode!r}"
        )
    check_nonnegative("t", t, unit="s")
    default_batch, default_rate = DEFAULT_SCHEDULE[mode]
    batch_size = batch_size or default_batch
    learning_rate = learning_rate or default_rate
    if mode != "in-situ" and algorithm.tiki_taka:
        raise ParameterError(f"algorithm {algorithm.name!r} trains in situ: use mode 'in-situ'")
    if mode == "in-situ":
        return _train_in_situ(
            spec, model, data, name=name, chips=chips, epochs=epochs, seed=seed,
            batch_size=batch_size, learning_rate=learning_rate, t=t,
            eval_batch_size=eval_batch_size, progress=progress, algorithm=algorithm,
        )  # fmt: skip
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


def _train_in_situ(
    spec: HardwareSpec,
    model: Any,
    data: Dataset,
    *,
    name: str,
    chips: int,
    epochs: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    t: ArrayLike,
    eval_batch_size: int | None,
    progress: bool,
    algorithm: Algorithm,
) -> tuple[xr.Dataset, list[Any]]:
    """`train_model`'s in-situ mode: one chip after another (a chip's training is a long
    loop of small compiled steps; they share one compiled step)."""
    check_int_range("chips", chips, 1, 10**6)
    check_algorithm(spec, algorithm)
    root = root_key(seed)
    x, y, per_read = test_batches(data, eval_batch_size)
    at_1s = jnp.ones(1, jnp.float32)
    trained, acc, loss, pulses = [], [], [], []
    for i in range(chips):
        key = chip_key(root, i)
        chip = to_analog(model, spec, key=key, method="in-situ")
        if algorithm.tiki_taka:
            chip = with_model_fast_arrays(chip, algorithm, key=key)
        chip, epoch_loss, fired, _ = fit_model_in_situ(
            chip, data, key=key, epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, t=t, algorithm=algorithm, progress=progress,
            desc=f"in-situ training ({algorithm.name}), chip {i + 1}/{chips}",
        )  # fmt: skip
        chip = without_model_fast_arrays(chip)
        measured = converted_accuracy_jit(chip, at_1s, x, y, key=key, batch_size=per_read)
        trained.append(chip)
        acc.append(float(measured[0]))
        loss.append(epoch_loss)
        pulses.append(fired)
    extra = {"pulses": (("chip",), np.asarray(pulses, np.int64))}
    ds = training_dataset(
        spec, acc, np.stack(loss), extra, dataset=data.name, network=name, mode="in-situ",
        seed=seed,
    )  # fmt: skip
    ds.attrs.update(algorithm_attrs(algorithm))
    return ds, trained
