"""The numbers of a hardware spec a sweep can vary, found by name.

Every numeric field of the spec, its periphery, its device model, the device's variation and
(for pulsed specs) its pulse response is sweepable; pulse-response fields carry a `pulse_`
prefix where a name would clash. Numeric fields are traced leaves: a sweep over them is a
`vmap` inside one compiled program. The converter resolutions and tile sizes decide shapes:
a sweep over them loops in Python, one program per value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from device_models._checks import ParameterError

from ._spec import HardwareSpec

# shape-deciding settings: one compiled program per value
STATIC = ("dac_bits", "adc_bits", "tile_rows", "tile_cols")

_UNITS = {
    "g_min": "uS",
    "g_max": "uS",
    "pulse_g_min": "uS",
    "pulse_g_max": "uS",
    "t0": "s",
    "t": "s",
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


def sweepable(spec: HardwareSpec) -> dict[str, Callable[[HardwareSpec], Any]]:
    """Traced parameter name -> where it lives in `spec` (an `eqx.tree_at` selector)."""
    found: dict[str, Callable[[HardwareSpec], Any]] = {}
    for name in _numeric_fields(spec):
        found[name] = lambda s, n=name: getattr(s, n)
    for name in _numeric_fields(spec.periphery):
        found[name] = lambda s, n=name: getattr(s.periphery, n)
    for name in _numeric_fields(spec.device):
        found[name] = lambda s, n=name: getattr(s.device, n)
    for name in _numeric_fields(spec.device.variation):
        found[name] = lambda s, n=name: getattr(s.device.variation, n)
    if spec.pulse_response is not None:
        for name in _numeric_fields(spec.pulse_response):
            key = f"pulse_{name}" if name in found or name.startswith("g_") else name
            found[key] = lambda s, n=name: getattr(s.pulse_response, n)
    return found


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


def with_params(spec: HardwareSpec, names: tuple[str, ...], values: Any) -> HardwareSpec:
    """`spec` with the traced parameters `names` set to `values` (one number each; traced
    under `vmap`)."""
    where = sweepable(spec)
    for i, name in enumerate(names):
        spec = eqx.tree_at(where[name], spec, jnp.asarray(values[i], jnp.float32))
    return spec


def with_static(spec: HardwareSpec, settings: dict[str, int]) -> HardwareSpec:
    """`spec` with shape-deciding settings (`STATIC`) replaced; checked by the spec itself."""
    return dataclasses.replace(spec, **{k: int(v) for k, v in settings.items()})
