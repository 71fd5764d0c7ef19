"""One JAX device per CPU core, so a fleet's chips run on every core.

XLA runs most element-wise work of one program on one core; only large matrix products use
the others. A fleet's chips are independent, so splitting the host into one JAX CPU device
per core and the chips over them (`chip_mesh`, `fleet_vmap`) puts every core to work: on 2
cores a 32-chip in-situ training epoch takes about half the time. Single programs are not
split and run as before.
"""

from __future__ import annotations

import os

import jax

# more devices than this only pad small fleets with chips that are computed and dropped
MAX_CPU_DEVICES = 8
_FLAG = "--xla_force_host_platform_device_count"


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_cpu_cores(count: int | None = None) -> int:
    """Give JAX one CPU device per core (`count`, default: the cores this process may use, at
    most `MAX_CPU_DEVICES`). Call it before JAX first runs anything; returns the count set.

    A count already chosen (`XLA_FLAGS` with `--xla_force_host_platform_device_count`, or the
    `jax_num_cpu_devices` option) is kept and returned as it is.

    Raises:
        RuntimeError: JAX has already started its devices, so the count can no longer change.
    """
    if _FLAG in os.environ.get("XLA_FLAGS", ""):
        return int(os.environ["XLA_FLAGS"].split(_FLAG + "=")[1].split()[0])
    if jax.config.jax_num_cpu_devices > 0:
        return int(jax.config.jax_num_cpu_devices)
    count = min(cpu_cores(), MAX_CPU_DEVICES) if count is None else int(count)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as err:
        raise RuntimeError(
            "use_cpu_cores must be called before JAX first runs anything (it has started its "
            "devices already); call it at the top of the script"
        ) from err
    return count
