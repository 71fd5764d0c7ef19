"""`analogsim chip`: one chip's identity as maps (gain, stuck devices, ranges, converters)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .arguments import (
    int_arg,
)
from .config import add_config_arg, command_spec, resolved_config


def add_parser(sub: Any) -> None:
    ch = sub.add_parser("chip", help="one chip's identity as maps (gain, stuck devices, ...)")
    ch.add_argument("--device", default="rram", help="device preset")
    ch.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    ch.add_argument("--seed", type=int, default=0)
    ch.add_argument("--chip", type=int_arg, default=0, help="chip index (as in a fleet)")
    ch.add_argument("--layer", type=int_arg, default=0, help="analog layer to map")
    ch.add_argument("--variation", type=float, default=1.0, help="multiplier on all variation")
    ch.add_argument("--out", default="out")
    add_config_arg(ch)


def run(args: argparse.Namespace) -> None:
    from .._chip.chip_map import chip_map
    from .._core.provenance import save_figure, write_dataset
    from .._nn.networks import get_network
    from .._plot.chip_map import plot_chip_map

    spec = command_spec(args, args.device, variation=args.variation)
    net = get_network(args.network)
    ds = chip_map(spec, net.shapes, seed=args.seed, chip=args.chip, layer=args.layer)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "chip.nc")
    png = save_figure(plot_chip_map(ds), out / "chip.png")
    rows, cols = net.shapes[args.layer]
    gain = ds["read_gain"].values
    print(
        f"chip {args.chip} of seed {args.seed}, {args.device} (variation {args.variation:g}), "
        f"{args.network} layer {args.layer}: {rows} x {cols} differential pairs"
    )
    print(f"  stuck on  {int((ds['stuck'] > 0).sum()):>6} devices")
    print(f"  stuck off {int((ds['stuck'] < 0).sum()):>6} devices")
    print(
        f"  read gain {gain.mean():.3f} +- {gain.std():.3f} (min {gain.min():.3f}, max "
        f"{gain.max():.3f})"
    )
    print(f"wrote {nc} and {png}")
