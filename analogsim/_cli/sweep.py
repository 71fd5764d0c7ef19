"""`analogsim sweep EXPERIMENT --param NAME=VALUES ...`: resumable sweeps from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .algorithm import add_algorithm_args, algorithm_from_args
from .arguments import (
    CommandError,
    add_pulse_update_arg,
    add_wire_args,
    int_arg,
    parse_grid,
    positive_int,
    pulse_update_settings,
    str_list,
    wire_settings,
)
from .config import add_config_arg
from .launch import add_device_args
from .models import add_model_args

EXPERIMENTS = ("simulate", "train", "transfer")
# per experiment: device preset, chips per point, epochs (digital training for simulate,
# in-situ training of each chip for train, of the source chip for transfer)
_DEFAULTS = {
    "simulate": ("pcm", 64, 60),
    "train": ("gokmen_vlasov", 16, 10),
    "transfer": ("reram_es", 16, 10),
}


def add_parser(sub: Any) -> None:
    sw = sub.add_parser("sweep", help="sweep parameters across a fleet of chips (resumable)")
    sw.add_argument("experiment", help="the experiment to sweep: " + ", ".join(EXPERIMENTS))
    sw.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        help="a swept parameter: VALUES is a,b,c or start:stop:count (repeat for a grid)",
    )
    sw.add_argument(
        "--device",
        default=None,
        help="device preset (default: pcm for simulate, gokmen_vlasov for train, "
        "reram_es for transfer)",
    )
    sw.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    add_model_args(sw)
    sw.add_argument(
        "--weights",
        default=None,
        help="simulate --model: its saved model (DIR/model.eqx) instead of training one",
    )
    sw.add_argument(
        "--chips",
        type=int_arg,
        default=None,
        help="chips per grid point (default: 64 for simulate, 16 for train and transfer)",
    )
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="simulate: digital training epochs (60); train: in-situ epochs per chip (10); "
        "transfer: in-situ epochs of the source chip (10)",
    )
    sw.add_argument(
        "--program",
        default="published",
        choices=["published", "open-loop", "verify"],
        help="simulate only",
    )
    sw.add_argument(
        "--strategies",
        type=str_list,
        default=None,
        help="transfer only: comma-separated strategies (default: all)",
    )
    sw.add_argument(
        "--chunk-size", type=positive_int, default=None, help="pairs per call (simulate, train)"
    )
    add_wire_args(sw)
    add_pulse_update_arg(sw)
    add_algorithm_args(sw)
    add_device_args(sw)
    add_config_arg(sw)
    sw.add_argument("--out", default="out", help="output folder (holds the resumable store)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    from .._core.provenance import save_figure, write_dataset
    from .._learn.algorithms import check_algorithm
    from .._nn.networks import get_network
    from .._plot.sweep import plot_sweep
    from .._sweep.grid import make_grid
    from .config import command_spec, resolved_config

    if args.experiment not in EXPERIMENTS:
        raise CommandError(
            f"unknown experiment {args.experiment!r}; sweepable: {', '.join(EXPERIMENTS)}"
        )
    if (args.model is not None or args.dataset is not None) and args.experiment != "simulate":
        raise CommandError(
            "--model and --dataset sweep simulate; train and transfer sweep --network"
        )
    if args.model is None and (args.dataset is not None or args.weights is not None):
        raise CommandError("--dataset and --weights are for --model")
    device, chips, epochs = _DEFAULTS[args.experiment]
    device = args.device or device
    chips = chips if args.chips is None else args.chips
    # a model's own schedule decides its epochs (`models.model_schedule`)
    epochs = args.epochs if args.epochs is not None or args.model else epochs
    if chips < 1:
        raise CommandError(f"--chips must be >= 1; got {chips}")
    args.device, args.chips, args.epochs = device, chips, epochs  # the record is complete
    grid = parse_grid(args.param)
    spec = command_spec(args, device, **wire_settings(args), **pulse_update_settings(args))
    net = get_network(args.network)
    algorithm = algorithm_from_args(args)
    if args.experiment == "simulate" and algorithm.name != "sgd":
        raise CommandError("--algorithm is for sweeps of train and transfer")
    # everything that needs no data or compilation is checked before any work
    if args.experiment == "simulate":
        make_grid(spec, grid, other=("t",))
    elif args.experiment == "train":
        from .._learn.in_situ import check_in_situ_spec

        make_grid(check_in_situ_spec(spec), grid, traced_settings=("learning_rate",))
        check_algorithm(check_in_situ_spec(spec), algorithm)
    else:
        from .._learn.in_situ import check_in_situ_spec
        from .._sweep.transfer import SETTINGS
        from .._transfer.transfer import STRATEGIES, check_strategies

        make_grid(check_in_situ_spec(spec), grid, other=tuple(SETTINGS))
        check_algorithm(check_in_situ_spec(spec), algorithm)
        check_strategies(args.strategies if args.strategies is not None else STRATEGIES)

    out = Path(args.out)
    store = out / "sweep.chunks"
    try:
        ds = _run(args, spec, net, grid, chips, epochs, store, algorithm)
    except KeyboardInterrupt:
        print(
            f"analogsim: finished chunks are kept in {store}; rerun the same command to resume",
            file=sys.stderr,
        )
        raise
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "sweep.nc")
    png = save_figure(plot_sweep(ds), out / "sweep.png")
    print(f"sweep of {args.experiment} on {chips} {device} chips per point, seed {args.seed}")
    print(summary(ds))
    print(f"wrote {nc} and {png}")


def _run(
    args: argparse.Namespace,
    spec: Any,
    net: Any,
    grid: dict[str, list[float]],
    chips: int,
    epochs: int,
    store: Path,
    algorithm: Any,
) -> Any:
    from .._learn.in_situ_fleet import TrainingError
    from .._nn.data import load_digits

    common = dict(
        chips=chips,
        seed=args.seed,
        store=store,
        progress=not args.quiet,
        devices=args.devices,
    )
    if args.model is not None:
        from .._sweep.simulate_model import sweep_simulate_model
        from .models import trained_model

        model, data, _ = trained_model(args, made_by="sweep")
        return sweep_simulate_model(
            spec,
            model,
            data,
            grid,
            name=args.model,
            method=args.program,
            chunk_size=args.chunk_size or 1,
            **common,
        )
    data = load_digits()
    try:
        if args.experiment == "simulate":
            from .._core.keys import root_key
            from .._nn.digital import train_digital
            from .._sweep.simulate import sweep_simulate

            params = train_digital(net, data, key=root_key(args.seed), epochs=epochs)
            return sweep_simulate(
                spec,
                net,
                params,
                data,
                grid,
                method=args.program,
                chunk_size=args.chunk_size,
                **common,
            )
        if args.experiment == "train":
            from .._sweep.train import DEFAULT_CHUNK, sweep_train

            chunk = args.chunk_size or DEFAULT_CHUNK
            return sweep_train(
                spec, net, data, grid, epochs=epochs, chunk_size=chunk, algorithm=algorithm,
                **common,
            )  # fmt: skip
        from .._sweep.transfer import sweep_transfer
        from .._transfer.transfer import STRATEGIES

        strategies = args.strategies if args.strategies is not None else STRATEGIES
        return sweep_transfer(
            spec, net, data, grid, strategies=strategies, epochs=epochs, algorithm=algorithm,
            **common,
        )  # fmt: skip
    except TrainingError as err:
        raise CommandError(str(err)) from None


def summary(ds: Any) -> str:
    """The sweep's headline numbers as a table: median over chips of the accuracy, or of the
    transfer loss per strategy."""
    import json

    swept = [n for n in json.loads(ds.attrs["swept"]) if n in ds.dims]
    if "transfer_loss" in ds:
        head = "median transfer loss over target chips (accuracy points)"
        median = ds["transfer_loss"].median("chip") * 100
        table = median.to_series().unstack("strategy")
    else:
        name = "accuracy" if "accuracy" in ds else "test_accuracy"
        head = "median test accuracy over chips (%)"
        median = ds[name].median("chip") * 100
        table = median.to_series()
        if len(swept) == 2:
            table = table.unstack(swept[1])
    return head + "\n" + table.round(2).to_string()
