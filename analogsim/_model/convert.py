"""`to_analog` and `analog_call`: a user's JAX model with its weights on a chip.

A weight's devices are named by its place in the model: weight `path` of chip `key` takes the
key `fold_in(key, path_id(path))`, its devices drawn from that key's "identity" stream and
its programming from its "program" stream, so the same chip key gives the same devices for a
weight whatever other layers the model has. Its reads at `analog_call` take
`fold_in(read_key, path_id(path))`. With `regenerate_identity` the devices are drawn again
from the same "identity" key at every product instead of being held.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import quax
from jaxtyping import Array, ArrayLike

from device_models import fold_in
from device_models._checks import ParameterError, check_nonnegative, check_range

from .._chip.identity import ChipIdentity, LayerIdentity, make_chip
from .._chip.in_situ_start import check_in_situ_spec, in_situ_layer
from .._chip.program import PROGRAM_METHODS, program_chip
from .._chip.spec import HardwareSpec
from .._chip.state import LayerState
from .._core.keys import stream
from .nnx import check_nnx_pytree, convert_nnx, is_nnx_node
from .weight import EXAMPLE_AXIS, AnalogWeight

# where(path, array) -> bool: which weights go on crossbars
Where = Callable[[str, Array], bool]

# program_chip's methods, and the in-situ start: written once for training on the chip
MODEL_METHODS: tuple[str, ...] = (*PROGRAM_METHODS, "in-situ")


def path_id(path: str) -> int:
    """A weight's stable 32-bit number from its path (CRC-32), for deriving its keys."""
    return zlib.crc32(path.encode())


def weight_key(key: Array, path: str) -> Array:
    """The key of weight `path` on chip `key`: its devices come from `stream(weight_key,
    "identity")`, its programming from `stream(weight_key, "program")`."""
    return fold_in(key, path_id(path))


def weight_identity(spec: HardwareSpec, shape: tuple[int, int], key: Array) -> LayerIdentity:
    """The devices and converters of a weight held as `shape` (inputs, outputs) whose
    `weight_key` is `key`, as `to_analog` draws them."""
    return make_chip(spec, [shape], key=stream(key, "identity")).layers[0]


def _is_layer(node: Any) -> bool:
    return isinstance(node, eqx.nn.Linear | eqx.nn.Conv)


def _is_node(node: Any) -> bool:
    return _is_layer(node) or is_nnx_node(node)


