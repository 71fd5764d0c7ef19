"""The `analogsim` command line. Errors a user can make exit with status 2 and one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._cli_config import (
    add_config_arg,
    command_spec,
    config_defaults,
    rerun_argv,
    resolved_config,
)
from ._cli_devices import accelerator_installed, add_device_args, start_devices
from ._cli_sweep import add_sweep_parser, cmd_sweep
from ._cli_types import (
    CommandError,
    Parser,
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

# Full LLVM optimization makes XLA:CPU compile these programs ~5x slower for ~20% faster runs;
# a command compiles once and runs briefly, so optimization level 1 wins. Set before JAX's
# backend starts (at its first use, not at import), and only where it will be the CPU.
if (
    "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", "")
    and not accelerator_installed()
):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1"
    ).strip()

FLEET_COMMANDS = ("simulate", "train", "transfer", "sweep")


def _build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="analogsim", description="Simulate networks on analog in-memory chips.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

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
    xf.add_argument("--dataset", default="digits", help="digits, or FILE.npz with x_train, ...")
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

    add_sweep_parser(sub)

    pl = sub.add_parser("plot", help="the natural figure of a dataset analogsim wrote")
    pl.add_argument("file", help="a .nc file written by analogsim")
    pl.add_argument("--out", default=None, help="FILE.png or FILE.svg (default: beside FILE)")

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
    sim.add_argument("--program", default="open-loop", choices=["open-loop", "verify"])
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

    tr = sub.add_parser("train", help="train a network digitally, hardware-aware or in situ")
    tr.add_argument("--device", default="gokmen_vlasov", help="device preset")
    tr.add_argument("--mode", default="in-situ", choices=["in-situ", "hardware-aware", "digital"])
    tr.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    tr.add_argument("--chips", type=positive_int, default=4)
    tr.add_argument("--epochs", type=positive_int, default=10)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--lr", type=positive_float, default=None, help="learning rate")
    tr.add_argument("--batch-size", type=positive_int, default=None)
    add_wire_args(tr)
    add_pulse_update_arg(tr)
    add_device_args(tr)
    add_config_arg(tr)
    tr.add_argument("--out", default="out")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")

    dev = sub.add_parser("device", help="characterize a device preset")
    dev.add_argument("name")
    dev.add_argument("--devices", type=positive_int, default=100_000, help="devices per point")
    dev.add_argument("--seed", type=int, default=0)
    dev.add_argument("--out", default="out")
    add_config_arg(dev)

    ch = sub.add_parser("chip", help="one chip's identity as maps (gain, stuck devices, ...)")
    ch.add_argument("--device", default="rram", help="device preset")
    ch.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    ch.add_argument("--seed", type=int, default=0)
    ch.add_argument("--chip", type=int_arg, default=0, help="chip index (as in a fleet)")
    ch.add_argument("--layer", type=int_arg, default=0, help="analog layer to map")
    ch.add_argument("--variation", type=float, default=1.0, help="multiplier on all variation")
    ch.add_argument("--out", default="out")
    add_config_arg(ch)

    sub.add_parser("devices", help="list device presets with citations")

    rr = sub.add_parser("rerun", help="run again what wrote a dataset, from its own record")
    rr.add_argument("file", help="a .nc file written by analogsim")
    rr.add_argument("--out", default="rerun", help="output folder for the new run")
    parser.commands = sub.choices  # type: ignore[attr-defined]
    return parser


def _enable_compilation_cache() -> None:
    """Keep compiled programs between runs (ANALOGSIM_CACHE="" turns it off)."""
    import jax

    cache = os.environ.get("ANALOGSIM_CACHE", str(Path.home() / ".cache" / "analogsim" / "xla"))
    if cache and not jax.config.jax_compilation_cache_dir:  # a caller's own cache wins
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _cmd_transfer(args: argparse.Namespace) -> None:
    from ._data import load_dataset
    from ._hardware import preset_name
    from ._in_situ_fleet import TrainingError
    from ._networks import mlp
    from ._plots import plot_transfer
    from ._provenance import save_figure, write_dataset
    from ._state_file import load_chip
    from ._transfer import STRATEGIES, check_strategies, transfer

    # checks that need no data or compilation come first
    strategies = check_strategies(args.strategies if args.strategies is not None else STRATEGIES)
    if args.chips < 1:
        raise CommandError(f"--chips must be >= 1; got {args.chips}")
    if min(args.variation) < 0:
        raise CommandError(f"--variation must be >= 0; got {min(args.variation):g}")
    data = load_dataset(args.dataset)
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


def _cmd_plot(args: argparse.Namespace) -> None:
    import xarray as xr

    from ._plots import plot_dataset
    from ._provenance import save_figure

    path = Path(args.file)
    try:
        ds = xr.load_dataset(path, engine="scipy")
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


def _cmd_simulate(args: argparse.Namespace) -> None:
    from ._data import load_digits
    from ._keys import root_key
    from ._networks import get_network
    from ._plots import plot_accuracy_vs_time
    from ._provenance import save_figure, write_dataset
    from ._simulate import simulate
    from ._state_file import SavedNetwork, load_network, save_network
    from ._train_digital import train_digital

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
    head = "chip  " + "".join(f"{_fmt_time(t):>10}" for t in times)
    print(head)
    print("-" * len(head))
    for chip in _table_rows(len(acc)):
        if chip is None:
            print(_gap(len(acc)))
            continue
        print(f"{chip:>4}  " + "".join(f"{v:>9.2f}%" for v in acc[chip]))
    print("-" * len(head))
    print("mean  " + "".join(f"{v:>9.2f}%" for v in acc.mean(0)))
    print(" std  " + "".join(f"{v:>9.2f} " for v in acc.std(0)))
    print(f"wrote {nc}, {png} and {saved_to} (the network)")


TABLE_EDGE = 8  # a fleet of more than 2 * TABLE_EDGE chips prints its first and last few


def _table_rows(chips: int) -> list[int | None]:
    """Chip rows of a printed table: all of them, or the first and last `TABLE_EDGE` with
    None marking the gap."""
    if chips <= 2 * TABLE_EDGE:
        return list(range(chips))
    return [*range(TABLE_EDGE), None, *range(chips - TABLE_EDGE, chips)]


def _gap(chips: int) -> str:
    return f"  ... {chips - 2 * TABLE_EDGE} more chips (all in the dataset)"


def _fmt_time(t: float) -> str:
    for value, name in [(31536000.0, "y"), (86400.0, "d"), (3600.0, "h"), (60.0, "min")]:
        if t >= value:
            return f"{t / value:g} {name}"
    return f"{t:g} s"


def _cmd_train(args: argparse.Namespace) -> None:
    from ._data import load_digits
    from ._in_situ_fleet import TrainingError
    from ._networks import get_network
    from ._plots import plot_learning_curve
    from ._provenance import save_figure, write_dataset
    from ._state_file import save_chip, save_network
    from ._train import train

    spec = command_spec(args, args.device, **wire_settings(args), **pulse_update_settings(args))
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
        )
    except TrainingError as err:
        raise CommandError(str(err)) from None
    out = Path(args.out)
    ds.attrs.update(resolved_config(args, spec))
    nc = write_dataset(ds, out / "train.nc")
    png = save_figure(plot_learning_curve(ds), out / "train.png")
    if isinstance(saved, list):
        for chip in saved:
            save_chip(out / "chips" / f"chip-{chip.info['chip']}.npz", chip)
        kept = f"{out / 'chips'} ({len(saved)} trained chips, chip-<i>.npz)"
    else:
        kept = str(save_network(out / "network.npz", saved))
    acc = ds["test_accuracy"].values * 100
    print(
        f"{args.mode} training of {args.network} on {args.chips} {args.device} chips, "
        f"{args.epochs} epochs, seed {args.seed}"
    )
    print(
        f"{'chip':>4}{'final loss':>12}{'test accuracy':>15}"
        + (f"{'pulses':>12}" if "pulses" in ds else "")
    )
    for i in _table_rows(args.chips):
        if i is None:
            print(_gap(args.chips))
            continue
        pulses = f"{int(ds['pulses'].values[i]):>12}" if "pulses" in ds else ""
        print(f"{i:>4}{ds['loss'].values[i, -1]:>12.4f}{acc[i]:>14.2f}%{pulses}")
    print(f"mean test accuracy {acc.mean():.2f}% (std {acc.std():.2f})")
    print(f"wrote {nc}, {png} and {kept}")


def _cmd_device(args: argparse.Namespace) -> None:
    from device_models import PRESETS, PULSE_PRESETS, get_device

    from ._characterize import characterize_device
    from ._plots import plot_device
    from ._provenance import save_figure, write_dataset

    if args.hardware:
        raise CommandError(
            "analogsim device characterizes a preset as published; [hardware] values "
            f"({', '.join(args.hardware)}) do not apply to it"
        )
    if args.name in PULSE_PRESETS:
        return _cmd_pulse_device(args)
    if args.name not in PRESETS:
        known = ", ".join(sorted([*PRESETS, *PULSE_PRESETS]))
        raise CommandError(f"unknown device preset {args.name!r}; known presets: {known}")
    device = get_device(args.name)
    ds = characterize_device(device, devices=args.devices, seed=args.seed)
    out = Path(args.out)
    ds.attrs.update(resolved_config(args))
    nc = write_dataset(ds, out / "device.nc")
    png = save_figure(plot_device(ds), out / "device.png")
    print(f"{device.name}: {device.citation}")
    print(
        f"{'target uS':>10}{'prog mean':>11}{'prog std':>10}"
        + "".join(f"{'read@' + _fmt_time(t):>14}" for t in ds["t"].values)
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


def _cmd_pulse_device(args: argparse.Namespace) -> None:
    from device_models import get_pulse_response

    from ._characterize import pulse_response_curve
    from ._plots import plot_pulse_response
    from ._provenance import save_figure, write_dataset

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


def _cmd_chip(args: argparse.Namespace) -> None:
    from ._chip_map import chip_map, plot_chip_map
    from ._networks import get_network
    from ._provenance import save_figure, write_dataset

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


def _rerun(args: argparse.Namespace) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        argv = rerun_argv(args.file, args.out, folder)
        print(f"rerunning: analogsim {' '.join(argv[:-4])} (from {args.file})")
        return main(argv)


def _cmd_devices(args: argparse.Namespace) -> None:
    from device_models import PULSE_PRESETS, list_devices

    print("read/drift presets (simulate, device):")
    for name, citation in list_devices():
        print(f"  {name:<14} {citation}")
    print("pulsed-update presets (device):")
    for name, make in sorted(PULSE_PRESETS.items()):
        print(f"  {name:<14} {make().citation}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `analogsim` command."""
    from device_models import ParameterError

    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = _build_parser()
        args = parser.parse_args(argv)
        args.hardware = {}
        if getattr(args, "config", None) is not None:
            sub = parser.commands[args.command]
            defaults, hardware = config_defaults(sub, args.config)
            sub.set_defaults(**defaults)
            args = parser.parse_args(argv)  # flags given override the file
            args.hardware = hardware
        if args.command == "rerun":
            return _rerun(args)
        _enable_compilation_cache()
        if args.command in FLEET_COMMANDS:
            start_devices(args, argv)
        commands = {
            "transfer": _cmd_transfer,
            "sweep": cmd_sweep,
            "plot": _cmd_plot,
            "simulate": _cmd_simulate,
            "train": _cmd_train,
            "device": _cmd_device,
            "chip": _cmd_chip,
            "devices": _cmd_devices,
        }
        commands[args.command](args)
    except (CommandError, ParameterError) as err:
        print(f"analogsim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # results are written whole (atomically) at the end, so nothing partial is left;
        # sweeps keep their finished chunks (they print where) and resume from them
        print(
            "analogsim: interrupted; no partial result was written. Run the same command again "
            "(a sweep resumes from its finished chunks).",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
