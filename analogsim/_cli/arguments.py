"""Argument types and the one error type of the command line."""

from __future__ import annotations

import argparse


class CommandError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        where = self.prog.removeprefix("analogsim").strip()
        raise CommandError(f"{where}: {message}" if where else message)


def float_list(text: str) -> list[float]:
    return _list(text, float, "number", "numbers")


def int_list(text: str) -> list[int]:
    return _list(text, int, "integer", "integers")


def _list(text: str, convert: type, one: str, many: str) -> list:
    """Comma-separated values of `convert`, at least one, or an argparse error."""
    try:
        values = [convert(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {many}, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one {one}")
    return values


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def int_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _float(text: str, *, low_open: bool) -> float:
    """A number >= 0 (> 0 when `low_open`), or an argparse error naming what was wrong."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 if low_open else value >= 0):
        raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} 0, got {text}")
    return value


def positive_float(text: str) -> float:
    return _float(text, low_open=True)


def nonnegative_float(text: str) -> float:
    return _float(text, low_open=False)


def add_wire_args(parser: argparse.ArgumentParser) -> None:
    """`--wire-resistance` and `--tile`: the circuit each tile's reads are solved on."""
    parser.add_argument(
        "--wire-resistance",
        type=nonnegative_float,
        default=None,
        metavar="OHMS",
        help="ohms per wire segment in each tile (default: ideal wires, no circuit solve)",
    )
    parser.add_argument(
        "--tile", type=positive_int, default=None, metavar="N", help="N x N tiles (default 256)"
    )


def wire_settings(args: argparse.Namespace) -> dict[str, object]:
    """The spec settings `add_wire_args` asked for."""
    out: dict[str, object] = {}
    if args.wire_resistance is not None:
        out["wire_resistance"] = args.wire_resistance
    if args.tile is not None:
        out["tile_rows"] = out["tile_cols"] = args.tile
    return out


def add_pulse_update_arg(parser: argparse.ArgumentParser) -> None:
    """`--pulse-update`: how in-situ training turns a desired change into pulses."""
    parser.add_argument(
        "--pulse-update",
        choices=("stochastic", "mixed-precision"),
        default=None,
        help="in-situ updates: stochastic rounding at the nominal step (default), or "
        "mixed-precision: accumulate digitally, fire whole steps (Nandakumar et al. 2020)",
    )


def pulse_update_settings(args: argparse.Namespace) -> dict[str, object]:
    """The spec setting `add_pulse_update_arg` asked for."""
    return {} if args.pulse_update is None else {"pulse_update": args.pulse_update}


def parse_grid(items: list[str]) -> dict[str, list[float]]:
    """`--param NAME=VALUES` arguments as a grid (in the order given)."""
    from .._sweep.grid import parse_values

    if not items:
        raise CommandError("the grid is empty: give at least one --param NAME=VALUES")
    grid: dict[str, list[float]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandError(f"--param takes NAME=VALUES; got {item!r}")
        if name in grid:
            raise CommandError(f"--param {name} is given twice")
        grid[name] = parse_values(values)
    return grid
