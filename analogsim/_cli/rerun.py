"""`analogsim rerun FILE.nc`: run again what wrote a dataset, from its own record."""

from __future__ import annotations

import argparse
from typing import Any

from .config import rerun_argv


def add_parser(sub: Any) -> None:
    rr = sub.add_parser("rerun", help="run again what wrote a dataset, from its own record")
    rr.add_argument("file", help="a .nc file written by analogsim")
    rr.add_argument("--out", default="rerun", help="output folder for the new run")
    rr.add_argument(
        "--model",
        default=None,
        metavar="FILE.py:FACTORY",
        help="the Python model the record names, if you trust it (a record never runs code "
        "you did not name)",
    )


def argv(args: argparse.Namespace, folder: str) -> list[str]:
    """The command line that wrote `args.file`, writing into `args.out`; `folder` holds the
    configuration file it reads."""
    argv = rerun_argv(args.file, args.out, folder, args.model)
    print(f"rerunning: analogsim {' '.join(argv[:-4])} (from {args.file})")
    return argv
