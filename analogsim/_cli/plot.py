"""`analogsim plot FILE.nc`: the natural figure of a dataset analogsim wrote."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .arguments import (
    CommandError,
)


def add_parser(sub: Any) -> None:
    pl = sub.add_parser("plot", help="the natural figure of a dataset analogsim wrote")
    pl.add_argument("file", help="a .nc file written by analogsim")
    pl.add_argument("--out", default=None, help="FILE.png or FILE.svg (default: beside FILE)")


def run(args: argparse.Namespace) -> None:
    from .._core.provenance import read_dataset, save_figure
    from .._plot.dataset import plot_dataset

    path = Path(args.file)
    try:
        ds = read_dataset(path)
    except (OSError, ValueError, TypeError) as err:
        raise CommandError(f"cannot read {path} as netCDF: {err}") from None
    out = Path(args.out) if args.out else path.with_suffix(".png")
    if out.suffix not in (".png", ".svg"):
        raise CommandError(f"--out must end in .png or .svg; got {out}")
    try:
        fig = plot_dataset(ds)
    except ValueError as err:
        raise CommandError(f"{path}: {err}") from None
    print(f"wrote {save_figure(fig, out)}")
