"""`analogsim transfer`: what one chip learned, moved to other chips by each strategy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import (
    CommandError,
    add_pulse_update_arg,
    add_wire_args,
    float_list,
    int_arg,
    positive_float,
    positive_int,
    pulse_update_settings,
    str_list,
    wire_settings,
)
from .config import add_config_arg, command_spec, resolved_config
from .launch import add_device_args


def add_parser(sub: Any) -> None:
    xf = sub.add_parser(
        "transfer", help="what one chip learned, moved to other chips by each strategy"
    )
    xf.add_argument(
        "--device", default=None, help="pulsed device preset (default reram_es, or --source's)"
    )
    xf.add_argument(
        "--source",
        default=None,
        help="a chip saved by `analogsim train` (DIR/chips/chip-0.npz): move what it learned "
        "instead of training chip A",
    )
    xf.add_argument("--chips", type=int_arg, default=32, help="target chips per variation value")
    xf.add_argument(
        "--variation",
        type=float_list,
        default=[0.0, 0.5, 1.0, 2.0, 4.0],
        help="multipliers on all identity variation (1 = the preset's nominal), comma-separated",
    )
    xf.add_argument(
        "--strategies",
        type=str_list,
        default=None,
        help="comma-separated, from conductances,weights,distill,finetune,hardware-aware,digital",
    )
    xf.add_argument(
        "--dataset",
        default="digits",
        help="digits, synthetic-images, or FILE.npz with x_train, ...",
    )
    xf.add_argument("--seed", type=int, default=0)
    xf.add_argument("--epochs", type=positive_int, default=10, help="in-situ epochs of the source")
    xf.add_argument("--temperature", type=positive_float, default=2.0, help="distillation T")
    xf.add_argument("--finetune-examples", type=positive_int, default=100, help="labels budget")
    add_wire_args(xf)
    add_pulse_update_arg(xf)
    add_device_args(xf)
    add_config_arg(xf)
    xf.add_argument("--out", default="out", help="output folder")
    xf.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    from .._chip.presets import preset_name
    from .._core.provenance import save_figure, write_dataset
    from .._learn.in_situ_fleet import TrainingError
    from .._learn.saved_state import load_chip
    from .._nn.networks import mlp
    from .._nn.tasks import load_dataset
    from .._plot.transfer import plot_transfer
    from .._transfer.transfer import STRATEGIES, check_strategies, transfer

    # checks that need no data or compilation come first
    strategies = check_strategies(args.strategies if args.strategies is not None else STRATEGIES)
    if args.chips < 1:
        raise CommandError(f"--chips must be >= 1; got {args.chips}")
    if min(args.variation) < 0:
        raise CommandError(f"--variation must be >= 0; got {min(args.variation):g}")
    data = load_dataset(args.dataset)
    if data.x_train.dtype.kind in "iu":
        raise CommandError(
            f"--dataset {args.dataset} holds token sequences, a task for `simulate --model`; "
            "transfer runs the built-in mlp on features"
        )
    source = None
    if args.source is not None:
        source = load_chip(args.source)
        net, spec = source.net, source.spec
        if args.device is not None and args.device != preset_name(spec):
            raise CommandError(
                f"--device {args.device} differs from the source chip's {preset_name(spec)}"
            )
        args.device = preset_name(spec)
    else:
        args.device = args.device or "reram_es"
        net = mlp((data.x_train.shape[1], 128, data.classes))
        spec = command_spec(args, args.device, **wire_settings(args), **pulse_update_settings(args))
    try:
        ds = transfer(
            spec,
            net,
            data,
            chips=args.chips,
            variation=args.variation,
            strategies=strategies,
            seed=args.seed,
            epochs=args.epochs,
            temperature=args.temperature,
            finetune_examples=min(args.finetune_examples, data.x_train.shape[0]),
            progress=not args.quiet,
            devices=args.devices,
            source=source,
        )
    except TrainingError as err:
        raise CommandError(str(err)) from None
    if source is not None:
        ds.attrs["source_file"] = str(args.source)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "transfer.nc")
    png = save_figure(plot_transfer(ds), out / "transfer_loss.png")
    print(
        f"weight transfer on {args.device} ({data.name}, mlp {net.shapes[0][0]}-128-"
        f"{data.classes}), {args.chips} target chips per variation, seed {args.seed}"
    )
    print(_transfer_table(ds))
    print(f"wrote {nc} and {png}")


def _transfer_table(ds) -> str:
    """Median transfer loss (points) and its interquartile range per variation and strategy."""
    strategies = [str(s) for s in ds["strategy"].values]
    width = max(14, *(len(s) + 2 for s in strategies))
    hwa = "hardware-aware" in strategies
    lines = [
        "transfer loss in accuracy points: median over target chips [25th, 75th percentile]",
        (
            f"source: chip A loaded from {ds.attrs['source_file']}"
            if "source_file" in ds.attrs
            else "source: chip A trained in situ"
        )
        + ("; hwa: chip A with hardware-aware weights" if hwa else ""),
        f"{'variation':>9}{'source':>9}"
        + (f"{'hwa':>8}" if hwa else "")
        + "".join(f"{s:>{width}}" for s in strategies),
    ]
    loss = ds["transfer_loss"].transpose("variation", "strategy", "chip").values * 100
    for i, v in enumerate(ds["variation"].values):
        cells = []
        for j in range(len(strategies)):
            q = np.percentile(loss[i, j], [25, 50, 75])
            cells.append(f"{q[1]:+.1f} [{q[0]:+.0f},{q[2]:+.0f}]".rjust(width))
        src = f"{float(ds['source_accuracy'].values[i]) * 100:>8.1f}%"
        if hwa:
            a = ds["strategy_source_accuracy"].sel(strategy="hardware-aware").values[i] * 100
            src += f"{a:>7.1f}%"
        lines.append(f"{v:>9g}{src}" + "".join(cells))
    costs = ds[["read_cycles", "device_writes", "update_pulses", "examples", "labels"]]
    mean = costs.mean(("variation", "chip"))
    lines.append("mean cost per target chip:")
    lines.append(f"{'':>18}" + "".join(f"{s:>{width}}" for s in strategies))
    for name in mean.data_vars:
        row = "".join(f"{float(mean[name].sel(strategy=s)):>{width}.0f}" for s in strategies)
        lines.append(f"{name:>18}{row}")
    return "\n".join(lines)
