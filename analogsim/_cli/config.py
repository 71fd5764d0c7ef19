"""Configuration files for the command line, the resolved configuration every dataset keeps,
and `analogsim rerun`.

A config file is TOML (read with `tomllib`; nothing in it is ever evaluated):

    [hardware]        # the device preset and any value of its spec (see `_chip.presets`)
    device = "pcm"
    variation = 2.0
    adc_bits = 6
    wire_resistance = 1.5

    [experiment]      # the command's options by name (dashes or underscores)
    chips = 32
    times = [1, 86400]
    seed = 1

    [grid]            # sweep only: one parameter per key (as --param NAME=VALUES)
    stuck_off_prob = [0, 0.01, 0.02]

Flags given on the command line override the file. Every dataset a command writes keeps its
complete resolved configuration (`analogsim_config`, the same TOML; and `analogsim_command`),
so `analogsim rerun FILE.nc --out DIR` runs it again: the same numbers, bit for bit, on the
same machine and backend.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .._chip.presets import apply_table, hardware_table, nearest
from .arguments import CommandError, float_list, parse_grid, str_list
from .models import is_code

TABLES = ("hardware", "experiment", "grid")
# options that say where and how a run happens, not what it computes (and positionals)
NOT_SETTINGS = {
    "help",
    "command",
    "config",
    "out",
    "quiet",
    "devices",
    "coordinator",
    "num_processes",
    "process_id",
    "experiment",
    "name",
    "param",
    "hardware",
}
# commands whose positional argument is part of the command to rerun
POSITIONAL = {"sweep": "experiment", "device": "name"}
# the commands that record themselves in the datasets they write (`resolved_config`)
RECORDED = ("chip", "device", "simulate", "sweep", "train", "transfer")
# settings a record never carries: where a run connects to and which process it is
PROCESS_SETTINGS = {"coordinator", "num_processes", "process_id", "config", "out", "devices"}


def _not_settings(command: str) -> set[str]:
    # `analogsim device NAME --devices N`: N is how many devices to characterize
    return NOT_SETTINGS - {"devices"} if command == "device" else NOT_SETTINGS


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="settings from a TOML file ([hardware], [experiment], [grid]); flags override it",
    )


def read_config(path: str | Path) -> dict[str, Any]:
    """The TOML file at `path`, with its top-level tables checked."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as err:
        raise CommandError(f"--config {path}: cannot read it ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise CommandError(f"--config {path}: not valid TOML ({err})") from None
    for key, value in data.items():
        if key not in TABLES:
            raise CommandError(
                f"--config {path}: unknown table [{key}]{nearest(key, list(TABLES))}; "
                f"tables: {', '.join(TABLES)}"
            )
        if not isinstance(value, dict):
            raise CommandError(f"--config {path}: {key} must be a table ([{key}])")
    return data


def config_defaults(
    sub: argparse.ArgumentParser, path: str | Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(defaults for `sub`'s options, the remaining hardware values) from the config file.

    Raises:
        CommandError: an unknown key (naming the nearest valid one), a value of the wrong
            type or out of range (naming the key and what it accepts).
    """
    data = read_config(path)
    command = sub.prog.split()[-1]
    actions = {a.dest: a for a in sub._actions if a.dest not in _not_settings(command)}
    defaults: dict[str, Any] = {}
    hardware = dict(data.get("hardware", {}))
    for key in list(hardware):
        if key in actions:  # device, wire_resistance, tile (variation): also options
            if actions[key].type in (float_list, str_list):
                raise CommandError(
                    f"--config {path}: hardware.{key} is a list setting of {sub.prog}; "
                    f"give it in [experiment]"
                )
            defaults[key] = _convert(actions[key], hardware.pop(key), f"hardware.{key}", path)
    for key, value in data.get("experiment", {}).items():
        dest = key.replace("-", "_")
        if dest not in actions:
            valid = sorted(actions)
            raise CommandError(
                f"--config {path}: unknown experiment setting {key!r}{nearest(dest, valid)}; "
                f"{sub.prog} takes: {', '.join(valid)}"
            )
        defaults[dest] = _convert(actions[dest], value, f"experiment.{key}", path)
    grid = data.get("grid", {})
    if grid:
        if "param" not in {a.dest for a in sub._actions}:
            raise CommandError(f"--config {path}: [grid] is for sweeps; {sub.prog} has none")
        defaults["param"] = [f"{name}={_text(values)}" for name, values in grid.items()]
    return defaults, hardware


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _convert(action: argparse.Action, value: Any, where: str, path: str | Path) -> Any:
    """A config value as the option's own parser reads it."""
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise CommandError(f"--config {path}: {where} must be true or false; got {value!r}")
        return value
    if isinstance(value, dict) or (isinstance(value, bool) and action.type is not None):
        raise CommandError(f"--config {path}: {where} cannot be {value!r}")
    convert = action.type or str
    try:
        result = convert(_text(value))
    except (argparse.ArgumentTypeError, ValueError) as err:
        text = str(err) if isinstance(err, argparse.ArgumentTypeError) else "not a valid value"
        raise CommandError(f"--config {path}: {where}: {text} (got {value!r})") from None
    if action.choices is not None and result not in action.choices:
        raise CommandError(
            f"--config {path}: {where} must be one of {', '.join(map(str, action.choices))}; "
            f"got {value!r}"
        )
    return result


def command_spec(args: argparse.Namespace, device: str, **settings: object) -> Any:
    """The spec a command runs: the preset with its settings, then the config file's other
    hardware values (`[hardware]`), each checked."""
    from .._chip.presets import spec_for

    return apply_table(spec_for(device, **settings), args.hardware)


def resolved_config(args: argparse.Namespace, spec: Any | None = None) -> dict[str, str]:
    """Dataset attributes recording the run: `analogsim_command` (with its positional) and
    `analogsim_config`: TOML with every setting of `args` and the rest of the full hardware
    table of `spec` (the spec the run used)."""

    positional = POSITIONAL.get(args.command)
    command = args.command + (f" {getattr(args, positional)}" if positional else "")
    skip = _not_settings(args.command)
    experiment = {k: v for k, v in sorted(vars(args).items()) if k not in skip and v is not None}
    tables: dict[str, dict[str, Any]] = {}
    if spec is not None:
        table = hardware_table(spec).items()
        tables["hardware"] = {k: v for k, v in table if k not in experiment and v is not None}
    tables["experiment"] = experiment
    if args.command == "sweep":
        tables["grid"] = parse_grid(args.param)
    return {"analogsim_command": command, "analogsim_config": to_toml(tables)}


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    """TOML text of tables of strings, numbers, booleans and lists of them."""
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def rerun_argv(path: str | Path, out: str, folder: str, model: str | None = None) -> list[str]:
    """The command line that reproduces the dataset at `path` into `out` (its configuration
    is written to a file in `folder`).

    A dataset is data, never a program: its record is untrusted input. The recorded command
    must be one of `RECORDED` with nothing but its own positional (a sweep's experiment, a
    device preset's name), never an option; the recorded configuration must be TOML whose
    settings the command takes, never a host address or process setting, and never a Python
    file (`--model FILE.py:FACTORY`) unless `model`, given by the user, names the same one.
    Anything else is refused, naming the field.
    """
    from .._core.provenance import read_dataset

    try:
        attrs = read_dataset(path).attrs
    except (OSError, ValueError, TypeError) as err:
        raise CommandError(f"cannot read {path} as netCDF: {err}") from None
    if "analogsim_config" not in attrs or "analogsim_command" not in attrs:
        raise CommandError(f"{path} records no analogsim configuration to rerun")
    command = recorded_command(path, attrs["analogsim_command"])
    text = attrs["analogsim_config"]
    check_recorded_config(path, command[0], text, model)
    config = Path(tempfile.mkstemp(suffix=".toml", dir=folder)[1])
    config.write_text(text)
    return [*command, "--config", str(config), "--out", out]


def recorded_command(path: str | Path, text: object) -> list[str]:
    """The command words of a record's `analogsim_command`, checked (see `rerun_argv`)."""
    shown = repr(text) if len(str(text)) <= 80 else repr(str(text)[:77] + "...")
    where = f"{path}: analogsim_command {shown}"
    words = str(text).split() if isinstance(text, str) else []
    if not words or words[0] not in RECORDED:
        raise CommandError(f"{where} is not a command analogsim records ({', '.join(RECORDED)})")
    positional = POSITIONAL.get(words[0])
    if len(words) != (2 if positional else 1) or any(w.startswith("-") for w in words):
        what = f"{words[0]} and its {positional}" if positional else words[0]
        raise CommandError(f"{where} holds more than {what}: a record never carries options")
    if words[0] == "sweep" and words[1] not in ("simulate", "train", "transfer"):
        raise CommandError(f"{where}: sweeps are of simulate, train or transfer")
    if words[0] == "device":
        from device_models import PRESETS, PULSE_PRESETS

        if words[1] not in {*PRESETS, *PULSE_PRESETS}:
            raise CommandError(f"{where}: {words[1]!r} is not a device preset")
    return words


def check_recorded_config(
    path: str | Path, command: str, text: object, model: str | None = None
) -> None:
    """Refuse a record's `analogsim_config` that is not TOML of the project's own tables, that
    carries a process or host setting, or that names Python code the user did not name in
    `model` (see `rerun_argv`)."""
    where = f"{path}: analogsim_config"
    if not isinstance(text, str):
        raise CommandError(f"{where} is not text")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CommandError(f"{where} is not valid TOML ({err})") from None
    for table, values in data.items():
        if table not in TABLES or not isinstance(values, dict):
            raise CommandError(f"{where}: [{table}] is not a table analogsim writes")
    # `device --devices N` is how many devices to characterize, not where the run goes
    refused = PROCESS_SETTINGS & _not_settings(command)
    for key in data.get("experiment", {}):
        if key.replace("-", "_") in refused:
            raise CommandError(
                f"{where}: experiment.{key} is a process or host setting, which a record "
                "never carries"
            )
    # an option may also be given in [hardware] (`config_defaults`): both tables are checked
    for table in ("hardware", "experiment"):
        recorded = data.get(table, {}).get("model")
        if recorded is None:
            continue
        if not isinstance(recorded, str):
            raise CommandError(f"{where}: {table}.model is not a model name")
        if is_code(recorded) and not same_code(recorded, model):
            raise CommandError(
                f"{where}: {table}.model {recorded!r} is Python code, which a record never "
                f"runs; if you trust that file, name it yourself: analogsim rerun {path} "
                f"--model {recorded}"
            )


def same_code(recorded: str, given: str | None) -> bool:
    """Whether the user's `--model FILE.py:FACTORY` names the recorded file and factory."""
    if given is None:
        return False
    (a, _, fa), (b, _, fb) = recorded.rpartition(":"), given.rpartition(":")
    return fa == fb and Path(a).resolve() == Path(b).resolve()
