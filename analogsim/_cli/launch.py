"""Command-line options for devices and several processes, shared by the fleet commands."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from .arguments import int_arg, positive_int


def accelerator_installed() -> bool:
    """A JAX GPU or TPU plugin is installed (so JAX will not run on the CPU by default)."""
    from importlib.metadata import distributions

    names = {(d.metadata["Name"] or "").lower() for d in distributions()}
    return any(n.startswith(("jax-cuda", "jax-rocm", "libtpu")) for n in names)


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """`--devices` and the multi-process launch flags (`_fleet.distributed`)."""
    group = parser.add_argument_group("devices and processes")
    group.add_argument(
        "--devices",
        type=positive_int,
        default=None,
        help="split the chips over this many devices (default: $ANALOGSIM_DEVICES, else all)",
    )
    group.add_argument(
        "--coordinator",
        default=None,
        help="HOST:PORT of process 0, for a run over several processes ($ANALOGSIM_COORDINATOR)",
    )
    group.add_argument(
        "--num-processes",
        type=int_arg,
        default=None,
        help="processes in the run ($ANALOGSIM_NUM_PROCESSES)",
    )
    group.add_argument(
        "--process-id",
        type=int_arg,
        default=None,
        help="this process, 0..N-1 ($ANALOGSIM_PROCESS_ID)",
    )


def start_devices(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Give JAX one CPU device per core, join the process group if one is described, check
    `--devices` against what JAX sees, and silence every process but process 0 (it alone
    prints and writes)."""
    from .._core.process import is_main_process
    from .._fleet.cpu_devices import use_cpu_cores
    from .._fleet.distributed import initialize_distributed
    from .._fleet.mesh import chip_mesh

    # on the CPU, one device per core (the chips are split over them); a process whose JAX
    # has already started (the command line called from Python) keeps its devices. Not for
    # transfer: it ran slower on two CPU devices than on one (docs/scaling.md, "CPU cores"), and its
    # figures were measured on one
    transfer = "transfer" in (args.command, getattr(args, "experiment", None))
    if not transfer:
        with contextlib.suppress(RuntimeError):
            use_cpu_cores()
    initialize_distributed(
        args.coordinator,
        args.num_processes,
        args.process_id,
        command=_without_process_id(argv),
    )
    chip_mesh(args.devices)
    if not is_main_process():
        args.quiet = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the rest of the process)


def _without_process_id(argv: Sequence[str]) -> list[str]:
    """The command line minus `--process-id` (the one setting that differs by process)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--process-id":
            skip = True
        elif not item.startswith("--process-id="):
            out.append(item)
    return out
