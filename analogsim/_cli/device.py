"""`analogsim device NAME`: characterize a device preset (read presets and pulsed presets)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .arguments import (
    CommandError,
    positive_int,
)
from .config import add_config_arg, resolved_config
from .tables import fmt_time


def add_parser(sub: Any) -> None:
    dev = sub.add_parser("device", help="characterize a device preset")
    dev.add_argument("name")
    dev.add_argument("--devices", type=positive_int, default=100_000, help="devices per point")
    dev.add_argument("--seed", type=int, default=0)
    dev.add_argument(
        "--program",
        default="published",
        choices=["published", "open-loop"],
        help="the preset's published programming procedure, or one open-loop write",
    )
    dev.add_argument("--out", default="out")
    add_config_arg(dev)


def run(args: argparse.Namespace) -> None:
    from device_models import PRESETS, PULSE_PRESETS, get_device

    from .._chip.characterize import characterize_device
    from .._core.provenance import save_figure, write_dataset
    from .._plot.device import plot_device

    if args.hardware:
        raise CommandError(
            "analogsim device characterizes a preset as published; [hardware] values "
            f"({', '.join(args.hardware)}) do not apply to it"
        )
    if args.name in PULSE_PRESETS:
        return _pulse_device(args)
    if args.name not in PRESETS:
        known = ", ".join(sorted([*PRESETS, *PULSE_PRESETS]))
        raise CommandError(f"unknown device preset {args.name!r}; known presets: {known}")
    device = get_device(args.name)
    ds = characterize_device(device, devices=args.devices, seed=args.seed, procedure=args.program)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args))
    nc = write_dataset(ds, out / "device.nc")
    png = save_figure(plot_device(ds), out / "device.png")
    print(f"{device.name}: {device.citation}")
    print(
        f"programmed by the {args.program} procedure; statistics over working devices, "
        f"stuck devices apart: on {ds['stuck_on_fraction'].values.mean():.2%}, "
        f"off {ds['stuck_off_fraction'].values.mean():.2%} of {args.devices} per level"
    )
    print(
        f"{'target uS':>10}{'prog mean':>11}{'prog std':>10}"
        + "".join(f"{'read@' + fmt_time(t):>14}" for t in ds["t"].values)
    )
    for j, g in enumerate(ds["g_target"].values):
        reads = "".join(
            f"{m:>8.2f}+-{s:<4.2f}"
            for m, s in zip(ds["read_mean"].values[j], ds["read_std"].values[j], strict=True)
        )
        print(
            f"{g:>10.2f}{ds['prog_mean'].values[j]:>11.3f}{ds['prog_std'].values[j]:>10.3f}{reads}"
        )
    print(f"wrote {nc} and {png}")


def _pulse_device(args: argparse.Namespace) -> None:
    from device_models import get_pulse_response

    from .._chip.characterize import pulse_response_curve
    from .._core.provenance import save_figure, write_dataset
    from .._plot.device import plot_pulse_response

    response = get_pulse_response(args.name)
    ds = pulse_response_curve(response, seed=args.seed)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args))
    nc = write_dataset(ds, out / "pulse_response.nc")
    png = save_figure(plot_pulse_response(ds), out / "pulse_response.png")
    g = ds["conductance"].values
    up = int((ds["direction"].values > 0).sum())
    print(f"{args.name}: {type(response).__name__} pulse response, {g.shape[0]} devices")
    print(f"{'device':>6}{'start uS':>10}{'after up':>10}{'after down':>12}")
    for i, row in enumerate(g):
        print(f"{i:>6}{row[0]:>10.2f}{row[up]:>10.2f}{row[-1]:>12.2f}")
    print(f"wrote {nc} and {png}")
