"""`analogsim transfer`: what one chip learned, moved to other chips by each strategy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .algorithm import add_algorithm_args, algorithm_from_args
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
from .models import add_model_args


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
    xf.add_argument(
        "--chips",
        type=int_arg,
        default=None,
        help="target chips per variation value (32; 4 for --model)",
    )
    xf.add_argument(
        "--variation",
        type=float_list,
        default=None,
        help="multipliers on all identity variation (1 = the preset's nominal), comma-separated "
        "(default 0,0.5,1,2,4; 0,0.5,1,2 for --model)",
    )
    xf.add_argument(
        "--strategies",
        type=str_list,
        default=None,
        help="comma-separated, from conductances,weights,distill,finetune,hardware-aware,digital",
    )
    add_model_args(xf, instead_of="the built-in MLP")
    xf.add_argument(
        "--weights",
        default=None,
        help="--model's digitally trained model (DIR/model.eqx saved by analogsim), instead "
        "of training it",
    )
    xf.add_argument(
        "--quick",
        action="store_true",
        help="--model: a small run (2 targets, variation 0 and 2, small budgets) for a check",
    )
    xf.add_argument(
        "--validation",
        action="store_true",
        help="report on a validation split held out of the training data (the last 10%%), "
        "not the test set: for choosing settings",
    )
    xf.add_argument("--seed", type=int, default=0)
    xf.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="in-situ epochs of the source (10; 1 for --model)",
    )
    xf.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="SGD rate of the source's and the targets' in-situ training (0.2; 0.05 for --model)",
    )
    xf.add_argument("--temperature", type=positive_float, default=None, help="distillation T (2)")
    xf.add_argument(
        "--finetune-examples",
        type=positive_int,
        default=None,
        help="labels budget (100; 500 for --model)",
    )
    add_wire_args(xf)
    add_pulse_update_arg(xf)
    add_algorithm_args(xf)
    add_device_args(xf)
    xf.add_argument(
        "--chip",
        default=None,
        help="cost model pricing each strategy in joules and seconds (see `analogsim cost "
        "--published`); default: the device's own, if it has one",
    )
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
    from .._transfer.transfer import DEFAULT_VARIATION, STRATEGIES, check_strategies, transfer

    # checks that need no data or compilation come first
    strategies = check_strategies(args.strategies if args.strategies is not None else STRATEGIES)
    if args.chips is not None and args.chips < 1:
        raise CommandError(f"--chips must be >= 1; got {args.chips}")
    if args.variation is not None and min(args.variation) < 0:
        raise CommandError(f"--variation must be >= 0; got {min(args.variation):g}")
    algorithm = algorithm_from_args(args)
    if args.model is not None:
        return run_model(args, strategies, algorithm)
    for flag, given in (("--weights", args.weights), ("--quick", args.quick)):
        if given:
            raise CommandError(f"{flag} is for --model; the built-in mlp trains on its own")
    args.chips = 32 if args.chips is None else args.chips
    args.variation = args.variation or list(DEFAULT_VARIATION)
    args.dataset = args.dataset or "digits"
    data = load_dataset(args.dataset)
    if args.validation:
        data = data.validation_split()
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
            epochs=args.epochs or 10,
            temperature=args.temperature or 2.0,
            learning_rate=args.lr or 0.2,
            finetune_examples=min(args.finetune_examples or 100, data.x_train.shape[0]),
            progress=not args.quiet,
            devices=args.devices,
            source=source,
            algorithm=algorithm,
        )
    except TrainingError as err:
        raise CommandError(str(err)) from None
    if source is not None:
        ds.attrs["source_file"] = str(args.source)
    ds = _priced(args, spec, ds)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "transfer.nc")
    png = save_figure(plot_transfer(ds), out / "transfer_loss.png")
    print(
        f"weight transfer on {args.device} ({data.name}, mlp {net.shapes[0][0]}-128-"
        f"{data.classes}), {args.chips} target chips per variation, seed {args.seed}, "
        f"in-situ learning by {algorithm.name}"
    )
    print(_transfer_table(ds))
    if "strategy_energy" in ds:
        print(_energy_table(ds))
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


# --quick: a run that checks the whole experiment in a few minutes, not one to quote
QUICK = dict(
    chips=2,
    variation=[0.0, 2.0],
    settings=dict(
        source_examples=1000,
        distill_examples=500,
        finetune_examples=200,
        hardware_aware_examples=500,
        curve_points=4,
    ),
)


def run_model(args: argparse.Namespace, strategies: tuple[str, ...], algorithm: Any) -> None:
    """`transfer --model`: chip A learns the model on itself, then each strategy moves it."""
    from .._core.provenance import save_figure, write_dataset
    from .._learn.in_situ_fleet import TrainingError
    from .._nn.model_file import load_model
    from .._plot.teaching import plot_teaching
    from .._plot.transfer import plot_transfer
    from .._transfer.model.transfer import MODEL_VARIATION, transfer_model
    from .models import model_schedule, untrained_model

    if args.source is not None:
        raise CommandError("--source is a built-in network's chip; --model trains its own chip A")
    quick = QUICK if args.quick else {}
    args.chips = args.chips or quick.get("chips", 4)
    args.variation = args.variation or quick.get("variation", list(MODEL_VARIATION))
    args.device = args.device or "reram_es"
    spec = command_spec(args, args.device, **wire_settings(args), **pulse_update_settings(args))
    model, data, workload = untrained_model(args)
    if args.validation:
        data = data.validation_split()
    trained = None if args.weights is None else load_model(args.weights, model)
    # the digital model's schedule: the model's own (`--epochs` is chip A's here)
    schedule = model_schedule(argparse.Namespace(epochs=None), workload)
    given = dict(
        epochs=args.epochs,
        temperature=args.temperature,
        finetune_examples=args.finetune_examples,
        learning_rate=args.lr,
        algorithm=algorithm,
    )
    changes = {**quick.get("settings", {}), **{k: v for k, v in given.items() if v is not None}}
    try:
        ds = transfer_model(
            spec, model, data, name=args.model, chips=args.chips, variation=args.variation,
            strategies=strategies, seed=args.seed, schedule=schedule, trained=trained,
            progress=not args.quiet, **changes,
        )  # fmt: skip
    except TrainingError as err:
        raise CommandError(str(err)) from None
    if args.weights is not None:
        ds.attrs["weights_file"] = str(args.weights)
    ds = _priced(args, spec, ds)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "transfer.nc")
    png = save_figure(plot_transfer(ds), out / "transfer_loss.png")
    taught = None
    if ds.sizes["teacher"]:  # distill or finetune ran
        taught = save_figure(plot_teaching(ds), out / "transfer_teaching.png")
    on = "validation split" if args.validation else "test set"
    print(
        f"weight transfer of {args.model} ({data.name}, {ds.attrs['analog_weights']} weights on "
        f"crossbars) on {args.device}, {args.chips} target chips per variation, seed "
        f"{args.seed}, accuracy on the {on}, in-situ learning by {algorithm.name}"
    )
    print(_source_lines(ds))
    print(_transfer_table(ds))
    print(_bits_table(ds))
    if "strategy_energy" in ds:
        print(_energy_table(ds))
    print(f"wrote {nc}, {png}" + (f" and {taught}" if taught else ""))


def _source_lines(ds) -> str:
    """Chip A at each variation value: programmed, after learning on itself, how far it moved."""
    lines = [
        "chip A: hardware-aware weights written in the in-situ mapping, then trained on itself"
    ]
    lines.append(f"{'variation':>9}{'programmed':>12}{'trained':>9}{'moved':>8}{'pulses':>14}")
    for i, v in enumerate(ds["variation"].values):
        start = float(ds["source_start_accuracy"].values[i]) * 100
        end = float(ds["source_accuracy"].values[i]) * 100
        moved = float(ds["source_weight_change"].values[i]) * 100
        pulses = int(ds["source_pulses"].values[i])
        lines.append(f"{v:>9g}{start:>11.1f}%{end:>8.1f}%{moved:>7.1f}%{pulses:>14,}")
    return "\n".join(lines)


def _bits_table(ds) -> str:
    """Per strategy at the largest variation value: bits moved from A, the median target's
    accuracy, and bits per accuracy point the target holds above chance."""
    v = ds["variation"].values[-1]
    chance = 100.0 / int(ds.attrs["classes"])
    lines = [
        f"information moved per target (variation {v:g}); points above chance ({chance:.1f}%)",
        f"{'strategy':>16}{'bits':>14}{'accuracy':>10}{'bits per point':>16}",
    ]
    for s in ds["strategy"].values:
        bits = float(ds["bits_moved"].sel(strategy=s))
        acc = float(ds["target_accuracy"].sel(strategy=s, variation=v).median()) * 100
        points = acc - chance
        per = f"{bits / points:>16,.0f}" if points > 0 else f"{'-':>16}"
        lines.append(f"{str(s):>16}{bits:>14,.0f}{acc:>9.1f}%{per}")
    if "distill" in ds["strategy"].values:
        entropy = float(ds["teacher_entropy_bits"].values[-1])
        inputs = int(ds.attrs["distill_examples"])
        lines.append(
            f"distill sends {ds.attrs['classes']} float32 outputs per input; their entropy at "
            f"T = {ds.attrs['temperature']:g} is {entropy:.2f} bits per input, "
            f"{entropy * inputs:,.0f} bits over its {inputs} inputs"
        )
    return "\n".join(lines)


def _priced(args: argparse.Namespace, spec: Any, ds: Any) -> Any:
    """`ds` with each strategy's joules and seconds on `--chip` (or the device's own cost
    model); unchanged, with a note, when there is none."""
    from device_models import ParameterError

    from .._cost.presets import cost_model_for
    from .._cost.strategy import with_strategy_cost

    try:
        costs = cost_model_for(spec, args.chip)
    except ParameterError as err:
        if args.chip:
            raise
        print(f"strategies not priced: {err} (--chip)")
        return ds
    return with_strategy_cost(ds, spec, costs)


def _energy_table(ds) -> str:
    """Per strategy at the largest variation value: the median target's energy and time."""
    from .._cost.strategy import strategy_summary
    from .tables import fmt_si

    v = ds["variation"].values[-1]
    lines = [
        f"cost per target on the {ds.attrs['strategy_cost_model']} cost model (variation {v:g}, "
        f"median; read cycles at {fmt_si(float(ds.attrs['read_cycle_energy']), 'J')})",
        f"{'strategy':>16}{'energy':>12}{'time':>12}",
    ]
    for name, energy, time in strategy_summary(ds):
        if name == "digital" and "bits_moved" not in ds:
            lines.append(f"{name:>16}{'-':>12}{'-':>12}")
            continue
        lines.append(f"{name:>16}{fmt_si(energy, 'J'):>12}{fmt_si(time, 's'):>12}")
    return "\n".join(lines)
