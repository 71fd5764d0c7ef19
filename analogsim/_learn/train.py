"""The train experiment: digital, hardware-aware or in-situ training, on one chip or a fleet."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import ArrayLike

from device_models._checks import ParameterError, check_int_range, check_range

from .._chip.spec import HardwareSpec
from .._core.dataset import experiment_dataset
from .._core.keys import chip_key, root_key, stream
from .._core.progress import progress_bar
from .._fleet.fleet import fleet_accuracy, fleet_map, take
from .._fleet.members import Members
from .._fleet.mesh import chip_mesh
from .._nn.data import Dataset
from .._nn.digital import accuracy, digital_loss, fit
from .._nn.networks import Network, apply_digital, init_params
from .algorithms import SGD, Algorithm, algorithm_attrs, check_algorithm
from .hardware_aware import train_hardware_aware
from .in_situ import check_in_situ_spec
from .in_situ_fleet import learn_fleet
from .saved_state import SavedChip, SavedNetwork
from .tiki_taka import without_fast_arrays

Mode = Literal["in-situ", "hardware-aware", "digital"]
MODES = ("in-situ", "hardware-aware", "digital")


def train_in_situ(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    *,
    chips: int = 4,
    epochs: int = 10,
    seed: int = 0,
    batch_size: int = 16,
    learning_rate: float = 0.2,
    max_pulses: int = 31,
    progress: bool = False,
    devices: int | None = None,
    algorithm: Algorithm = SGD,
) -> dict[str, np.ndarray]:
    """Train `chips` chips in situ in one vmapped run, all from the same start and data order,
    by `algorithm` (plain pulsed SGD by default; `get_algorithm`).

    Chip i is `chip_key(root_key(seed), i)`; the starting weights come from
    `stream(root, "train", 0)` and epoch e's shuffle from `stream(root, "train", 1, e)`.
    The chips are split over `devices` devices (all by default; `chip_mesh`).

    Returns:
        Dict of arrays: `test_accuracy` (chips,), `loss` (chips, epochs), `pulses`
        (chips,), `epoch_seconds` (epochs,; the first includes compilation), and
        `state`/`chip` pytrees with a leading chip axis.

    Raises:
        TrainingError: a step produced a non-finite conductance or loss (names layer, step).
    """
    check_int_range("chips", chips, 1, 10**6)
    check_int_range("epochs", epochs, 1, 10**6)
    check_int_range("batch_size", batch_size, 1, 1 << 20)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    spec = check_in_situ_spec(spec)
    check_algorithm(spec, algorithm)
    data = data.for_network(net)
    root = root_key(seed)
    params0 = init_params(net, key=stream(root, "train", 0))
    mesh = chip_mesh(devices)
    keys = jax.vmap(lambda i: chip_key(root, i))(jnp.arange(chips, dtype=jnp.uint32))
    desc = f"in-situ training ({algorithm.name})"
    with progress_bar(total=epochs, desc=desc, unit="epoch", enabled=progress) as bar:
        return learn_fleet(
            spec,
            net,
            params0,
            keys,
            (jnp.asarray(data.x_train), jnp.asarray(data.y_train)),
            (jnp.asarray(data.x_test), jnp.asarray(data.y_test)),
            stream(root, "train", 1),
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_pulses=max_pulses,
            on_epoch=lambda: bar.update(1),
            members=Members(mesh=mesh),
            algorithm=algorithm,
        )


def train(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    *,
    mode: Mode = "in-situ",
    chips: int = 4,
    epochs: int = 10,
    seed: int = 0,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    progress: bool = False,
    devices: int | None = None,
    return_saved: bool = False,
    algorithm: Algorithm = SGD,
) -> xr.Dataset | tuple[xr.Dataset, list[SavedChip] | SavedNetwork]:
    """Train by `mode` and measure test accuracy on `chips` chips.

    - in-situ: each chip learns on itself (`train_in_situ`), SGD, batch 16, lr 0.2, its
      change fired by `algorithm` (straight at the weights, or through a Tiki-Taka fast
      array);
    - hardware-aware: one set of float weights trained through a fresh chip per batch (Adam,
      batch 64, lr 3e-3), then programmed onto each chip (the preset's published procedure)
      and read at t = 1 s;
    - digital: float weights (Adam), copied bit for bit to `chips` digital replicas.

    The chips are split over `devices` devices (all JAX sees by default); identities are the
    same bits on any count, trained numbers agree as in-situ training allows (`_fleet.mesh`). With
    `return_saved`, also returns what training made, ready for `save_chip`/`save_network`:
    each in-situ chip (`SavedChip`: spec, key, identity, conductance state), or the trained
    network (`SavedNetwork`).

    Returns:
        Dataset: `test_accuracy` (chip), `loss` (chip, epoch), `digital_accuracy`, and for
        in-situ `pulses` (chip): pulses fired per chip over the run.
    """
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    check_int_range("chips", chips, 1, 10**6)
    check_int_range("epochs", epochs, 1, 10**6)
    data_n = data.for_network(net)
    x_test, y_test = jnp.asarray(data_n.x_test), jnp.asarray(data_n.y_test)
    extra = {}
    if mode == "in-situ":
        out = train_in_situ(
            spec,
            net,
            data,
            chips=chips,
            epochs=epochs,
            seed=seed,
            batch_size=batch_size or 16,
            learning_rate=learning_rate or 0.2,
            progress=progress,
            devices=devices,
            algorithm=algorithm,
        )
        acc, loss = out["test_accuracy"], out["loss"]
        extra["pulses"] = (("chip",), out["pulses"])
        if return_saved:  # one chip at a time out of the fleet: only when asked
            in_situ_spec, root = check_in_situ_spec(spec), root_key(seed)
            saved: list[SavedChip] | SavedNetwork = [
                SavedChip(
                    in_situ_spec,
                    net,
                    chip_key(root, i),
                    *without_fast_arrays(take(out["chip"], i), take(out["state"], i)),
                    {
                        "made_by": "train in-situ",
                        "seed": seed,
                        "chip": i,
                        "epochs": epochs,
                        **algorithm_attrs(algorithm),
                    },
                )
                for i in range(chips)
            ]
    else:
        with progress_bar(total=1, desc=f"{mode} training", unit="run", enabled=progress) as bar:
            if mode == "digital":
                params, epoch_loss = fit(
                    net,
                    data,
                    jax.tree_util.Partial(digital_loss, net),
                    key=root_key(seed),
                    epochs=epochs,
                    batch_size=batch_size or 64,
                    learning_rate=learning_rate or 3e-3,
                )
            else:
                params, epoch_loss = train_hardware_aware(
                    spec,
                    net,
                    data,
                    key=root_key(seed),
                    epochs=epochs,
                    batch_size=batch_size or 64,
                    learning_rate=learning_rate or 3e-3,
                )
            bar.update(1)
        info = {"made_by": f"train {mode}", "seed": seed, "epochs": epochs}
        saved = SavedNetwork(net, jax.tree.map(np.asarray, list(params)), info)
        loss = np.broadcast_to(epoch_loss, (chips, epochs))
        digital = float(accuracy(apply_digital(net, params, x_test), y_test))
        if mode == "digital":
            acc = np.full(chips, digital)  # bit-for-bit copies compute exactly the same
        else:
            t = jnp.ones(1, jnp.float32)  # read 1 s after programming
            root, mesh = root_key(seed), chip_mesh(devices)
            run = lambda idx: fleet_accuracy(
                spec, net, params, root, idx, t, x_test, y_test, "published", mesh
            )
            acc = fleet_map(run, chips, chunk_size=chips, mesh=mesh)[:, 0]
    ds = training_dataset(
        spec, acc, loss, extra, dataset=data.name, network=net.name, mode=mode, seed=seed
    )
    if mode == "in-situ":
        ds.attrs.update(algorithm_attrs(algorithm))
    return (ds, saved) if return_saved else ds


def training_dataset(
    spec: HardwareSpec,
    acc: ArrayLike,
    loss: ArrayLike,
    extra: dict[str, tuple[tuple[str, ...], object]],
    *,
    dataset: str,
    network: str,
    mode: str,
    seed: int,
) -> xr.Dataset:
    """The dataset of a training run: `test_accuracy` (chip) from `acc`, `loss` (chip, epoch)
    from `loss`, the variables of `extra` (name -> (dims, values)), labels and provenance."""
    chips, epochs = np.shape(loss)
    return experiment_dataset(
        {
            "test_accuracy": (("chip",), np.asarray(acc, np.float64)),
            "loss": (("chip", "epoch"), np.asarray(loss, np.float64)),
            **extra,
        },
        {"chip": np.arange(chips), "epoch": np.arange(1, epochs + 1)},
        labels={
            "test_accuracy": ("1", f"test accuracy on {dataset}"),
            "loss": ("1", "mean training cross-entropy"),
            "pulses": ("1", "programming pulses fired"),
            "digital_accuracy": ("1", "digital (float) test accuracy"),
        },
        spec=spec,
        experiment="train",
        training_mode=mode,
        network=network,
        dataset=dataset,
        seed=seed,
        chips=chips,
        epochs=epochs,
    )
