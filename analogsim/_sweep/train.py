"""Sweeps of in-situ training: every (grid point, chip) pair learns on itself, in one program.

Each pair is one member of a vmapped fleet (`train_fleet`) with its own parameter values, so
a grid over traced numbers (any spec parameter, and the learning rate) compiles once per
shape. Chip i is `chip_key(root_key(seed), i)`, starts from the weights of
`stream(root, "train", 0)` and sees the data in the order of `stream(root, "train", 1)` at
every point, as in `train_in_situ`: points differ by the parameter, not by luck.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array

from device_models._checks import check_int_range, check_range

from .._chip.spec import HardwareSpec
from .._chip.sweepable import units
from .._core.dataset import experiment_dataset
from .._core.keys import chip_key, root_key, stream
from .._fleet.members import Members
from .._fleet.mesh import chip_mesh, to_host
from .._learn.algorithms import SGD, Algorithm, algorithm_attrs, check_algorithm
from .._learn.in_situ import check_in_situ_spec
from .._learn.in_situ_fleet import learn_fleet
from .._nn.data import Dataset
from .._nn.networks import Network, init_params
from .chunks import run_pairs
from .grid import grid_labels, make_grid, sweep_manifest
from .store import digest

DEFAULT_CHUNK = 64  # pairs trained together; memory is small, compute grows with the chunk


def sweep_train(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    grid: dict[str, Sequence[float]],
    *,
    chips: int = 16,
    seed: int = 0,
    epochs: int = 10,
    batch_size: int = 16,
    learning_rate: float = 0.2,
    max_pulses: int = 31,
    chunk_size: int = DEFAULT_CHUNK,
    store: str | Path | None = None,
    progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    devices: int | None = None,
    algorithm: Algorithm = SGD,
) -> xr.Dataset:
    """Train `chips` chips in situ at every point of `grid` and measure them.

    Args:
        spec: a pulsed hardware spec (`spec_for` of a pulsed preset).
        net, data: the network and task.
        grid: parameter name -> values; any name of `sweepable(spec)`, a shape-deciding
            setting of `STATIC`, or `learning_rate` (traced, like the spec's numbers).
        chips: chips per grid point; chip i is the same chip at every point.
        epochs, batch_size, learning_rate, max_pulses, algorithm: as for `train_in_situ`
            (plain pulsed SGD by default).
        chunk_size: (grid point, chip) pairs trained together in one vmapped run.
        store: folder for finished chunks and their manifest (resumable); None keeps all in
            memory.
        on_chunk: called with the number of chunks finished so far.
        devices: each chunk's pairs are split over this many devices (all JAX sees by
            default); the store does not depend on it; results agree as in-situ training
            allows (`_fleet.mesh`: a rounding difference can fire a pulse more or less).

    Returns:
        Dataset with `test_accuracy` (one dim per swept parameter, then `chip`; read 1 s
        after training), `loss` (..., chip, epoch; mean training cross-entropy per epoch)
        and `pulses` (..., chip; update pulses fired), units and provenance attributes.

    Raises:
        ParameterError: no pulse response, an unknown parameter (the message lists the
            sweepable ones), an empty grid or a value out of range.
        StoreMismatchError: `store` holds chunks of another sweep (left untouched).
        TrainingError: a pair went non-finite (the message names its grid point and chip).
    """
    spec = check_in_situ_spec(spec)
    check_algorithm(spec, algorithm)
    check_int_range("chips", chips, 1, 10**6)
    check_int_range("epochs", epochs, 1, 10**6)
    check_int_range("batch_size", batch_size, 1, 1 << 20)
    check_int_range("chunk_size", chunk_size, 1, 1 << 20)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    mesh = chip_mesh(devices)
    g = make_grid(spec, grid, traced_settings=("learning_rate",))
    for rate in g.values.get("learning_rate", []):
        check_range("learning_rate", rate, 0.0, low_open=True)
    data = data.for_network(net)
    root = root_key(seed)
    params0 = init_params(net, key=stream(root, "train", 0))
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    names = tuple(n for n in g.traced if n != "learning_rate")
    columns = [g.traced.index(n) for n in names]
    rate_column = g.traced.index("learning_rate") if "learning_rate" in g.traced else None
    chunk_size = min(chunk_size, g.points.shape[0] * chips)
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "max_pulses": max_pulses,
        **algorithm_attrs(algorithm),
    }
    manifest = {
        **sweep_manifest(spec, "train", g, chips, seed, chunk_size, network=net),
        **settings,
        "train_set_sha256": digest([data.x_train, data.y_train]),
        "test_set_sha256": digest([data.x_test, data.y_test]),
    }

    def compute(group_spec: HardwareSpec, values: Array, index: Array, tick: Any) -> Any:
        keys = jax.vmap(lambda i: chip_key(root, i))(index)
        vals = values[:, jnp.asarray(columns, jnp.int32)]
        rate = learning_rate if rate_column is None else values[:, rate_column]

        def member(c: int) -> str:
            pairs = zip(g.traced, to_host(values)[c], strict=True)
            where = ", ".join(f"{n} = {float(v):g}" for n, v in pairs)
            return f"{where + ', ' if where else ''}chip {int(to_host(index)[c])}"

        out = learn_fleet(
            group_spec,
            net,
            params0,
            keys,
            (x, y),
            (x_test, y_test),
            stream(root, "train", 1),
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=rate,
            max_pulses=max_pulses,
            on_epoch=tick,
            members=Members(names, vals, mesh),
            member=member,
            algorithm=algorithm,
        )
        return {k: out[k] for k in ("test_accuracy", "loss", "pulses")}

    swept = list(g.values)
    labels = {
        **grid_labels(g),
        "learning_rate": (units("learning_rate"), "SGD step on the weight scale"),
        "test_accuracy": ("1", f"test accuracy on {data.name} after in-situ training"),
        "loss": ("1", "mean training cross-entropy"),
        "pulses": ("1", "update pulses fired"),
    }
    out = run_pairs(
        spec,
        g,
        chips,
        chunk_size,
        compute,
        store=store,
        manifest=manifest,
        dims={"test_accuracy": (), "loss": ("epoch",), "pulses": ()},
        coords={"epoch": np.arange(1, epochs + 1)},
        labels=labels,
        progress=progress,
        desc="sweep train",
        steps_per_chunk=epochs,
        unit="epoch",
        on_chunk=on_chunk,
        mesh=mesh,
    )
    dims = [*g.static, *g.traced, "chip"]
    ds = experiment_dataset(
        {
            "test_accuracy": (dims, out["test_accuracy"].astype(np.float64)),
            "loss": ((*dims, "epoch"), out["loss"].astype(np.float64)),
            "pulses": (dims, out["pulses"].astype(np.float64)),
        },
        {
            **{n: np.asarray(v, np.float64) for n, v in g.values.items()},
            "chip": np.arange(chips),
            "epoch": np.arange(1, epochs + 1),
        },
        labels=labels,
        spec=spec,
        experiment="sweep",
        swept_experiment="train",
        training_mode="in-situ",
        swept=swept,
        network=net.name,
        dataset=data.name,
        seed=seed,
        chips=chips,
        chunk_size=chunk_size,
        **settings,
    )
    return ds.transpose(*swept, "chip", "epoch")
