"""`analogsim train`: train a network digitally, hardware-aware or in situ on a fleet of chips."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .algorithm import add_algorithm_args, algorithm_from_args
from .arguments import (
    CommandError,
    add_pulse_update_arg,
    add_wire_args,
    positive_float,
    positive_int,
    pulse_update_settings,
    wire_settings,
)
from .config import add_config_arg, command_spec, resolved_config
from .launch import add_device_args
from .models import add_model_args, refuse_model_options_without_model
from .tables import gap, table_rows


def add_parser(sub: Any) -> None:
    tr = sub.add_parser("train", help="train a network digitally, hardware-aware or in situ")
    tr.add_argument("--device", default="gokmen_vlasov", help="device preset")
    tr.add_argument(
        "--mode",
        default=None,
        choices=["in-situ", "hardware-aware", "digital"],
        help="default: in-situ for --network, hardware-aware for --model",
    )
    tr.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    add_model_args(tr)
    tr.add_argument("--chips", type=positive_int, default=4)
    tr.add_argument(
        "--epochs", type=positive_int, default=None, help="default 10, or --model's own"
    )
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--lr", type=positive_float, default=None, help="learning rate")
    tr.add_argument("--batch-size", type=positive_int, default=None)
    add_wire_args(tr)
    add_pulse_update_arg(tr)
    add_algorithm_args(tr)
    add_device_args(tr)
    add_config_arg(tr)
    tr.add_argument("--out", default="out")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    from .._learn.in_situ_fleet import TrainingError
    from .._learn.saved_state import save_chip, save_network
    from .._learn.train import train
    from .._nn.data import load_digits
    from .._nn.networks import get_network

    spec = command_spec(args, args.device, **wire_settings(args), **pulse_update_settings(args))
    algorithm = algorithm_from_args(args)  # settings it has no use for are refused here
    if args.model is not None:
        return run_model(args, spec, algorithm)
    refuse_model_options_without_model(args)
    args.mode, args.epochs = args.mode or "in-situ", args.epochs or 10
    if args.mode != "in-situ" and algorithm.name != "sgd":
        raise CommandError(f"--algorithm {algorithm.name} trains in situ: use --mode in-situ")
    net = get_network(args.network)
    try:
        ds, saved = train(
            spec,
            net,
            load_digits(),
            mode=args.mode,
            chips=args.chips,
            epochs=args.epochs,
            seed=args.seed,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            progress=not args.quiet,
            devices=args.devices,
            return_saved=True,
            algorithm=algorithm,
        )
    except TrainingError as err:
        raise CommandError(str(err)) from None
    out = Path(args.out)
    if isinstance(saved, list):
        for chip in saved:
            save_chip(out / "chips" / f"chip-{chip.info['chip']}.npz", chip)
        kept = f"{out / 'chips'} ({len(saved)} trained chips, chip-<i>.npz)"
    else:
        kept = str(save_network(out / "network.npz", saved))
    report(args, spec, ds, args.network, kept)


def run_model(args: argparse.Namespace, spec: Any, algorithm: Any) -> None:
    """`train --model`: a JAX model trained digitally, hardware-aware or in situ on each chip,
    then measured on the chips."""
    from .._learn.in_situ_fleet import TrainingError
    from .._learn.train_model import train_model
    from .._nn.model_file import save_model
    from .models import model_info, model_schedule, untrained_model

    mode = args.mode or "hardware-aware"
    if mode != "in-situ" and algorithm.tiki_taka:
        raise CommandError(f"--algorithm {algorithm.name} trains in situ: use --mode in-situ")
    model, data, workload = untrained_model(args)
    schedule = model_schedule(args, workload)
    if mode == "in-situ":  # plain SGD fired as pulses: AdamW's numbers do not carry over
        schedule = dict(
            epochs=schedule["epochs"], batch_size=args.batch_size, learning_rate=args.lr
        )
    try:
        ds, trained = train_model(
            spec,
            model,
            data,
            mode=mode,
            name=args.model,
            chips=args.chips,
            seed=args.seed,
            progress=not args.quiet,
            devices=args.devices,
            algorithm=algorithm,
            **schedule,
        )
    except TrainingError as err:
        raise CommandError(str(err)) from None
    info = {**model_info(args, data, f"train {mode}"), **schedule}
    if mode == "in-situ":
        out = Path(args.out) / "chips"
        for i, chip in enumerate(trained):
            save_model(out / f"chip-{i}.eqx", chip, {**info, "chip": i})
        kept = f"{out} ({len(trained)} trained chips, chip-<i>.eqx)"
    else:
        kept = f"{save_model(Path(args.out) / 'model.eqx', trained, info)} (the model)"
    args.mode = mode
    report(args, spec, ds, f"{args.model} ({data.name})", kept)


def report(args: argparse.Namespace, spec: Any, ds: Any, what: str, kept: str) -> None:
    """Write the dataset and figure of a training run and print its table."""
    from .._core.provenance import save_figure, write_dataset
    from .._plot.train import plot_learning_curve

    out = Path(args.out)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "train.nc")
    png = save_figure(plot_learning_curve(ds), out / "train.png")
    acc = ds["test_accuracy"].values * 100
    epochs = ds.sizes["epoch"]
    how = f" by {ds.attrs['algorithm']}" if "algorithm" in ds.attrs else ""
    print(
        f"{args.mode} training{how} of {what} on {args.chips} {args.device} chips, "
        f"{epochs} epochs, seed {args.seed}"
    )
    print(
        f"{'chip':>4}{'final loss':>12}{'test accuracy':>15}"
        + (f"{'pulses':>12}" if "pulses" in ds else "")
    )
    for i in table_rows(args.chips):
        if i is None:
            print(gap(args.chips))
            continue
        pulses = f"{int(ds['pulses'].values[i]):>12}" if "pulses" in ds else ""
        print(f"{i:>4}{ds['loss'].values[i, -1]:>12.4f}{acc[i]:>14.2f}%{pulses}")
    print(f"mean test accuracy {acc.mean():.2f}% (std {acc.std():.2f})")
    print(f"wrote {nc}, {png} and {kept}")
