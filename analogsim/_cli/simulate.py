"""`analogsim simulate`: a trained network on a fleet of chips, over time."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import (
    CommandError,
    add_wire_args,
    float_list,
    positive_int,
    wire_settings,
)
from .config import add_config_arg, command_spec, resolved_config
from .launch import add_device_args
from .tables import fmt_time, gap, table_rows


def add_parser(sub: Any) -> None:
    sim = sub.add_parser("simulate", help="a trained network on a fleet of chips, over time")
    sim.add_argument("--device", default="pcm", help="device preset (see `analogsim devices`)")
    sim.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    sim.add_argument("--chips", type=positive_int, default=16)
    sim.add_argument(
        "--times",
        type=float_list,
        default=[1.0, 3600.0, 86400.0, 2592000.0, 31536000.0],
        help="seconds after programming, comma-separated",
    )
    sim.add_argument("--variation", type=float, default=1.0, help="multiplier on all variation")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument(
        "--program",
        default="published",
        choices=["published", "open-loop", "verify"],
        help="the preset's published programming procedure, one open-loop write, or an "
        "explicit program-and-verify loop",
    )
    sim.add_argument(
        "--verify-iterations",
        type=int,
        default=10,
        help="rewrite rounds of --program verify (0-10000)",
    )
    sim.add_argument(
        "--verify-tolerance",
        type=float,
        default=0.5,
        help="accepted |read - target| of --program verify, uS (0-1000)",
    )
    sim.add_argument("--epochs", type=positive_int, default=60, help="digital training epochs")
    sim.add_argument(
        "--weights",
        default=None,
        help="a network saved by analogsim (DIR/network.npz) instead of training one",
    )
    sim.add_argument("--chunk-size", type=positive_int, default=64, help="chips per compiled call")
    add_wire_args(sim)
    add_device_args(sim)
    add_config_arg(sim)
    sim.add_argument("--out", default="out", help="output folder")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    from .._chip.program import check_verify_settings
    from .._core.keys import root_key
    from .._core.provenance import save_figure, write_dataset
    from .._fleet.simulate import simulate
    from .._learn.saved_state import SavedNetwork, load_network, save_network
    from .._nn.data import load_digits
    from .._nn.digital import train_digital
    from .._nn.networks import get_network
    from .._plot.simulate import plot_accuracy_vs_time

    if args.program == "verify":  # before training: a bad setting fails at once
        check_verify_settings(iterations=args.verify_iterations, tolerance=args.verify_tolerance)
    spec = command_spec(args, args.device, variation=args.variation, **wire_settings(args))
    net = get_network(args.network)
    data = load_digits()
    if min(args.times) < 0:
        raise CommandError(f"--times must be >= 0 seconds; got {min(args.times)}")
    if args.weights is not None:
        saved = load_network(args.weights)
        net, params = saved.net, saved.params
        args.network = net.name
    else:
        params = train_digital(net, data, key=root_key(args.seed), epochs=args.epochs)
        info = {"made_by": "simulate", "seed": args.seed, "epochs": args.epochs}
        saved = SavedNetwork(net, [{k: np.asarray(v) for k, v in p.items()} for p in params], info)
    ds = simulate(
        spec,
        net,
        params,
        data,
        chips=args.chips,
        times=args.times,
        seed=args.seed,
        method=args.program,
        iterations=args.verify_iterations,
        tolerance=args.verify_tolerance,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
        devices=args.devices,
    )
    out = Path(args.out)
    if args.weights is not None:
        ds.attrs["weights_file"] = str(args.weights)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "simulate.nc")
    fig = plot_accuracy_vs_time(ds)
    png = save_figure(fig, out / "simulate.png")
    saved_to = save_network(out / "network.npz", saved)
    acc = ds["accuracy"].values * 100
    times = ds["t"].values
    print(
        f"{args.network} on {args.chips} {args.device} chips (variation {args.variation:g}, "
        f"seed {args.seed}, {args.program}); digital accuracy "
        f"{float(ds['digital_accuracy']) * 100:.2f}%"
    )
    head = "chip  " + "".join(f"{fmt_time(t):>10}" for t in times)
    print(head)
    print("-" * len(head))
    for chip in table_rows(len(acc)):
        if chip is None:
            print(gap(len(acc)))
            continue
        print(f"{chip:>4}  " + "".join(f"{v:>9.2f}%" for v in acc[chip]))
    print("-" * len(head))
    print("mean  " + "".join(f"{v:>9.2f}%" for v in acc.mean(0)))
    print(" std  " + "".join(f"{v:>9.2f} " for v in acc.std(0)))
    print(f"wrote {nc}, {png} and {saved_to} (the network)")
