"""The simulate experiment: a digitally trained network on a fleet of chips, over time."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array

from device_models._checks import ParameterError, check_int_range, check_nonnegative

from .._chip.program import ProgramMethod, check_verify_settings
from .._chip.spec import HardwareSpec
from .._core.dataset import experiment_dataset
from .._core.keys import root_key
from .._core.progress import progress_bar
from .._nn.data import Dataset
from .._nn.digital import accuracy
from .._nn.networks import Network, apply_digital
from .fleet import fleet_accuracy, fleet_map
from .mesh import chip_mesh

DEFAULT_TIMES = (1.0, 3600.0, 86400.0, 2592000.0, 31536000.0)


def simulate(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    data: Dataset,
    *,
    chips: int = 16,
    times: Sequence[float] = DEFAULT_TIMES,
    seed: int = 0,
    method: ProgramMethod = "published",
    iterations: int = 10,
    tolerance: float = 0.5,
    chunk_size: int = 64,
    progress: bool = False,
    devices: int | None = None,
) -> xr.Dataset:
    """Program `params` onto `chips` chips and measure test accuracy at each time.

    Args:
        spec: hardware spec (device preset, periphery, `variation`).
        net, params: the network and its digitally trained weights.
        data: the task; its test set is evaluated.
        chips: fleet size; chip i is `chip_key(root_key(seed), i)` whatever the fleet size.
        times: seconds after programming at which the chips are read.
        seed: root seed of the chips.
        method: "published", "open-loop" or "verify" (`program_chip`).
        iterations, tolerance: the verify loop's rounds and accepted error (uS), for
            `method="verify"`.
        chunk_size: chips per compiled call (bounds memory; results do not depend on it).
        progress: show a progress bar over chips.
        devices: each chunk's chips are split over this many devices (all JAX sees by
            default; `chip_mesh`); results agree across counts to float32 rounding.

    Returns:
        Dataset with `accuracy` (chip, t), `digital_accuracy` (scalar) and provenance attrs.
    """
    check_fleet_settings(chips, chunk_size, times, method, iterations, tolerance)
    data = data.for_network(net)
    x, y = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    t = jnp.asarray(times, jnp.float32)
    root = root_key(seed)
    mesh = chip_mesh(devices)
    digital = float(accuracy(apply_digital(net, params, x), y))

    verify = (iterations, jnp.float32(tolerance))  # traced: a new tolerance does not recompile
    run = lambda idx: fleet_accuracy(spec, net, params, root, idx, t, x, y, method, mesh, verify)
    with progress_bar(total=chips, desc="simulate", unit="chip", enabled=progress) as bar:
        acc = fleet_map(run, chips, chunk_size=chunk_size, progress=bar.update, mesh=mesh)
    return fleet_dataset(
        spec, acc, digital, times, data.name, net.name, seed, method, iterations, tolerance
    )


def check_fleet_settings(
    chips: int,
    chunk_size: int,
    times: Sequence[float],
    method: str,
    iterations: int,
    tolerance: float,
) -> None:
    """The checks of a fleet over time's settings, before any work."""
    check_int_range("chips", chips, 1, 10**9)
    check_int_range("chunk_size", chunk_size, 1, 10**9)
    if len(times) == 0:
        raise ParameterError("times must hold at least one time")
    check_nonnegative("times", np.asarray(times, np.float64), unit="s")
    if method == "verify":  # here: inside the compiled fleet the tolerance is traced
        check_verify_settings(iterations=iterations, tolerance=tolerance)


def fleet_dataset(
    spec: HardwareSpec,
    acc: np.ndarray,
    digital: float,
    times: Sequence[float],
    dataset: str,
    network: str,
    seed: int,
    method: str,
    iterations: int,
    tolerance: float,
    **extra: object,
) -> xr.Dataset:
    """The dataset of a fleet over time: `accuracy` (chip, t) from `acc`, `digital_accuracy`,
    labels and provenance (`extra`: more attributes)."""
    return experiment_dataset(
        {
            "accuracy": (("chip", "t"), acc.astype(np.float64)),
            "digital_accuracy": ((), digital),
        },
        {"chip": np.arange(acc.shape[0]), "t": np.asarray(times, np.float64)},
        labels=accuracy_labels(dataset),
        spec=spec,
        experiment="simulate",
        network=network,
        dataset=dataset,
        seed=seed,
        chips=acc.shape[0],
        program_method=method,
        **verify_attrs(method, iterations, tolerance),
        **extra,
    )


def verify_attrs(method: str, iterations: int, tolerance: float) -> dict[str, object]:
    """The verify loop's settings as dataset attributes, when the loop ran."""
    if method != "verify":
        return {}
    return {"verify_iterations": iterations, "verify_tolerance_uS": float(tolerance)}


def accuracy_labels(dataset: str) -> dict[str, tuple[str, str]]:
    """Labels (`_core.dataset`) of `t`, `accuracy` and `digital_accuracy` on `dataset`."""
    return {
        "t": ("s", "time since programming"),
        "accuracy": ("1", f"test accuracy on {dataset}"),
        "digital_accuracy": ("1", "digital (float) test accuracy"),
    }
