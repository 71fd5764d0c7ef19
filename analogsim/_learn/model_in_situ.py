"""Chip-in-the-loop training of any JAX model: its analog weights live only as one chip's
conductances and learn by pulses; its digital numbers (biases, norms, embeddings) learn as
numbers beside the arrays.

    chip = to_analog(model, spec, key=chip_key, method="in-situ")
    opt = optax.sgd(0.05)
    opt_state = opt.init(model_weights(chip))
    def loss(chip, x, y, key):
        return cross_entropy(analog_call(chip, x, t=1.0, key=key), y)
    chip, opt_state, value, pulses = model_in_situ_step(
        loss, chip, opt, opt_state, x, y, k_read, key=k_pulses
    )

The forward pass is the chip's own (its devices, read noise, converters); the gradient of
each analog weight comes from those outputs, straight through the converters, per unit of
weight (dL/dw = dL/dG+ span / scale, as `chip_gradients` gives it for the built-in
networks); the optax chain shapes the desired change, and `update_layer` fires it, so what
lands is what the devices did. Under a Tiki-Taka algorithm (`get_algorithm("agad")`, ...)
the change goes to each weight's fast array instead (`with_model_fast_arrays` adds them),
and the fast arrays' transfers move the weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int

from device_models import fold_in
from device_models._checks import ParameterError, check_int_range

from .._chip.mapping import conductance_span
from .._model.convert import analog_weights, path_id, weight_key
from .._model.weight import AnalogWeight
from .algorithms import SGD, Algorithm, check_algorithm
from .device_update import update_layer
from .tiki_taka import with_fast_array


def _is_weight(node: Any) -> bool:
    return isinstance(node, AnalogWeight)


def _span(w: AnalogWeight) -> Array:
    g_lo, g_hi = conductance_span(w.spec)
    return g_hi - g_lo


def _trains(node: Any, digital: bool) -> bool:
    return digital and eqx.is_inexact_array(node)


def model_weights(chip: Any, *, digital: bool = True) -> Any:
    """What in-situ training of converted model `chip` moves, as optax sees it: the chip's
    tree with each analog weight replaced by the weight its conductance state holds as the
    crossbar holds it, scale (G+ - G-) / span, shape (inputs, outputs) (`AnalogWeight.held`
    gives it in the model's layout), and every other float array (the digital numbers) as it
    is; everything else None. `digital=False`: analog weights only.

    Shape the optimizer state with it (`opt.init(model_weights(chip))`); the gradients of
    `model_chip_gradients` have its structure.
    """

    def view(node: Any) -> Any:
        if _is_weight(node):
            g = node.state.devices.g
            return node.state.scale * (g[0] - g[1]) / _span(node)  # (inputs, outputs)
        return node if _trains(node, digital) else None

    return jax.tree.map(view, chip, is_leaf=_is_weight)


def model_chip_gradients(
    loss: Callable[..., Array], chip: Any, *args: Any, digital: bool = True, **kwargs: Any
) -> tuple[Array, Any]:
    """`loss(chip, *args, **kwargs)` (a scalar, computed through `analog_call`) and its
    gradients, shaped like `model_weights(chip, digital=digital)`: per unit of weight for
    each analog weight (through its G+ conductances, dL/dw = dL/dG+ span / scale), as they
    are for the digital numbers.
    """
    analog = analog_weights(chip)
    if not analog:
        raise ParameterError("model_chip_gradients found no analog weight: convert with to_analog")

    def differentiated(node: Any) -> Any:
        if _is_weight(node):
            none = jax.tree.map(lambda _: False, node)
            return eqx.tree_at(lambda w: w.state.devices.g, none, True)
        return _trains(node, digital)

    wanted = jax.tree.map(differentiated, chip, is_leaf=_is_weight)
    moving, fixed = eqx.partition(chip, wanted)
    value, grads = jax.value_and_grad(lambda m: loss(eqx.combine(m, fixed), *args, **kwargs))(
        moving
    )

    def per_weight(node: Any, grad: Any) -> Any:
        if _is_weight(node):
            return grad.state.devices.g[0] * _span(node) / node.state.scale
        return grad if _trains(node, digital) else None

    return value, jax.tree.map(per_weight, chip, grads, is_leaf=_is_weight)


def with_model_fast_arrays(chip: Any, algorithm: Algorithm, *, key: Array) -> Any:
    """Converted model `chip`, programmed on chip `key` (the key `to_analog` took), with the
    fast array `algorithm` learns through beside each analog weight.

    Weight `path` is a chip of one layer whose key is `weight_key(key, path)`, and its fast
    array is that layer's (`with_fast_array`, index 0): drawn as `make_chip(...,
    fast_arrays=True)` draws it (a weight whose identity is regenerated draws it again at
    every product, the same bits). The weights' own devices and state are unchanged.

    Raises:
        ParameterError: `algorithm` is plain SGD, or does not apply to a weight's devices.
    """
    if not algorithm.tiki_taka:
        raise ParameterError(f"algorithm {algorithm.name!r} learns without fast arrays")

    def add(w: Any) -> Any:
        if not _is_weight(w):
            return w
        check_algorithm(w.spec, algorithm)
        layer, state = _with_fast_array(
            w.spec, algorithm, w.devices(), w.state, key=weight_key(key, w.path), index=0
        )
        held = None if w.identity is None else layer
        return dataclasses.replace(w, identity=held, state=state)

    return jax.tree.map(add, chip, is_leaf=_is_weight)


# compiled (op by op, the symmetry points' bisection takes seconds a weight), once per
# array shape: the weight itself is not an argument, its path would be compiled in
_with_fast_array = eqx.filter_jit(with_fast_array)


def without_model_fast_arrays(chip: Any) -> Any:
    """Converted model `chip` without its weights' fast arrays (`with_model_fast_arrays`):
    the weights a Tiki-Taka run learned are their own arrays', and this is the chip that
    computes with them (and that `save_model` saves)."""

    def drop(w: Any) -> Any:
        if not _is_weight(w) or w.state.fast is None:
            return w
        held = None if w.identity is None else dataclasses.replace(w.identity, fast=None)
        return dataclasses.replace(w, identity=held, state=dataclasses.replace(w.state, fast=None))

    return jax.tree.map(drop, chip, is_leaf=_is_weight)


def apply_model_updates(
    chip: Any,
    updates: Any,
    *,
    key: Array,
    max_pulses: int = 31,
    algorithm: Algorithm = SGD,
    batch: int = 1,
) -> tuple[Any, Int[Array, ""]]:
    """Desired changes `updates` (shaped like `model_weights(chip)`, weight units) applied to
    converted model `chip`: each analog weight's fired by `algorithm` (weight `path` draws
    from `fold_in(key, path_id(path))`; `update_layer`: pulses on its devices, or under a
    Tiki-Taka algorithm on its fast array for a step of `batch` examples, the chip holding
    them by `with_model_fast_arrays`), the digital numbers' added. Returns (chip, pulses
    fired, refresh pulses included)."""
    check_int_range("max_pulses", max_pulses, 1, 1_000_000)
    check_int_range("batch", batch, 1, 1 << 30)
    fired = []

    def apply(node: Any, change: Any) -> Any:
        if _is_weight(node):
            if node.spec.pulse_response is None:
                raise ParameterError(
                    f"analog weight {node.path}: device {node.spec.device.name!r} has no "
                    "pulsed-update model; train in situ on a pulsed preset (see `analogsim "
                    "devices`) programmed with to_analog(..., method='in-situ')"
                )
            if algorithm.tiki_taka and node.state.fast is None:
                raise ParameterError(
                    f"analog weight {node.path}: algorithm {algorithm.name!r} learns through "
                    "a fast array beside each weight; add them with "
                    "with_model_fast_arrays(chip, algorithm, key=the chip's key)"
                )
            check_algorithm(node.spec, algorithm)
            state, f, _ = update_layer(
                node.spec, algorithm, node.devices(), node.state, change,
                key=fold_in(key, path_id(node.path)), batch=batch, max_pulses=max_pulses,
            )  # fmt: skip
            fired.append(f)
            return eqx.tree_at(lambda w: w.state, node, state)
        if change is None:
            return node
        return (node + change).astype(node.dtype)

    chip = jax.tree.map(apply, chip, updates, is_leaf=_is_weight)
    return chip, sum(fired, jnp.int32(0))


def model_in_situ_step(
    loss: Callable[..., Array],
    chip: Any,
    opt: optax.GradientTransformation,
    opt_state: optax.OptState,
    *args: Any,
    key: Array,
    max_pulses: int = 31,
    digital: bool = True,
    algorithm: Algorithm = SGD,
    batch: int = 1,
    **kwargs: Any,
) -> tuple[Any, optax.OptState, Array, Int[Array, ""]]:
    """One training step of converted model `chip` on its chip: `loss(chip, *args, **kwargs)`
    through the chip (`model_chip_gradients`), the optax chain `opt` (state from
    `opt.init(model_weights(chip, digital=digital))`) for the desired change, pulses from
    `key` (`apply_model_updates`: by `algorithm`, for a step of `batch` examples). Pure: jit
    it, or vmap it over a fleet's chips.

    Returns:
        (chip, opt_state, loss, pulses fired).
    """
    value, grads = model_chip_gradients(loss, chip, *args, digital=digital, **kwargs)
    changes, opt_state = opt.update(grads, opt_state, model_weights(chip, digital=digital))
    chip, fired = apply_model_updates(
        chip, changes, key=key, max_pulses=max_pulses, algorithm=algorithm, batch=batch
    )
    return chip, opt_state, value, fired
