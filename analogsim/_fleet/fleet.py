"""A fleet: many chips under `vmap`, each drawn from its own key, evaluated in chunks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array, ArrayLike

from .._chip.forward import apply_analog
from .._chip.identity import make_chip
from .._chip.program import ProgramMethod, program_chip
from .._chip.spec import HardwareSpec
from .._core.keys import chip_key, stream
from .._nn.digital import accuracy
from .._nn.networks import Network
from .mesh import chip_mesh, fleet_vmap, padded, shard_rows, to_host


def chip_accuracy(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    root: Array,
    index: Array,
    times: Array,
    x: Array,
    y: Array,
    *,
    method: ProgramMethod = "published",
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
) -> Array:
    """Test accuracy of chip `index` at each of `times` (seconds), shape (len(times),).

    The chip's identity, programming and reads derive from `chip_key(root, index)` alone;
    `method`, `iterations` and `tolerance` (uS) as `program_chip` takes them.
    """
    ck = chip_key(root, index)
    chip = make_chip(spec, net.shapes, key=stream(ck, "identity"))
    state = program_chip(
        spec,
        chip,
        params,
        key=stream(ck, "program"),
        method=method,
        iterations=iterations,
        tolerance=tolerance,
    )

    def at(j: Array, t: Array) -> Array:
        logits = apply_analog(spec, net, chip, state, x, t=t, key=stream(ck, "read", j))
        return accuracy(logits, y)

    return jax.vmap(at)(jnp.arange(times.shape[0]), times)


@eqx.filter_jit
def fleet_accuracy(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    root: Array,
    indices: Array,
    times: Array,
    x: Array,
    y: Array,
    method: ProgramMethod = "published",
    mesh: Mesh | None = None,
    verify: tuple[int, ArrayLike] = (10, 0.5),
) -> Array:
    """`chip_accuracy` of the chips `indices` (one compiled program), shape (chips, times),
    the chips split over `mesh` (`fleet_vmap`; None: one device).

    Module-level, so repeated calls with new numbers (another seed, spec value or time grid
    of the same length) reuse the compiled program instead of tracing a fresh closure.
    `verify`: (iterations, tolerance in uS) of `method="verify"`; give the tolerance as an
    array to trace it (a new value then reuses the compiled program).
    """
    iterations, tolerance = verify
    one = lambda i: chip_accuracy(
        spec,
        net,
        params,
        root,
        i,
        times,
        x,
        y,
        method=method,
        iterations=iterations,
        tolerance=tolerance,
    )
    return fleet_vmap(one, mesh)(indices)


def fleet_map(
    fn: Callable[[Array], Array],
    chips: int,
    *,
    chunk_size: int = 64,
    progress: Callable[[int], None] | None = None,
    mesh: Mesh | None = None,
) -> np.ndarray:
    """Apply the jitted, chip-vmapped `fn(indices)` over chips 0..chips-1 in chunks.

    Every chunk has the same shape (the last is padded with repeated indices and trimmed),
    so `fn` compiles once; `progress(n)` is called with the number of chips finished. Each
    chunk's indices are split over `mesh` (all devices by default), so a chunk is rounded
    up to a multiple of the device count; results do not depend on the chunking, and agree
    across device counts to float32 rounding (`_fleet.mesh`).
    """
    mesh = chip_mesh() if mesh is None else mesh
    chunk_size = padded(max(1, min(chunk_size, chips)), mesh)
    out = []
    for start in range(0, chips, chunk_size):
        idx = np.arange(start, start + chunk_size)
        valid = idx < chips
        idx = np.where(valid, idx, chips - 1).astype(np.uint32)
        result = to_host(fn(shard_rows(mesh, idx)))
        out.append(result[valid])
        if progress is not None:
            progress(int(valid.sum()))
    return np.concatenate(out, axis=0)


def take(tree: object, index: int) -> object:
    """Entry `index` of every leaf's leading axis (one chip out of a fleet)."""
    return jax.tree.map(lambda leaf: leaf[index], tree)
