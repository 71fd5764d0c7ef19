"""`analogsim cost`: what a network costs on a chip, layer by layer, against digital
hardware; over a grid of ADC bits, tile sizes and devices, accuracy against energy."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import int_list, positive_int, str_list
from .config import add_config_arg, command_spec, resolved_config
from .models import add_model_args, refuse_model_options_without_model
from .tables import fmt_si


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "cost", help="energy, latency and area of a network on a chip, against digital hardware"
    )
    p.add_argument(
        "--device", type=str_list, default=["pcm"], help="device preset(s), comma-separated"
    )
    p.add_argument("--network", default="mlp", choices=["mlp", "cnn"])
    add_model_args(p)
    p.add_argument(
        "--chip",
        default=None,
        help="cost model (see --published); default: the device's own chip (hermes for pcm)",
    )
    p.add_argument("--phases", type=positive_int, default=None, help="read phases a product")
    p.add_argument("--adc-bits", type=int_list, default=None, help="ADC bits, comma-separated")
    p.add_argument("--dac-bits", type=positive_int, default=None, help="DAC (input) bits")
    p.add_argument(
        "--tile",
        type=int_list,
        default=None,
        help="square tile sizes (rows = columns), comma-separated",
    )
    p.add_argument("--encoding", choices=["amplitude", "pwm"], default=None, help="input encoding")
    p.add_argument("--batch", type=positive_int, default=64, help="test inputs costed")
    p.add_argument(
        "--chips",
        type=positive_int,
        default=4,
        help="chips whose mean test accuracy each point of a grid reports (a grid only)",
    )
    p.add_argument(
        "--precision",
        choices=["int8", "fp16", "fp32"],
        default="int8",
        help="the digital reference's arithmetic",
    )
    p.add_argument(
        "--weight-memory",
        choices=["dram", "sram"],
        default="dram",
        help="where the digital reference fetches its weights from",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="digital training epochs (default: 60 for --network, the model's own)",
    )
    p.add_argument(
        "--weights", default=None, help="a saved network.npz or model.eqx instead of training"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--published",
        action="store_true",
        help="print each cost preset's figures beside its chip's published ones, and stop",
    )
    add_config_arg(p)
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    if args.published:
        return print_published()
    if args.model is None:
        refuse_model_options_without_model(args)
    model, data, in_axes, what, built_in = _model(args)
    grid = list(itertools.product(args.device, args.adc_bits or [None], args.tile or [None]))
    specs = [_spec(args, *point) for point in grid]
    costs = [_cost_of(args, spec, model, data, in_axes) for spec in specs]
    out = Path(args.out)
    from .._core.provenance import save_figure, write_dataset

    if len(grid) == 1:
        ds = costs[0]
        ds.attrs.update(resolved_config(args, specs[0]))
        nc = write_dataset(ds, out / "cost.nc")
        print_layers(ds, what, args.device[0])
        print(f"wrote {nc}")
        return
    ds = _grid_dataset(args, grid, specs, costs, model, data, built_in)
    ds.attrs.update(resolved_config(args, None))
    nc = write_dataset(ds, out / "cost.nc")
    from .._plot.pareto import plot_pareto

    png = save_figure(plot_pareto(ds), out / "cost_pareto.png")
    print_grid(ds, what)
    print(f"wrote {nc} and {png}")


def _spec(args: argparse.Namespace, device: str, adc_bits: int | None, tile: int | None) -> Any:
    settings: dict[str, Any] = {}
    if adc_bits is not None:
        settings["adc_bits"] = adc_bits
    if args.dac_bits is not None:
        settings["dac_bits"] = args.dac_bits
    if tile is not None:
        settings.update(tile_rows=tile, tile_cols=tile)
    if args.encoding is not None:
        settings["input_encoding"] = args.encoding
    return command_spec(args, device, **settings)


def _cost_model(args: argparse.Namespace, spec: Any) -> Any:
    from .._cost.presets import cost_model_for

    overrides = {} if args.phases is None else {"phases": args.phases}
    return cost_model_for(spec, args.chip, **overrides)


def _model(args: argparse.Namespace) -> tuple[Any, Any, Any, str, Any]:
    """(the model, its task, `analog_call`'s in_axes, its name in words, (net, params) of a
    built-in network or None)."""
    from .._core.keys import root_key
    from .._learn.saved_state import load_network
    from .._nn.data import load_digits
    from .._nn.digital import train_digital
    from .._nn.equinox_network import equinox_network
    from .._nn.networks import get_network

    if args.model is not None:
        from .models import trained_model

        model, data, _ = trained_model(args, made_by="cost")
        return model, data, 0, f"{args.model} ({data.name})", None
    data = load_digits()
    if args.weights is not None:
        saved = load_network(args.weights)
        net, params = saved.net, saved.params
    else:
        net = get_network(args.network)
        params = train_digital(net, data, key=root_key(args.seed), epochs=args.epochs or 60)
    # the grid measures a built-in network's accuracy the built-in way
    return equinox_network(net, params), data, None, f"{net.name} (digits)", (net, params)


def _cost_of(args: argparse.Namespace, spec: Any, model: Any, data: Any, in_axes: Any) -> Any:
    from .._core.keys import chip_key, root_key
    from .._cost.estimate import cost

    batch = np.asarray(data.x_test[: args.batch])
    return cost(
        spec,
        model,
        batch,
        key=chip_key(root_key(args.seed), 0),
        cost_model=_cost_model(args, spec),
        precision=args.precision,
        weight_memory=args.weight_memory,
        in_axes=in_axes,
    )


def _grid_dataset(args, grid, specs, costs, model, data, built_in) -> Any:
    """The grid's points: each one's cost summary and its chips' mean test accuracy."""
    import xarray as xr

    from .._cost.summary import cost_summary
    from .._fleet.model_fleet import simulate_model
    from .._fleet.simulate import simulate

    rows = []
    fleet = dict(chips=args.chips, times=[1.0], seed=args.seed, progress=not args.quiet)
    for (device, _, _), spec, ds in zip(grid, specs, costs, strict=True):
        if args.model is None:
            sim = simulate(spec, *built_in, data, **fleet)
        else:
            sim = simulate_model(spec, model, data, batch_size=500, **fleet)
        point = xr.Dataset(cost_summary(ds))
        point["accuracy"] = sim["accuracy"].isel(t=0).mean("chip")
        point["accuracy_std"] = sim["accuracy"].isel(t=0).std("chip")
        point["digital_accuracy"] = sim["digital_accuracy"]
        point = point.assign_coords(
            device=device,
            adc_bits=spec.adc_bits,
            tile=spec.tile_rows,
        )
        rows.append(point)
    grid_ds = xr.concat(rows, dim="point", coords="all", compat="override")
    grid_ds.attrs.update(costs[0].attrs)
    grid_ds["accuracy"].attrs.update(units="1", long_name="mean test accuracy over the chips")
    return grid_ds


