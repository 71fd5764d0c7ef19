"""Argument checks that name the parameter and the accepted range.

Checks run only on concrete values: inside `jit`/`vmap` the numbers are tracers and the
check is skipped, so validation never forces a recompilation or a host sync.
"""

from __future__ import annotations

import math

import jax
import numpy as np


class ParameterError(ValueError):
    """A user-supplied value is outside the range a function accepts."""


def is_concrete(value: object) -> bool:
    """True when `value` holds numbers we can inspect now (not a JAX tracer)."""
    if isinstance(value, jax.core.Tracer):
        return False
    return True


def _values(value: object) -> np.ndarray | None:
    if not is_concrete(value):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"expected a number, got {value!r}") from err


def check_finite(name: str, value: object) -> None:
    """Raise if `value` contains NaN or infinity."""
    arr = _values(value)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} must be finite (got NaN or infinity)")


def check_range(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    unit: str = "",
) -> None:
    """Raise unless every element of `value` is finite and within [low, high] (or (low, high])."""
    arr = _values(value)
    if arr is None:
        return
    check_finite(name, arr)
    lo_ok = np.all(arr > low) if low_open else np.all(arr >= low)
    if not (lo_ok and np.all(arr <= high)):
        left = "(" if low_open else "["
        u = f" {unit}" if unit else ""
        shown = arr.item() if arr.size == 1 else f"values from {arr.min():g} to {arr.max():g}"
        raise ParameterError(f"{name} must be in {left}{low:g}, {high:g}]{u}; got {shown}")


def check_nonnegative(name: str, value: object, *, unit: str = "") -> None:
    """Raise unless `value` is finite and >= 0 (sigmas, times, resistances)."""
    check_range(name, value, 0.0, math.inf, unit=unit)


def check_probability(name: str, value: object) -> None:
    """Raise unless `value` is a probability in [0, 1]."""
    check_range(name, value, 0.0, 1.0)


def check_int_range(name: str, value: object, low: int, high: int) -> None:
    """Raise unless `value` is an integer in [low, high] (converter bits, counts)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{name} must be an integer in [{low}, {high}]; got {value!r}")
    if not low <= int(value) <= high:
        raise ParameterError(f"{name} must be an integer in [{low}, {high}]; got {value}")


def check_order(
    low_name: str, low: object, high_name: str, high: object, *, unit: str = ""
) -> None:
    """Raise unless low < high (elementwise), e.g. g_min < g_max."""
    lo, hi = _values(low), _values(high)
    if lo is None or hi is None:
        return
    if not np.all(lo < hi):
        u = f" {unit}" if unit else ""
        raise ParameterError(
            f"{low_name} must be below {high_name}; got {low_name}={lo.min():g}{u}, "
            f"{high_name}={hi.max():g}{u}"
        )