def to_analog(
    model: Any,
    spec: HardwareSpec,
    *,
    key: Array,
    method: str = "verify",
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
    where: Where | None = None,
    regenerate_identity: bool = False,
    headroom: ArrayLike = 4.0,
) -> Any:
    """`model` with each selected weight programmed on its own crossbar devices of chip `key`.

    Args:
        model: any pytree: an equinox module, a flax nnx module, or the parameters of a
            function `f(params, x)` (an nnx State from `nnx.split` too).
        spec: the hardware (`spec_for(name)`, a `HardwareSpec`).
        key: the chip's key (`chip_key(root_key(seed), i)`).
        method: how each weight is programmed (`program_chip`): "verify" (default), the
            preset's "published" procedure, or "open-loop"; or "in-situ", the start of
            training on the chip (`model_in_situ_step`): written once in the in-situ mapping
            (`in_situ_layer`: G- a reference, the digital scale `headroom` x max|w| so the
            weights can grow), drift compensation off; it needs a pulsed preset.
        iterations, tolerance: the verify loop's rounds and accepted |read - target| (uS);
            the tolerance may be traced (a sweep over it compiles once).
        where: `where(path, array) -> bool` picks the weights (2-D float arrays) that go on
            crossbars. Default: the weight of every `equinox.nn.Linear` and `equinox.nn.Conv`
            (1-, 2- or 3-D, any stride, padding, dilation and feature groups). A `Linear`
            weight (out, in) is held as (in, out) and contracted over its axis 1, as `Linear`
            uses it; a convolution kernel (out, in / groups, *window) is held as
            ((in / groups) x window, out) and runs as im2col products; any other selected
            matrix is contracted over its axis 0 (`x @ w`). Biases and everything not
            selected stay digital. In a flax nnx model (a pytree Module, flax >= 0.12)
            the kernel of every `nnx.Linear` ((in, out), contracted over its axis 0) and
            `nnx.Conv` (channels-last (*window, in / groups, out), held as
            ((in / groups) x window, out)) by default, named `<module path>.kernel`; `where`
            sees every other nnx Variable by its path without `.value`. The result is a copy
            with Variables of its own.
        regenerate_identity: hold only what programming left in the devices (24 bytes a
            weight) and draw each weight's devices and converters again from its key inside
            every product (44 bytes a weight more are held otherwise). The same chip, bit for
            bit; every product pays for the draws again, and on a CPU today the compiled
            forward's own memory outweighs the saving (`benchmarks/README.md`).
        headroom: method "in-situ" only: each weight's digital scale is `headroom` x its
            max|w| (>= 1; may be traced). 4 leaves a fresh network room to grow; a trained
            start wants about 1.25, since the devices' noise in weight units grows with it.

    Returns:
        The model with `AnalogWeight`s in place of the selected weights; run it with
        `analog_call`. Works under `jit`, and `vmap` over chip keys makes a fleet.

    Raises:
        ParameterError: no weight selected, a selected weight that is not a float matrix, or
            an unknown method.
    """
    if method not in MODEL_METHODS:
        raise ParameterError(f"method must be one of {MODEL_METHODS}; got {method!r}")
    if method == "in-situ":
        spec = check_in_situ_spec(spec)
    check_range("headroom", headroom, 1.0)
    found: list[str] = []

    def program(
        path: str,
        w: Array,
        rows_axis: int,
        groups: int = 0,
        kernel_spec: tuple[int, ...] | None = None,
    ) -> AnalogWeight:
        """`groups` > 0: `w` is a convolution kernel with that many feature groups, its axes
        (out, in / groups, *window) at `kernel_spec` (None: in that order, equinox's)."""
        shape_ok = jnp.ndim(w) >= 3 if groups else jnp.ndim(w) == 2
        if not shape_ok or not jnp.issubdtype(jnp.result_type(w), jnp.floating):
            what = "a convolution kernel (out, in / groups, *window)" if groups else "a matrix"
            raise ParameterError(
                f"weight {path}: only float matrices and convolution kernels go on crossbars; "
                f"got shape {tuple(jnp.shape(w))} {jnp.result_type(w)} where {what} was "
                "expected (exclude it with `where`)"
            )
        found.append(path)
        w = jnp.asarray(w, jnp.float32)
        # (rows, cols) = (inputs, outputs); a kernel's rows are its channels x window
        if groups:
            kernel_spec = kernel_spec or tuple(range(w.ndim))
            kernel = jnp.transpose(w, kernel_spec)  # (out, in / groups, *window)
            held = kernel.reshape(kernel.shape[0], -1).T
        else:
            held = w if rows_axis == 0 else w.T
        own = weight_key(key, path)
        identity_key = stream(own, "identity")
        identity, state = _program_weight(spec, held, own, method, iterations, tolerance, headroom)
        return AnalogWeight(
            spec=spec,
            identity=None if regenerate_identity else identity,
            # raw key data: a typed key cannot be saved (save_model)
            identity_key=jax.random.key_data(identity_key) if regenerate_identity else None,
            state=state,
            weight_shape=tuple(w.shape),
            rows_axis=rows_axis,
            path=path,
            groups=max(groups, 1),
            kernel_spec=kernel_spec,
        )

    def visit(path_keys: tuple, node: Any) -> Any:
        path = jax.tree_util.keystr(path_keys)
        if is_nnx_node(node):
            return convert_nnx(node, path, where, program)
        if _is_layer(node):
            weight_path = f"{path}.weight"
            if where is None or where(weight_path, node.weight):
                groups = node.groups if isinstance(node, eqx.nn.Conv) else 0
                weight = program(weight_path, node.weight, 1, groups)
                return eqx.tree_at(lambda m: m.weight, node, weight)
            return node
        if where is not None and eqx.is_array(node) and where(path, node):
            return program(path, node, 0)
        return node

    check_nnx_pytree(model)
    converted = jax.tree_util.tree_map_with_path(visit, model, is_leaf=_is_node)
    if not found:
        raise ParameterError(
            "to_analog selected no weight: the model has no equinox.nn.Linear or Conv (nor "
            "flax nnx.Linear or Conv) and `where` chose no float matrix"
        )
    return converted


# compiled: run op by op, drawing and programming a chip's devices takes seconds
@eqx.filter_jit
def _program_weight(
    spec: HardwareSpec,
    held: Array,
    key: Array,
    method: str,
    iterations: int,
    tolerance: ArrayLike,
    headroom: ArrayLike,
) -> tuple[LayerIdentity, LayerState]:
    """One weight, held as (inputs, outputs), on the devices of its `weight_key` `key`,
    programmed from `stream(key, "program")`."""
    layer = weight_identity(spec, held.shape, key)
    program_key = stream(key, "program")
    if method == "in-situ":
        bias = jnp.zeros(held.shape[1], jnp.float32)
        return layer, in_situ_layer(spec, layer, held, bias, key=program_key, headroom=headroom)
    params = [{"w": held, "b": jnp.zeros(held.shape[1], jnp.float32)}]
    state = program_chip(
        spec,
        ChipIdentity(layers=(layer,)),
        params,
        key=program_key,
        method=method,
        iterations=iterations,
        tolerance=tolerance,
    )
    return layer, state.layers[0]


