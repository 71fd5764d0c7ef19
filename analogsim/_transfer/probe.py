"""A programmed layer measured from outside: effective weights probed through its converters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from device_models import fold_in

from .._chip.identity import LayerIdentity
from .._chip.read import read_conductances
from .._chip.spec import HardwareSpec
from .._chip.state import LayerState
from .._chip.tile import analog_mvm
from .._core.precision import matmul


def probe_weights(
    spec: HardwareSpec,
    layer: LayerIdentity,
    state: LayerState,
    *,
    key: Array,
    t: ArrayLike = 1.0,
    batches: int = 8,
) -> Float[Array, "rows cols"]:
    """The layer's effective weight matrix as its own converters report it.

    Each batch drives the rows with `rows` random +-1 (full-scale) input vectors and one zero
    vector, through the DACs, the array (one read: read noise, read gain) and the ADCs
    (gain, offset, noise, quantization); the zero vector's output is subtracted (offsets)
    and the weights are the least-squares solution over all `batches * rows` probes. Random
    sign probes use the ADC range far better than one row at a time, where an 8-bit ADC's
    step is a tenth of a full-span weight. At full scale (|v| = 1) every device's I-V law
    is exactly linear, so this is the matrix a verify read would see, not the one a compute
    read at lower voltages sees.

    Args:
        spec, layer, state: the layer as programmed.
        key: probe key; batch b takes `fold_in(key, b)`.
        t: seconds after programming.
        batches: number of probe batches (static); costs `batches * (rows + 1)` read cycles.

    Returns:
        Effective weights (rows, cols) in normalized output units per unit of DAC input (a
        device pair at the full conductance span reads 1).
    """
    rows = layer.devices.g_max.shape[1]

    def batch(k: Array) -> tuple[Array, Array]:
        signs = jax.random.rademacher(fold_in(k, 0), (rows, rows), jnp.float32)
        x = jnp.concatenate([signs, jnp.zeros((1, rows), jnp.float32)])
        g = read_conductances(spec, layer, state, t, key=fold_in(k, 1))
        y = analog_mvm(spec, layer, g, x, key=fold_in(k, 2))
        return signs, y[:-1] - y[-1]

    signs, outputs = jax.vmap(lambda b: batch(fold_in(key, b)))(jnp.arange(batches))
    x = signs.reshape(-1, rows)
    y = outputs.reshape(x.shape[0], -1)
    # normal equations: x has (batches * rows) random sign rows, well conditioned
    return solve_each(matmul(x.T, x), matmul(x.T, y))


def probe_cycles(rows: int, batches: int = 8) -> int:
    """Read cycles (one input vector applied to the array) that `probe_weights` spends."""
    return batches * (rows + 1)


@jax.custom_batching.custom_vmap
def solve_each(a: Float[Array, "n n"], b: Float[Array, "n k"]) -> Float[Array, "n k"]:
    """`jnp.linalg.solve(a, b)`, and under `vmap` one system after another (`lax.map`).

    Why: a batch of systems is one LAPACK call whose batch jaxlib splits over XLA's CPU
    thread pool and then waits for, from inside a thread of that same pool. With a fleet split
    over one CPU device per core, every device's program reaches that call at once, each
    thread waits for work queued behind the others, and the process hangs (seen in `transfer`
    on two CPU devices). One system at a time never waits on the pool. LAPACK factors each
    system of a batch on its own, so the solve gives the same bits; XLA may lay out the
    products that feed it differently, which moved probed weights at float32 rounding.
    """
    return jnp.linalg.solve(a, b)


@solve_each.def_vmap
def _solve_each_batched(
    axis_size: int, in_batched: list[bool], a: Array, b: Array
) -> tuple[Array, bool]:
    a, b = (
        x if batched else jnp.broadcast_to(x, (axis_size, *x.shape))
        for x, batched in zip((a, b), in_batched, strict=True)
    )
    # each system through `solve_each` again, so that an outer `vmap` maps it too
    return jax.lax.map(lambda ab: solve_each(*ab), (a, b)), True
