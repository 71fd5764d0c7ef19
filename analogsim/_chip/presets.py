"""A hardware spec as a table of plain values: its preset and what differs from it.

Config files (`[hardware]`), saved chips and datasets describe a spec this way, e.g.
`{"device": "pcm", "variation": 2.0, "adc_bits": 6, "wire_resistance": 1.5}`. Every key is
the preset (`device`), a sweepable number of the spec (`sweepable`: periphery, device model,
its variation, pulse response, `wire_resistance`), a shape setting (`STATIC`), or one of the
spec's options (`OPTIONS`). A table is checked key by key: an unknown key names the nearest
valid one, a value of the wrong type or out of range names the key and what it accepts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from device_models import PRESETS, PULSE_PRESETS, get_device, get_pulse_response, read_model
from device_models._checks import ParameterError

from .._core.provenance import describe
from .spec import HardwareSpec
from .sweepable import STATIC, _get, sweepable, with_values

# spec fields that are settings rather than numbers: name -> (accepted Python types, text)
OPTIONS: dict[str, tuple[tuple[type, ...], str]] = {
    "weight_scale": ((str,), "a string"),
    "input_encoding": ((str,), "a string"),
    "noise_management": ((str,), "a string"),
    "drift_compensation": ((bool,), "true or false"),
    "wire_iterations": ((int,), "a whole number of iterations"),
    "pulse_update": ((str,), "a string"),
}


def preset_name(spec: HardwareSpec) -> str:
    """The preset a spec was built from (`spec_for`): its pulse response's, else its device's."""
    return spec.pulse_response.name if spec.pulse_response is not None else spec.device.name


def hardware_keys(spec: HardwareSpec) -> list[str]:
    """Every key a hardware table for this spec's preset may hold."""
    return sorted({"device", *sweepable(spec), *STATIC, *OPTIONS})


def hardware_table(spec: HardwareSpec) -> dict[str, Any]:
    """`{"device": preset, **what differs from the preset}`, as plain Python values.

    Raises:
        ParameterError: the spec differs from its preset in a way a table cannot say.
    """
    name = preset_name(spec)
    base = spec_for(name)
    table: dict[str, Any] = {"device": name}
    for key, path in sweepable(spec).items():
        mine, theirs = _get(spec, path), _get(base, path)
        if mine is None and theirs is None:
            continue
        if mine is None or theirs is None or float(mine) != float(theirs):
            table[key] = None if mine is None else float(mine)
    for key in (*STATIC, *OPTIONS):
        mine, theirs = getattr(spec, key), getattr(base, key)
        if mine != theirs:
            table[key] = mine
    if describe(hardware_spec(table)) != describe(spec):
        raise ParameterError(
            "this spec differs from its preset in a way a hardware table cannot describe "
            "(build it with spec_for and named values)"
        )
    return table


def hardware_spec(table: Mapping[str, Any], *, default_device: str | None = None) -> HardwareSpec:
    """The spec a hardware table describes (`spec_for(device)` with the table's values).

    Raises:
        ParameterError: no or an unknown device, an unknown key (naming the nearest valid
            one), a value of the wrong type or out of range (naming the key and its range).
    """
    table = dict(table)
    name = table.pop("device", default_device)
    if name is None:
        raise ParameterError("the hardware table needs a device (a preset name)")
    if not isinstance(name, str):
        raise ParameterError(f"the hardware table's device must be a preset name; got {name!r}")
    return apply_table(spec_for(name), table)  # an unknown preset: spec_for names the nearest


def apply_table(spec: HardwareSpec, table: Mapping[str, Any]) -> HardwareSpec:
    """`spec` with a hardware table's values (every key but `device`), each checked.

    Raises:
        ParameterError: as for `hardware_spec`.
    """
    table = {k: v for k, v in table.items() if k != "device"}
    valid = hardware_keys(spec)
    for key in table:
        if key not in valid:
            raise ParameterError(
                f"unknown hardware key {key!r}{nearest(key, valid)} for device "
                f"{preset_name(spec)!r}"
            )
    options = {k: v for k, v in table.items() if k in OPTIONS}
    for key, value in options.items():
        types, text = OPTIONS[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ParameterError(f"hardware {key} must be {text}; got {value!r}")
    if options:
        spec = dataclasses.replace(spec, **options)
    for key, value in table.items():
        if key in OPTIONS or (key == "wire_resistance" and value is None):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ParameterError(f"hardware {key} must be a number; got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ParameterError(f"hardware {key} must be a finite number; got {value!r}")
        if key in STATIC and number != int(number):
            raise ParameterError(f"hardware {key} must be a whole number; got {value!r}")
        try:
            spec = with_values(spec, {key: number})
        except ParameterError as err:
            # a field's own check names it as its owner knows it (pulse_g_min is g_min there)
            if re.search(rf"\b{re.escape(key)}\b", str(err)):
                raise
            raise ParameterError(f"hardware {key}: {err}") from None
    return spec


def nearest(word: str, choices: list[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest of `choices`, or "" when none is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def spec_for(name: str, **overrides: object) -> HardwareSpec:
    """The hardware spec for a preset name: read presets (pcm, rram, ideal) as they are; pulsed
    presets (gokmen_vlasov, ...) as devices that read by the preset's `read_model` (ideal, or
    RRAM for reram_es) and whose G+ devices answer pulses, with drift compensation off."""
    if name in PULSE_PRESETS:
        response = get_pulse_response(name)
        # chips that learn in situ: a drift calibration taken at programming would undo what
        # training changes afterwards, so it is off unless asked for
        overrides = {"drift_compensation": False, **overrides}
        return HardwareSpec(device=read_model(name), pulse_response=response, **overrides)
    if name in PRESETS:
        return HardwareSpec(device=get_device(name), **overrides)
    known = sorted([*PRESETS, *PULSE_PRESETS])
    raise ParameterError(
        f"unknown device preset {name!r}{nearest(str(name), known)}; known presets: "
        + ", ".join(known)
    )
