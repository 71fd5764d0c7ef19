"""The numbers of a hardware spec a sweep can vary, found by name.

Every numeric field of the spec, its periphery, its device model, the device's variation and
(for pulsed specs) its pulse response is sweepable; pulse-response fields carry a `pulse_`
prefix where a name would clash. Numeric fields are traced leaves: a sweep over them is a
`vmap` inside one compiled program. The converter resolutions and tile sizes decide shapes:
a sweep over them loops in Python, one program per value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from device_models._checks import ParameterError

from .spec import HardwareSpec

# shape-deciding settings: one compiled program per value
STATIC = ("dac_bits", "adc_bits", "tile_rows", "tile_cols")

_UNITS = {
    "g_min": "uS",
    "g_max": "uS",
    "pulse_g_min": "uS",
    "pulse_g_max": "uS",
    "t0": "s",
    "t": "s",
    "wire_resistance": "ohm",
    "read_voltage": "V",
    "dac_bits": "bit",
    "adc_bits": "bit",
    "tile_rows": "rows",
    "tile_cols": "columns",
}


def units(name: str) -> str:
    """Units of a swept parameter (1 for dimensionless multipliers and probabilities)."""
    return _UNITS.get(name, "1")


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and np.ndim(value) == 0 and jnp.issubdtype(dtype, jnp.number)


def _numeric_fields(module: eqx.Module) -> list[str]:
    out = []
    for field in dataclasses.fields(module):
        if field.metadata.get("static", False):
            continue
        if _is_number(getattr(module, field.name)):
            out.append(field.name)
    return out


def sweepable(spec: HardwareSpec) -> dict[str, tuple[str, ...]]:
    """Traced parameter name -> its path in `spec` (attribute names from the spec down)."""
    found: dict[str, tuple[str, ...]] = {}
    owners = [(), ("periphery",), ("device",), ("device", "variation")]
    if spec.pulse_response is not None:
        owners.append(("pulse_response",))
    found["wire_resistance"] = ("wire_resistance",)  # None (ideal wires) until swept
    for owner in owners:
        for name in _numeric_fields(_get(spec, owner)):
            key = name
            if owner == ("pulse_response",) and (name in found or name.startswith("g_")):
                key = f"pulse_{name}"
            found[key] = (*owner, name)
    return found


def _get(module: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        module = getattr(module, name)
    return module


def _replaced(module: Any, path: tuple[str, ...], value: float) -> Any:
    """`module` with the field at `path` replaced through each owner's constructor, so that
    every owner checks its numbers."""
    head, *rest = path
    inner = value if not rest else _replaced(getattr(module, head), tuple(rest), value)
    return dataclasses.replace(module, **{head: inner})


def check_params(spec: HardwareSpec, names: list[str], extra: tuple[str, ...] = ()) -> None:
    """Raise naming the sweepable parameters of this spec when a name is not one of them."""
    known = set(sweepable(spec)) | set(STATIC) | set(extra)
    for name in names:
        if name not in known:
            raise ParameterError(
                f"unknown parameter {name!r} for device {spec.device.name!r}; sweepable: "
                f"{', '.join(sorted(known))}"
            )
    if len(set(names)) != len(names):
        raise ParameterError(f"a parameter is given twice: {', '.join(names)}")


def check_values(spec: HardwareSpec, grid: dict[str, list[float]]) -> None:
    """Raise `ParameterError` (from the spec's own checks) for a value a spec parameter cannot
    take; the message names the parameter and its accepted range. Names not in the spec
    (experiment settings) are left to the experiment."""
    where = sweepable(spec)
    for name, values in grid.items():
        if name in STATIC:
            if any(v != int(v) for v in values):
                raise ParameterError(f"{name} takes whole numbers; got {values}")
            for v in values:
                with_static(spec, {name: int(v)})
        elif name in where:
            for v in values:
                with_values(spec, {name: v})


def with_values(spec: HardwareSpec, settings: dict[str, float]) -> HardwareSpec:
    """`spec` with concrete values of sweepable or `STATIC` parameters, each checked by the
    spec's own constructors (an out-of-range value raises `ParameterError`)."""
    where = sweepable(spec)
    spec = with_static(spec, {n: int(v) for n, v in settings.items() if n in STATIC})
    for name, value in settings.items():
        if name not in STATIC:
            spec = _replaced(spec, where[name], float(value))
    return spec


def with_params(spec: HardwareSpec, names: tuple[str, ...], values: Any) -> HardwareSpec:
    """`spec` with the traced parameters `names` set to `values` (one number each; traced
    under `vmap`)."""
    where = sweepable(spec)
    for i, name in enumerate(names):
        spec = eqx.tree_at(
            lambda s, p=where[name]: _get(s, p),
            spec,
            jnp.asarray(values[i], jnp.float32),
            is_leaf=lambda x: x is None,  # a None wire resistance becomes a number
        )
    return spec


def with_static(spec: HardwareSpec, settings: dict[str, int]) -> HardwareSpec:
    """`spec` with shape-deciding settings (`STATIC`) replaced; checked by the spec itself."""
    return dataclasses.replace(spec, **{k: int(v) for k, v in settings.items()})
