"""The device mesh: every fleet's chip axis split over all (or the first N) devices.

JAX is the distributed engine. An experiment places the arrays that carry its chip axis
(chip indices, per-chip keys and swept values) on a one-dimensional `Mesh`, sharded along
that axis, and every fleet program maps its chips with `fleet_vmap`, which keeps that axis
split inside the compiled program: each device computes its own chips, since nothing in a
fleet couples two chips. A fleet whose size the device count does not divide is padded
with further chips (computed and then dropped), never refused. A chip is its key, so its
identity is the same bits on any device count; computed numbers agree to float32 rounding
(a partitioned program may round differently), and in-situ training, whose pulse counts
are whole numbers, can turn such a rounding difference into a pulse more or less.

With several processes (`jax.distributed`, see `_fleet.distributed`), the mesh spans every
process's devices and results are gathered to every process with `to_host`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from device_models._checks import ParameterError

AXIS = "chips"
ENV = "ANALOGSIM_DEVICES"


def chip_mesh(devices: int | None = None) -> Mesh:
    """A 1-D mesh named `AXIS` over `devices` devices; by default the number in the
    environment variable `ANALOGSIM_DEVICES`, or else all of them.

    With several processes, each contributes `devices / process count` of its own devices.

    Raises:
        ParameterError: `devices` is not an integer in 1..available (or, with several
            processes, not a multiple of the process count).
    """
    available = jax.device_count()  # over all processes
    kind = jax.devices()[0].platform.upper()
    if devices is None:
        devices = _from_environment(available)
    if isinstance(devices, bool) or not isinstance(devices, int | np.integer):
        raise ParameterError(f"devices must be a whole number; got {devices!r}")
    if not 1 <= devices <= available:
        raise ParameterError(
            f"devices must be between 1 and {available}: JAX sees {available} {kind} "
            f"device{'s' if available > 1 else ''}"
            f"{' over all processes' if jax.process_count() > 1 else ''}; got {devices}"
        )
    processes = jax.process_count()
    if devices % processes:
        raise ParameterError(
            f"devices must be a multiple of the {processes} processes (each gives the same "
            f"number of its own devices); got {devices}"
        )
    per = devices // processes
    chosen = [d for p in range(processes) for d in _process_devices(p)[:per]]
    return Mesh(np.asarray(chosen), (AXIS,))


def _from_environment(available: int) -> int:
    text = os.environ.get(ENV, "").strip()
    if not text:
        return available
    try:
        return int(text)
    except ValueError:
        raise ParameterError(f"{ENV} must be a whole number of devices; got {text!r}") from None


def _process_devices(process: int) -> list[Any]:
    return [d for d in jax.devices() if d.process_index == process]


def padded(n: int, mesh: Mesh) -> int:
    """`n` rounded up to a multiple of the mesh's device count."""
    size = mesh.devices.size
    return -(-n // size) * size


def shard_rows(mesh: Mesh, tree: Any) -> Any:
    """Every leaf of `tree` placed on `mesh`, split along its leading (chip) axis, whose length
    the device count must divide (`padded`). Host arrays must be equal on every process."""
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    return jax.tree.map(lambda leaf: jax.device_put(leaf, sharding), tree)


def to_host(tree: Any) -> Any:
    """Every leaf of `tree` as a NumPy array, gathered from every device and process."""

    def one(leaf: Any) -> np.ndarray:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(leaf)

    return jax.tree.map(one, tree)


def fleet_vmap(fn: Callable[..., Any], mesh: Mesh | None) -> Callable[..., Any]:
    """`jax.vmap(fn)` over the leading (chip) axis of every argument, with that axis split
    over `mesh`: arguments and results are constrained to it, and XLA's partitioner keeps
    each device's chips on that device in between (nothing in a fleet couples two chips).

    A chip count the device count does not divide is padded with repeats of the last chip,
    and the extras are dropped. (Not `shard_map`: inside it, the gradient with respect to a
    value every device holds alike is summed over devices, a trap for per-chip gradients.)
    """
    if mesh is None or mesh.devices.size == 1:
        return jax.vmap(fn)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    split = lambda tree: jax.lax.with_sharding_constraint(tree, sharding)

    def run(*args: Any) -> Any:
        n = jax.tree.leaves(args)[0].shape[0]
        m = padded(n, mesh)
        if m != n:
            take = np.minimum(np.arange(m), n - 1)
            args = jax.tree.map(lambda a: a[take], args)
        out = split(jax.vmap(fn)(*split(args)))
        return out if m == n else jax.tree.map(lambda o: o[:n], out)

    return run
