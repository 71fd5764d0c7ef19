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
from typing import Any, NamedTuple

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
    return program_counts(chip, *example, **kwargs).vectors


class ProgramCounts(NamedTuple):
    """What one call of a converted model does, counted from its program.

    Attributes:
        vectors: {weight path: input vectors} its analog weights take.
        digital_macs: multiply-accumulates of products that involve no analog weight
            (attention scores, a weight kept digital).
        digital_ops: other arithmetic operations, one per output element (activations,
            norms, residual sums, softmax; a reduction counts its inputs); operations that
            only move numbers (reshapes, slices, gathers, casts) count nothing.
    """

    vectors: dict[str, int]
    digital_macs: float
    digital_ops: float


def program_counts(chip: Any, *example: Any, **kwargs: Any) -> ProgramCounts:
    """`ProgramCounts` of `chip` (a converted model) called once on `example` (arguments
    without a batch axis)."""
    weights = analog_weights(chip)
    if not weights:
        raise ParameterError("found no analog weight: convert the model first (to_analog)")
    held = [w.held() for w in weights]

    def run(ws: list[Any], *args: Any) -> Any:
        """The digital copy of the model with `ws` in the weights' places, called once."""
        return map_weights(lambda _, w: w, chip, ws)(*args, **kwargs)

    closed = jax.make_jaxpr(run)(held, *example)
    tally = _Tally()
    _count(closed.jaxpr, {v: i for i, v in enumerate(closed.jaxpr.invars[: len(held)])}, tally)
    vectors = {w.path: int(tally.vectors.get(i, 0)) for i, w in enumerate(weights)}
    return ProgramCounts(vectors, tally.macs, tally.ops)


class _Tally:
    """Counts gathered over a program: vectors per weight index, digital MACs and ops."""

    def __init__(self) -> None:
        self.vectors: dict[int, float] = {}
        self.macs = 0.0
        self.ops = 0.0

    def add(self, other: _Tally, times: float) -> None:
        for index, n in other.vectors.items():
            self.vectors[index] = self.vectors.get(index, 0) + n * times
        self.macs += other.macs * times
        self.ops += other.ops * times


# operations that only move or relabel numbers: no arithmetic to count
_MOVES = _LAYOUT | {
    "broadcast_in_dim",
    "squeeze",
    "expand_dims",
    "slice",
    "dynamic_slice",
    "dynamic_update_slice",
    "concatenate",
    "gather",
    "scatter",
    "pad",
    "rev",
    "iota",
    "stop_gradient",
    "select_n",
    "sharding_constraint",
    "pjit",
    "jit",
    "closed_call",
    "core_call",
    "custom_jvp_call",
    "custom_vjp_call",
    "custom_vjp_call_jaxpr",
    "remat",
    "checkpoint",
    "scan",
    "while",
    "cond",
    "random_bits",
    "random_wrap",
    "random_unwrap",
    "random_seed",
    "random_fold_in",
    "threefry2x32",
}
_REDUCTIONS = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin"}


def _count(jaxpr: Any, weight_of: dict[Any, int], tally: _Tally) -> None:
    """Add to `tally` what `jaxpr` does; its variables in `weight_of` hold weights."""
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        ins = [weight_of.get(v) if isinstance(v, jex_core.Var) else None for v in eqn.invars]
        if name in _LAYOUT and ins and ins[0] is not None:
            weight_of[eqn.outvars[0]] = ins[0]
        elif name == "dot_general":
            (contract_l, contract_r), _ = eqn.params["dimension_numbers"]
            weighted = False
            for side, other, contract in ((0, 1, contract_r), (1, 0, contract_l)):
                if ins[side] is not None and ins[other] is None:
                    shape = eqn.invars[other].aval.shape
                    inner = math.prod(shape[d] for d in contract)
                    index = ins[side]
                    tally.vectors[index] = tally.vectors.get(index, 0) + math.prod(shape) / inner
                    weighted = True
            if not weighted:
                lhs = eqn.invars[0].aval.shape
                inner = math.prod(lhs[d] for d in contract_l)
                tally.macs += math.prod(eqn.outvars[0].aval.shape) * inner
        elif name == "conv_general_dilated":
            out = eqn.outvars[0].aval.shape
            feature = eqn.params["dimension_numbers"].out_spec[1]
            if ins[1] is not None:
                index = ins[1]
                vectors = math.prod(out) / out[feature] * eqn.params["feature_group_count"]
                tally.vectors[index] = tally.vectors.get(index, 0) + vectors
            else:
                kernel = eqn.invars[1].aval.shape
                outputs = kernel[eqn.params["dimension_numbers"].rhs_spec[0]]
                tally.macs += math.prod(out) * math.prod(kernel) / outputs
        else:
            subs = _sub_jaxprs(eqn)
            repeat = eqn.params.get("length", 1) if name == "scan" else 1
            for sub in subs:
                inner = sub.jaxpr if hasattr(sub, "jaxpr") else sub
                if len(inner.invars) != len(eqn.invars):
                    continue
                mapping = {v: ins[i] for i, v in enumerate(inner.invars) if ins[i] is not None}
                part = _Tally()
                _count(inner, mapping, part)
                tally.add(part, repeat)
            if subs or name in _MOVES:
                continue
            if name in _REDUCTIONS:
                tally.ops += sum(math.prod(v.aval.shape) for v in eqn.invars[:1])
            else:
                tally.ops += sum(math.prod(getattr(v.aval, "shape", ())) for v in eqn.outvars)


def _sub_jaxprs(eqn: Any) -> list[Any]:
    """The jaxprs an equation calls (jit, custom derivatives, checkpoints, scan bodies)."""
    found = []
    for value in eqn.params.values():
        if isinstance(value, jex_core.ClosedJaxpr | jex_core.Jaxpr):
            found.append(value)
    return found
