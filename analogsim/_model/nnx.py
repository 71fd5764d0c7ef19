"""flax nnx models in `to_analog`: which nodes are nnx layers and Variables, and how their
kernels go on crossbars.

flax is optional and never imported here: nnx is looked up among the modules already
imported, since a model can hold nnx modules only once the user has imported flax. flax >=
0.12's modules are pytrees, so `to_analog` walks them as it walks equinox modules; an
`nnx.Param` then holds the `AnalogWeight` where it held the kernel, and flax's own
`__call__` reaches it through `kernel[...]`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from device_models._checks import ParameterError

from .weight import AnalogWeight

# program(path, w, rows_axis, groups, kernel_spec) -> AnalogWeight
Program = Callable[..., AnalogWeight]


def _nnx() -> Any:
    """flax.nnx if it is imported, else None."""
    return sys.modules.get("flax.nnx")


def is_nnx_node(node: Any) -> bool:
    """An nnx `Linear` or `Conv` (whose kernel goes on a crossbar by default) or any other
    nnx Variable (Param, BatchStat, RngKey, ...: `where` may pick it)."""
    nnx = _nnx()
    return nnx is not None and isinstance(node, nnx.Linear | nnx.Conv | nnx.Variable)


def check_nnx_pytree(model: Any) -> None:
    """Refuse an nnx module that is not a pytree: `to_analog` would see no weight in it."""
    nnx = _nnx()
    if nnx is not None and isinstance(model, nnx.Module) and jax.tree.leaves(model) == [model]:
        raise ParameterError(
            f"to_analog: the flax module {type(model).__name__} is not a pytree (declared with "
            "pytree=False?); convert a pytree module (flax >= 0.12's default)"
        )


def convert_nnx(node: Any, path: str, where: Any, program: Program) -> Any:
    """`node` (`is_nnx_node`) as the chip holds it: a copy with Variables of its own (the
    converted model must share no mutable state, BatchNorm's statistics or an RNG count, with
    the original), its selected kernel or Variable an `AnalogWeight`.

    nnx.Linear's kernel is (in, out), used as x @ kernel; nnx.Conv's is channels-last
    (*window, in / groups, out), held as ((in / groups) x window, out). Kernels are named
    `<module path>.kernel`; other Variables by their path, without `.value`.
    """
    nnx = _nnx()
    if isinstance(node, nnx.Linear | nnx.Conv):
        weight_path = f"{path}.kernel"
        kernel = _value(node.kernel)
        if where is not None and not where(weight_path, kernel):
            return _copy(node)
        if isinstance(node, nnx.Conv):
            spec = _kernel_spec(jnp.ndim(kernel))
            weight = program(weight_path, kernel, spec[1], node.feature_group_count, spec)
        else:
            weight = program(weight_path, kernel, 0)
        held = lambda v: _holding(v, weight)
        return eqx.tree_at(lambda m: m.kernel, _copy(node), replace_fn=held)
    value = _value(node)
    if where is not None and eqx.is_array(value) and where(path, value):
        return _holding(node, program(path, value, 0))
    return _copy(node)


def _value(variable: Any) -> Any:
    """The array an nnx Variable holds (None if it holds no single array)."""
    leaves = jax.tree.leaves(variable)
    return leaves[0] if len(leaves) == 1 else None


def _holding(variable: Any, value: Any) -> Any:
    """The Variable, holding `value` instead."""
    return jax.tree.map(lambda _: value, variable)


def _copy(node: Any) -> Any:
    """A copy of an nnx module or Variable, with Variables of its own."""
    return jax.tree.map(lambda leaf: leaf, node)


def _kernel_spec(ndim: int) -> tuple[int, ...]:
    """flax's channels-last kernel (*window, in / groups, out) as an rhs_spec: the axes of
    (out, in / groups, *window), as flax's Conv passes `lax.conv_general_dilated`."""
    return (ndim - 1, ndim - 2, *range(ndim - 2))
