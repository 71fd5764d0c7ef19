"""`--algorithm` and its settings: how in-situ training learns on a chip."""

from __future__ import annotations

import argparse
from typing import Any

from .arguments import nonnegative_float, positive_float, positive_int


def add_algorithm_args(parser: argparse.ArgumentParser) -> None:
    """`--algorithm` (sgd, ttv2, c-ttv2, agad) and the Tiki-Taka family's settings."""
    from .._learn.algorithms import ALGORITHMS

    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default=None,
        help="in-situ learning rule: sgd (pulses straight at the weights, the default), "
        "ttv2 (Tiki-Taka v2), c-ttv2 (chopped TTv2) or agad (dynamic reference); "
        "the last three need devices that move both ways",
    )
    group = parser.add_argument_group("Tiki-Taka settings (ttv2, c-ttv2, agad)")
    group.add_argument(
        "--fast-lr",
        type=positive_float,
        default=None,
        help="the fast array's change per step, times the optimizer's desired change",
    )
    group.add_argument(
        "--transfer-lr",
        type=positive_float,
        default=None,
        help="buffer gain: pulses of the weights' array per weight unit read off the fast array",
    )
    group.add_argument(
        "--chop-prob",
        type=nonnegative_float,
        default=None,
        help="c-ttv2: a row's chopper flips with this probability per read; agad: the "
        "choppers flip every 1/P passes over the rows",
    )
    group.add_argument(
        "--reference-offset",
        type=nonnegative_float,
        default=None,
        help="ttv2, c-ttv2: spread of each fast device's reference around its symmetry "
        "point (w units of the pulse response)",
    )
    group.add_argument(
        "--transfer-every",
        type=positive_int,
        default=None,
        help="examples per fast-array row read (default 1)",
    )


def algorithm_from_args(args: argparse.Namespace) -> Any:
    """The `Algorithm` the arguments ask for (plain SGD by default)."""
    from .._learn.algorithms import get_algorithm

    settings = {
        "fast_lr": args.fast_lr,
        "transfer_lr": args.transfer_lr,
        "chop_prob": args.chop_prob,
        "reference_offset": args.reference_offset,
        "transfer_every": args.transfer_every,
    }
    return get_algorithm(args.algorithm or "sgd", **settings)
