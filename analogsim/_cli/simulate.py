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
from .cost import with_run_cost
from .launch import add_device_args
from .models import add_model_args, refuse_model_options_without_model
from .tables import fmt_si, fmt_time, gap, table_rows


def add_parser(sub: Any) -> None:
    sim = sub.add_parser("simulate", help="a trained network on a fleet of chips, over time")
    sim.add_argument("--device", default="pcm", help="device preset (see `analogsim devices`)")
    sim.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    add_model_args(sim)
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
    sim.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="digital training epochs (default: 60 for --network, the model's own for --model)",
    )
    sim.add_argument(
        "--weights",
        default=None,
        help="a network (DIR/network.npz) or --model's model (DIR/model.eqx) saved by "
        "analogsim, instead of training one",
    )
    sim.add_argument(
        "--chunk-size",
        type=positive_int,
        default=None,
        help="chips per compiled call (default 64; 1 for --model)",
    )
    sim.add_argument(
        "--test-batch",
        type=positive_int,
        default=500,
        help="--model: test examples per read (bounds memory)",
    )
    sim.add_argument(
        "--regenerate-identity",
        action="store_true",
        help="--model: draw each chip's devices again at every product instead of holding "
        "them (the same results, a third of a chip's arrays, slower reads)",
    )
    add_wire_args(sim)
    add_device_args(sim)
    add_config_arg(sim)
    sim.add_argument("--out", default="out", help="output folder")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    from .._chip.program import check_verify_settings
    from .._core.keys import root_key
    from .._fleet.simulate import simulate
    from .._learn.saved_state import SavedNetwork, load_network, save_network
    from .._nn.data import load_digits
    from .._nn.digital import train_digital
    from .._nn.equinox_network import equinox_network
    from .._nn.networks import get_network

    if args.program == "verify":  # before training: a bad setting fails at once
        check_verify_settings(iterations=args.verify_iterations, tolerance=args.verify_tolerance)
    if min(args.times) < 0:
        raise CommandError(f"--times must be >= 0 seconds; got {min(args.times)}")
    spec = command_spec(args, args.device, variation=args.variation, **wire_settings(args))
    if args.model is not None:
        return run_model(args, spec)
    refuse_model_options_without_model(args)
    net = get_network(args.network)
    data = load_digits()
    if args.weights is not None:
        saved = load_network(args.weights)
        net, params = saved.net, saved.params
        args.network = net.name
    else:
        epochs = args.epochs or 60
        params = train_digital(net, data, key=root_key(args.seed), epochs=epochs)
        info = {"made_by": "simulate", "seed": args.seed, "epochs": epochs}
        saved = SavedNetwork(net, [{k: np.asarray(v) for k, v in p.items()} for p in params], info)
    ds = simulate(spec, net, params, data, chunk_size=args.chunk_size or 64, **fleet(args))
    ds = with_run_cost(args, spec, ds, equinox_network(net, params), data, None)
    saved_to = save_network(Path(args.out) / "network.npz", saved)
    report(args, spec, ds, args.network, f"{saved_to} (the network)")


def run_model(args: argparse.Namespace, spec: Any) -> None:
    """`simulate --model`: a JAX model of the user's (or a shipped one) on the fleet."""
    from .._fleet.model_fleet import simulate_model
    from .._nn.model_file import save_model
    from .models import trained_model

    model, data, info = trained_model(args, made_by="simulate")
    ds = simulate_model(
        spec,
        model,
        data,
        name=args.model,
        batch_size=args.test_batch,
        chunk_size=args.chunk_size or 1,
        regenerate_identity=args.regenerate_identity,
        **fleet(args),
    )
    ds = with_run_cost(args, spec, ds, model, data, 0)
    saved_to = save_model(Path(args.out) / "model.eqx", model, info)
    report(args, spec, ds, f"{args.model} ({data.name})", f"{saved_to} (the model)")


def fleet(args: argparse.Namespace) -> dict[str, Any]:
    """The fleet's settings, as `simulate` and `simulate_model` both take them."""
    return dict(
        chips=args.chips,
        times=args.times,
        seed=args.seed,
        method=args.program,
        iterations=args.verify_iterations,
        tolerance=args.verify_tolerance,
        progress=not args.quiet,
        devices=args.devices,
    )


def report(args: argparse.Namespace, spec: Any, ds: Any, what: str, saved: str) -> None:
    """Write the dataset and figure of a simulate run and print its table."""
    from .._core.provenance import save_figure, write_dataset
    from .._plot.simulate import plot_accuracy_vs_time

    out = Path(args.out)
    if args.weights is not None:
        ds.attrs["weights_file"] = str(args.weights)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "simulate.nc")
    fig = plot_accuracy_vs_time(ds)
    png = save_figure(fig, out / "simulate.png")
    acc = ds["accuracy"].values * 100
    times = ds["t"].values
    print(
        f"{what} on {args.chips} {args.device} chips (variation {args.variation:g}, "
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
    if "energy_per_inference" in ds:
        print(
            f"chip 0 at {fmt_time(float(ds.attrs['cost_t']))}: "
            f"{fmt_si(float(ds.energy_per_inference), 'J')} an inference "
            f"(digital int8: {float(ds.digital_ratio):.3g}x that), latency "
            f"{fmt_si(float(ds.latency), 's')}, {float(ds.area):.3g} mm^2 "
            f"({ds.attrs['cost_model']} cost model; analogsim cost for the layers)"
        )
    print(f"wrote {nc}, {png} and {saved}")
