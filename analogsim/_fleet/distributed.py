"""Several processes (hosts) as one JAX device group: `jax.distributed`, checked.

Every process runs the same command; JAX joins their devices into one global set, the fleet's
chip axis is split over all of them (`_fleet.mesh`), results are gathered to every process, and
only process 0 writes files (`_core.provenance.write_atomic`). A launch is described by three
settings, from flags or the environment:

    ANALOGSIM_COORDINATOR=host:port   process 0's address, reachable by every process
    ANALOGSIM_NUM_PROCESSES=N         how many processes take part
    ANALOGSIM_PROCESS_ID=i            this process, 0..N-1

A store folder (`--out` of a sweep) must be on a file system every process sees.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import jax
import numpy as np

from device_models._checks import ParameterError

ENV = {
    "coordinator": "ANALOGSIM_COORDINATOR",
    "num_processes": "ANALOGSIM_NUM_PROCESSES",
    "process_id": "ANALOGSIM_PROCESS_ID",
}


def launch_settings(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> tuple[str, int, int] | None:
    """The launch (coordinator, process count, process id) from the arguments, each falling
    back to its environment variable (`ENV`); None when none of the three is given.

    Raises:
        ParameterError: some but not all given, a malformed address, a count below 1 or an
            id outside 0..count-1 (each names the setting).
    """
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    for name, value in given.items():
        if value is None and os.environ.get(ENV[name], "").strip():
            given[name] = os.environ[ENV[name]].strip()
    if all(v is None for v in given.values()):
        return None
    missing = [name for name, v in given.items() if v is None]
    if missing:
        names = ", ".join(f"--{m.replace('_', '-')} ({ENV[m]})" for m in missing)
        raise ParameterError(f"a multi-process launch needs all three settings; missing {names}")
    address = str(given["coordinator"])
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ParameterError(f"coordinator must be HOST:PORT (port 1..65535); got {address!r}")
    count = _whole("num_processes", given["num_processes"])
    index = _whole("process_id", given["process_id"])
    if count < 1:
        raise ParameterError(f"num_processes must be >= 1; got {count}")
    if not 0 <= index < count:
        raise ParameterError(
            f"process_id must be between 0 and {count - 1} (num_processes {count}); got {index}"
        )
    return address, count, index


def _whole(name: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ParameterError(f"{name} must be a whole number; got {value!r}") from None


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    command: Sequence[str] = (),
    timeout_s: int = 300,
) -> bool:
    """Join the process group described by the arguments or the environment
    (`launch_settings`); does nothing for a single-process launch. Returns whether it joined.

    After joining, every process checks that all were launched alike: the same process
    count and the same `command` (e.g. the command line without the process id).

    Raises:
        ParameterError: a bad setting, a group that could not be formed within `timeout_s`
            seconds, or processes launched differently (the message says how).
    """
    launch = launch_settings(coordinator, num_processes, process_id)
    if launch is None:
        return False
    address, count, index = launch
    try:
        jax.distributed.initialize(
            coordinator_address=address,
            num_processes=count,
            process_id=index,
            initialization_timeout=timeout_s,
        )
    except Exception as err:  # noqa: BLE001  (JAX raises several runtime types here)
        raise ParameterError(
            f"process {index} of {count} could not join the group at {address}: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__} (every process "
            "needs the same coordinator and process count, and its own process id)"
        ) from None
    check_same_launch(count, command)
    return True


def check_same_launch(count: int, command: Sequence[str] = ()) -> None:
    """Raise `ParameterError` unless JAX sees `count` processes and every one of them was
    launched with the same process count and `command`."""
    if jax.process_count() != count:
        raise ParameterError(
            f"launched as one of {count} processes, but the group has {jax.process_count()}"
        )
    if count == 1:
        return
    from jax.experimental import multihost_utils

    text = "\0".join(command).encode()
    digest = int.from_bytes(hashlib.sha256(text).digest()[:3], "big")  # fits int32
    mine = np.asarray([count, digest], np.int32)
    try:
        every = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, 2)
    except Exception as err:  # noqa: BLE001  (a peer that stopped surfaces as several types)
        raise ParameterError(
            "the processes could not compare their launch settings; another process stopped "
            f"(see its error) or was launched differently: {str(err).splitlines()[0:1]}"
        ) from None
    for p, (their_count, their_digest) in enumerate(every):
        if their_count != count:
            raise ParameterError(
                f"process {p} was launched with num_processes {their_count}, "
                f"process {jax.process_index()} with {count}"
            )
        if their_digest != digest:
            raise ParameterError(
                f"process {p} runs a different command from process {jax.process_index()}; "
                "every process must run the same command and settings"
            )
