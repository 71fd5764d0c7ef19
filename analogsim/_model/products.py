"""How many input vectors each analog weight of a converted model takes per example: the read
cycles a forward costs (one input vector applied to one crossbar), counted from the model's
own program, not assumed from its layer list.

A transformer's projection reads one vector per token; a convolution one per output position
and feature group; a weight used twice (tied embeddings, a loop) is counted twice. The count
comes from the jaxpr of the digital copy (`from_analog`) on one example, where every `vmap`
inside the model is already a batch axis: each `dot_general` that contracts a weight counts
the other operand's vectors, each convolution by a weight its output positions times its
feature groups; `scan` bodies count once per iteration.
"""

from __future__ import annotations

import math
from typing import Any

import jax
from jax.extend import core as jex_core

from device_models._checks import ParameterError

from .convert import analog_weights, map_weights

# operations that only move a weight's numbers, so a product by their result is by the weight
_LAYOUT = {"transpose", "reshape", "convert_element_type", "copy", "copy_p"}


def read_vectors(chip: Any, *example: Any, **kwargs: Any) -> dict[str, int]:
    """Input vectors each analog weight of `chip` takes when the model runs one `example`
    (the arguments of one call, without a batch axis, as `analog_call(..., in_axes=0)` gives
    them): {weight path: vectors}. Multiply by 2 for read cycles of a differential pair
    (G+ and G- are separate arrays)."""
    weights = analog_weights(chip)
    if not weights:
        raise ParameterError("read_vectors found no analog weight: convert the model first")
    held = [w.held() for w in weights]

    def run(ws: list[Any], *args: Any) -> Any:
        """The digital copy of the model with `ws` in the weights' places, called once."""
        return map_weights(lambda _, w: w, chip, ws)(*args, **kwargs)

    closed = jax.make_jaxpr(run)(held, *example)
    counts = _count(closed.jaxpr, {v: i for i, v in enumerate(closed.jaxpr.invars[: len(held)])})
    return {w.path: int(counts.get(i, 0)) for i, w in enumerate(weights)}


def _count(jaxpr: Any, weight_of: dict[Any, int]) -> dict[int, float]:
    """Vectors per weight index in `jaxpr`, whose variables in `weight_of` hold weights."""
    counts: dict[int, float] = {}

    def add(index: int, n: float) -> None:
        counts[index] = counts.get(index, 0) + n

    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        ins = [weight_of.get(v) if isinstance(v, jex_core.Var) else None for v in eqn.invars]
        if name in _LAYOUT and ins and ins[0] is not None:
            weight_of[eqn.outvars[0]] = ins[0]
        elif name == "dot_general":
            (contract_l, contract_r), _ = eqn.params["dimension_numbers"]
            for side, other, contract in ((0, 1, contract_r), (1, 0, contract_l)):
                if ins[side] is not None and ins[other] is None:
                    shape = eqn.invars[other].aval.shape
                    inner = math.prod(shape[d] for d in contract)
                    add(ins[side], math.prod(shape) / inner)
        elif name == "conv_general_dilated" and ins[1] is not None:
            out = eqn.outvars[0].aval.shape
            feature = eqn.params["dimension_numbers"].out_spec[1]
            add(ins[1], math.prod(out) / out[feature] * eqn.params["feature_group_count"])
        else:
            repeat = eqn.params.get("length", 1) if name == "scan" else 1
            for sub in _sub_jaxprs(eqn):
                inner = sub.jaxpr if hasattr(sub, "jaxpr") else sub
                if len(inner.invars) != len(eqn.invars):
                    continue
                mapping = {v: ins[i] for i, v in enumerate(inner.invars) if ins[i] is not None}
                for index, n in _count(inner, mapping).items():
                    add(index, n * repeat)
    return counts


def _sub_jaxprs(eqn: Any) -> list[Any]:
    """The jaxprs an equation calls (jit, custom derivatives, checkpoints, scan bodies)."""
    found = []
    for value in eqn.params.values():
        if isinstance(value, jex_core.ClosedJaxpr | jex_core.Jaxpr):
            found.append(value)
    return found