def print_layers(ds: Any, what: str, device: str) -> None:
    """The per-layer table of one cost dataset."""
    comps = [str(c) for c in ds.component.values]
    print(
        f"{what} on {device} with the {ds.attrs['cost_model']} cost model "
        f"({ds.attrs['phases']}-phase reads), {ds.attrs['batch']} test inputs; energy per inference"
    )
    head = (
        f"{'layer':<38}{'rows x cols':>12}{'tiles':>6}{'vectors':>9}"
        + "".join(f"{c:>11}" for c in comps)
        + f"{'total':>11}{'reference':>11}"
    )
    print(head)
    print("-" * len(head))
    energy = ds["energy"].values
    for i, layer in enumerate(ds.layer.values):
        shape = "" if layer == "digital" else f"{int(ds.rows[i])} x {int(ds.cols[i])}"
        tiles = "" if layer == "digital" else str(int(ds.tiles[i]))
        vectors = "" if layer == "digital" else f"{float(ds.vectors[i]):g}"
        name = str(layer) if len(str(layer)) <= 37 else "..." + str(layer)[-34:]
        print(
            f"{name:<38}{shape:>12}{tiles:>6}{vectors:>9}"
            + "".join(f"{fmt_si(v, 'J'):>11}" for v in energy[i])
            + f"{fmt_si(energy[i].sum(), 'J'):>11}"
            + f"{fmt_si(float(ds.reference_layer_energy[i]), 'J'):>11}"
        )
    print("-" * len(head))
    totals = energy.sum(0)
    print(
        f"{'total':<38}{'':>12}{int(ds.tiles.sum()):>6}{'':>9}"
        + "".join(f"{fmt_si(v, 'J'):>11}" for v in totals)
        + f"{fmt_si(totals.sum(), 'J'):>11}{fmt_si(float(ds.digital_reference), 'J'):>11}"
    )
    ratio = float(ds.digital_ratio)
    print(
        f"energy {fmt_si(float(ds.energy_per_inference), 'J')} an inference, "
        f"{1 / ratio:.3g}x the digital reference's {fmt_si(float(ds.digital_reference), 'J')} "
        f"({ds.attrs['precision']}, weights from {ds.attrs['weight_memory']}; Horowitz 2014, "
        f"45 nm); {float(ds.tops_per_watt):.3g} TOPS/W"
    )
    print(
        f"latency {fmt_si(float(ds.latency), 's')}, throughput {float(ds.throughput):.3g} "
        f"inferences/s pipelined, area {float(ds.area):.3g} mm^2 "
        f"({int(ds.tiles.sum())} tiles, {int(ds.chips_needed)} chip(s))"
    )