def _is_weight(node: Any) -> bool:
    return isinstance(node, AnalogWeight)


def analog_weights(model: Any) -> list[AnalogWeight]:
    """The analog weights of a converted model, in tree order."""
    return [n for n in jax.tree.leaves(model, is_leaf=_is_weight) if _is_weight(n)]


def map_weights(fn: Callable[..., Any], chip: Any, *per_weight: Sequence[Any]) -> Any:
    """`chip` with its i-th analog weight `w` (tree order, as `analog_weights` lists them)
    replaced by `fn(w, *(items[i] for items in per_weight))`; everything else kept."""
    leaves, tree = jax.tree.flatten(chip, is_leaf=_is_weight)
    columns = iter(zip(*per_weight, strict=True)) if per_weight else None
    out = [
        fn(leaf, *(next(columns) if columns else ())) if _is_weight(leaf) else leaf
        for leaf in leaves
    ]
    return jax.tree.unflatten(tree, out)


def from_analog(chip: Any) -> Any:
    """A digital copy of converted model `chip`: each analog weight replaced by the weight its
    conductance state holds (`AnalogWeight.held`), in the model's own layout. After training
    on the chip (`model_in_situ_step`) it is what that chip learned, as numbers another chip
    could be programmed with."""
    return map_weights(lambda w: w.held(), chip)


def analog_call(
    model: Any,
    *args: Any,
    t: ArrayLike,
    key: Array,
    in_axes: Any = None,
    **kwargs: Any,
) -> Any:
    """Run `model(*args, **kwargs)` with every analog weight's products computed by the chip
    read `t` seconds after programming.

    Args:
        model: a converted model (`to_analog`) that is callable, or a function whose
            arguments hold analog weights (`analog_call(f, analog_params, x, ...)`).
        t: seconds after programming (drift, relaxation and read noise at that time).
        key: this evaluation's read key; weight `path` reads with `fold_in(key, path_id(path))`.
        in_axes: run the model one example at a time, `jax.vmap(..., in_axes)` over `args`
            (for per-example models such as equinox's layers): every example shares one read
            of each array and is converted with its own output noise. None: call it once.

    A model that takes a batch itself shares one read of each array over the batch, each row
    converted with its own output noise, as `apply_analog` does.
    """
    check_nonnegative("t", t, unit="s")
    t = jnp.asarray(t, jnp.float32)
    per_example = in_axes is not None

    def bind(node: Any) -> Any:
        if not _is_weight(node):
            return node
        read = fold_in(key, path_id(node.path))
        return dataclasses.replace(node, t=t, key=read, per_example=per_example)

    model, args, kwargs = jax.tree.map(bind, (model, args, kwargs), is_leaf=_is_weight)
    if not analog_weights((model, args, kwargs)):
        raise ParameterError("analog_call found no analog weight: convert the model with to_analog")
    return _call(model, args, kwargs, in_axes)


# compiled for the same reason as `_program_weight`; under an outer jit it is inlined
@eqx.filter_jit
def _call(model: Any, args: tuple, kwargs: dict, in_axes: Any) -> Any:
    if in_axes is None:
        return _quaxified(model, args, kwargs)
    return jax.vmap(
        lambda *a: _quaxified(model, a, kwargs), in_axes=in_axes, axis_name=EXAMPLE_AXIS
    )(*args)


def _quaxified(model: Any, args: tuple, kwargs: dict) -> Any:
    """`model(*args, **kwargs)` with quax's rules. The pytree is rebuilt inside the
    quaxified function, under quax's trace, so that nnx Variables (whose TraceState is taken
    when they are rebuilt) may be mutated there, as BatchNorm's statistics and Dropout's
    RNG count are in training mode; quaxify(model) would rebuild them outside it, and flax
    raises TraceContextError at the first mutation."""
    leaves, tree = jax.tree.flatten((model, args, kwargs), is_leaf=_is_weight)

    def run(*leaves: Any) -> Any:
        model, args, kwargs = jax.tree.unflatten(tree, leaves)
        return model(*args, **kwargs)

    return quax.quaxify(run)(*leaves)
