"""A user's JAX model on a fleet of chips, over time: `simulate` for any model.

Chip i of seed s is `to_analog(model, spec, key=chip_key(root_key(s), i))`, so its devices are
those of chip i of every other experiment, whatever the fleet size or chunking. Its reads at
time j take `stream(chip_key, "read", j)`, then each batch of test examples its own key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import xarray as xr
from jax.sharding import Mesh
from jaxtyping import Array, ArrayLike

from device_models import fold_in
from device_models._checks import check_int_range

from .._chip.program import ProgramMethod
from .._chip.spec import HardwareSpec
from .._core.keys import chip_key, root_key, stream
from .._core.progress import progress_bar
from .._model.convert import analog_call, to_analog
from .._nn.data import Dataset
from .._nn.fit_model import model_accuracy
from .fleet import fleet_map
from .mesh import chip_mesh, fleet_vmap
from .simulate import DEFAULT_TIMES, check_fleet_settings, fleet_dataset


def model_chip_accuracy(
    spec: HardwareSpec,
    model: Any,
    root: Array,
    index: Array,
    times: Array,
    x: Array,
    y: Array,
    *,
    method: ProgramMethod = "published",
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
    batch_size: int | None = None,
    regenerate_identity: bool = False,
) -> Array:
    """Test accuracy of `model` on chip `index` at each of `times` (seconds), (len(times),).

    The model is called one example at a time (`analog_call(..., in_axes=0)`), `batch_size`
    examples per read (None: the whole test set, one read of each array); `len(x)` must be a
    multiple of it. `regenerate_identity`: as `to_analog` takes it.
    """
    ck = chip_key(root, index)
    chip = to_analog(
        model,
        spec,
        key=ck,
        method=method,
        iterations=iterations,
        tolerance=tolerance,
        regenerate_identity=regenerate_identity,
    )
    return converted_accuracy(chip, times, x, y, key=ck, batch_size=batch_size)


def converted_accuracy(
    chip: Any,
    times: Array,
    x: Array,
    y: Array,
    *,
    key: Array,
    batch_size: int | None = None,
) -> Array:
    """Test accuracy of converted model `chip` (drawn from chip key `key`) at each of `times`
    (seconds), (len(times),): read j draws from `stream(key, "read", j)`, batch b of it
    from `fold_in(..., b)`. Called one example at a time, `batch_size` examples per read
    (None: the whole test set); `len(x)` must be a multiple of it."""
    n = x.shape[0]
    size = n if batch_size is None else batch_size
    xb = x.reshape(n // size, size, *x.shape[1:])
    yb = y.reshape(n // size, size)

    def at(j: Array, t: Array) -> Array:
        read = stream(key, "read", j)
        hits = jnp.int32(0)
        # unrolled, not a `lax.map`: XLA on CPU runs a convolution inside a loop 6-10x slower
        # (jax-ml/jax#12868); a test set of many batches compiles a longer program instead
        for b in range(xb.shape[0]):
            logits = analog_call(chip, xb[b], t=t, key=fold_in(read, b), in_axes=0)
            hits += jnp.sum(jnp.argmax(logits, axis=-1) == yb[b])
        return hits / n

    return jax.vmap(at)(jnp.arange(times.shape[0], dtype=jnp.uint32), times)


# `converted_accuracy` as one compiled call, for a chip measured on its own (outside a fleet
# program): one wrapper, so every caller shares its compilations
converted_accuracy_jit = eqx.filter_jit(converted_accuracy)


@eqx.filter_jit
def model_fleet_accuracy(
    spec: HardwareSpec,
    model: Any,
    root: Array,
    indices: Array,
    times: Array,
    x: Array,
    y: Array,
    method: ProgramMethod = "published",
    mesh: Mesh | None = None,
    verify: tuple[int, ArrayLike] = (10, 0.5),
    batch_size: int | None = None,
    regenerate_identity: bool = False,
) -> Array:
    """`model_chip_accuracy` of the chips `indices` (one compiled program, its chips split
    over `mesh`), shape (chips, times)."""
    iterations, tolerance = verify
    one = lambda i: model_chip_accuracy(
        spec,
        model,
        root,
        i,
        times,
        x,
        y,
        method=method,
        iterations=iterations,
        tolerance=tolerance,
        batch_size=batch_size,
        regenerate_identity=regenerate_identity,
    )
    return fleet_vmap(one, mesh)(indices)


def test_batches(data: Dataset, batch_size: int | None) -> tuple[Array, Array, int | None]:
    """The test set as `model_chip_accuracy` reads it: (x, y, batch size), trimmed to a whole
    number of batches of `batch_size` examples (None, or more than the test set: one read)."""
    n = len(data.x_test)
    if batch_size is not None:
        check_int_range("batch_size", batch_size, 1, 1 << 30)
        if batch_size >= n:
            batch_size = None
        else:
            n = n // batch_size * batch_size
    return jnp.asarray(data.x_test[:n]), jnp.asarray(data.y_test[:n]), batch_size


def simulate_model(
    spec: HardwareSpec,
    model: Any,
    data: Dataset,
    *,
    name: str = "model",
    chips: int = 16,
    times: Sequence[float] = DEFAULT_TIMES,
    seed: int = 0,
    method: ProgramMethod = "published",
    iterations: int = 10,
    tolerance: float = 0.5,
    batch_size: int | None = None,
    chunk_size: int = 1,
    progress: bool = False,
    devices: int | None = None,
    regenerate_identity: bool = False,
) -> xr.Dataset:
    """Program a digitally trained `model` onto `chips` chips and measure its test accuracy
    at each time: `simulate` for any JAX model (`to_analog`'s default weights go on
    crossbars).

    Args:
        spec, data, chips, times, seed: as `simulate` takes them.
        method, iterations, tolerance, progress, devices: as `simulate` takes them.
        model: an equinox module called one example at a time, `model(x) -> logits`.
        name: the model's name in the dataset's attributes.
        batch_size: test examples per read (None: all of them in one); the test set is
            trimmed to a multiple of it.
        chunk_size: chips per compiled call (default 1). Memory grows with chips x times
            per call: the shipped ResNet holds about 1.2 GB per chip and time on a CPU.
        regenerate_identity: draw each chip's devices again at every product instead of
            holding them (`to_analog`): the same accuracies, smaller chips, slower reads.

    Returns:
        Dataset with `accuracy` (chip, t), `digital_accuracy` and provenance attributes.
    """
    check_fleet_settings(chips, chunk_size, times, method, iterations, tolerance)
    x, y, batch_size = test_batches(data, batch_size)
    t = jnp.asarray(times, jnp.float32)
    root = root_key(seed)
    mesh = chip_mesh(devices)
    digital = model_accuracy(model, x, y)
    verify = (iterations, jnp.float32(tolerance))
    run = lambda idx: model_fleet_accuracy(
        spec, model, root, idx, t, x, y, method, mesh, verify, batch_size, regenerate_identity
    )
    with progress_bar(total=chips, desc="simulate", unit="chip", enabled=progress) as bar:
        acc = fleet_map(run, chips, chunk_size=chunk_size, progress=bar.update, mesh=mesh)
    return fleet_dataset(
        spec,
        acc,
        digital,
        times,
        data.name,
        name,
        seed,
        method,
        iterations,
        tolerance,
        test_examples=len(x),
    )