def print_grid(ds: Any, what: str) -> None:
    print(f"{what}: accuracy and energy per inference over the grid ({ds.attrs['cost_model']})")
    head = (
        f"{'device':<10}{'ADC bits':>9}{'tile':>6}{'accuracy':>10}{'energy':>11}"
        f"{'x digital':>10}{'latency':>11}{'area':>11}"
    )
    print(head)
    print("-" * len(head))
    for i in range(ds.sizes["point"]):
        p = ds.isel(point=i)
        print(
            f"{str(p.device.values):<10}{int(p.adc_bits):>9}{int(p.tile):>6}"
            f"{float(p.accuracy) * 100:>9.2f}%{fmt_si(float(p.energy_per_inference), 'J'):>11}"
            f"{1 / float(p.digital_ratio):>10.3g}{fmt_si(float(p.latency), 's'):>11}"
            f"{float(p.area):>8.3g} mm2"
        )


def print_published() -> None:
    """Each cost preset's figures beside its chip's published ones."""
    from .._cost.published import published_table

    rows = published_table()
    print("cost presets against their chips' published figures (8-bit products, full tiles)")
    head = f"{'chip':<40}{'figure':>14}{'published':>11}{'modelled':>10}{'ratio':>7}  "
    print(head)
    print("-" * (len(head) + 10))
    for row in rows:
        print(
            f"{row['chip']:<40}{row['figure']:>14}{row['published']:>11.3g}"
            f"{row['modelled']:>10.3g}{row['ratio']:>7.2f}  "
            + ("fitted" if row["fitted"] else "predicted")
        )
    print("sources: " + "; ".join(sorted({row["source"] for row in rows})))


def with_run_cost(
    args: argparse.Namespace, spec: Any, ds: Any, model: Any, data: Any, in_axes: Any
) -> Any:
    """`ds` (another command's dataset) with the cost of chip 0 on the first 64 test inputs
    (`with_cost`), or unchanged with a printed note when the spec's device has no cost
    model."""
    from device_models import ParameterError

    from .._core.keys import chip_key, root_key
    from .._cost.estimate import cost
    from .._cost.presets import cost_model_for
    from .._cost.summary import with_cost

    try:
        costs = cost_model_for(spec)
    except ParameterError as err:
        print(f"no energy in this run: {err} (analogsim cost --chip)")
        return ds
    batch = np.asarray(data.x_test[:64])
    priced = cost(
        spec,
        model,
        batch,
        key=chip_key(root_key(args.seed), 0),
        cost_model=costs,
        t=float(min(args.times)),
        method=args.program,
        in_axes=in_axes,
    )
    return with_cost(ds, priced)
