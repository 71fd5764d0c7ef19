"""In-situ updates as an optax gradient transformation: desired weight changes in, the changes
the chip's devices actually made out.

    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1), device_update(spec, chip))
    opt_state = opt.init(opt_init_tree(chip_state))  # shaped like the gradients
    grads, loss, _ = chip_gradients(spec, net, chip, chip_state, x, y, key=k_read)
    changes, opt_state = opt.update(grads, opt_state, chip_state, key=k_pulses)
    chip_state = optax.apply_updates(chip_state, changes)

Everything before the last link (schedules, clipping, momentum) shapes the *desired* change;
the last link fires the pulses, so what comes out is what the devices did (their own steps,
bounds, noise, stuck devices, PCM refreshes), not what was asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int

from device_models import fold_in
from device_models._checks import ParameterError, check_int_range

from .._chip.identity import ChipIdentity, LayerIdentity
from .._chip.mapping import conductance_span
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState, LayerState
from .._chip.update import pulsed_update, whole_step_update
from .algorithms import SGD, Algorithm, check_algorithm
from .tiki_taka import reads_per_step, tiki_taka_layer


class DeviceUpdateState(NamedTuple):
    """What `device_update` has done so far: pulses fired (refresh pulses included) and one-way
    pairs refreshed, summed over its updates."""

    pulses: Int[Array, ""]
    refreshes: Int[Array, ""]


def apply_to_devices(
    spec: HardwareSpec,
    chip: ChipIdentity,
    state: ChipState,
    updates: dict[str, Sequence[Array]],
    *,
    keys: Sequence[Array],
    max_pulses: int = 31,
    uniforms: Sequence[Array] | None = None,
    algorithm: Algorithm = SGD,
    batch: int = 1,
) -> tuple[ChipState, Int[Array, ""], Int[Array, ""]]:
    """Fire the pulses for desired weight changes `updates` ({"w": [(rows, cols)], "b": [(cols,)]}
    per layer, weight units) on `chip`; biases, kept digitally, take their change exactly.
    Layer l's pulses draw from `keys[l]`. Returns (state, pulses fired, pairs refreshed).

    Under a Tiki-Taka `algorithm` the changes go to each layer's fast array instead
    (`tiki_taka_layer`, reading rows for a step of `batch` examples).

    `spec.pulse_update` decides the counts: stochastic rounding, or (mixed precision) the
    change is added to the layer's `pulse_residue`, whole nominal steps of it are fired and
    the rest stays in the residue (the state must carry one: `with_pulse_residue`).
    `uniforms`: each layer's stochastic-rounding draws, drawn ahead (`rounding_draws` with
    `keys[l]`).
    """
    layers, fired, refreshed = [], jnp.int32(0), jnp.int32(0)
    for index, (layer_id, sl) in enumerate(zip(chip.layers, state.layers, strict=True)):
        u = None if uniforms is None else uniforms[index]
        sl, f, r = update_layer(
            spec, algorithm, layer_id, sl, updates["w"][index], key=keys[index], batch=batch,
            max_pulses=max_pulses, uniforms=u,
        )  # fmt: skip
        layers.append(eqx.tree_at(lambda s: s.bias, sl, sl.bias + updates["b"][index]))
        fired, refreshed = fired + f, refreshed + r
    return ChipState(layers=tuple(layers)), fired, refreshed


def update_layer(
    spec: HardwareSpec,
    algorithm: Algorithm,
    layer: LayerIdentity,
    state: LayerState,
    dw: Float[Array, "rows cols"],
    *,
    key: Array,
    batch: int = 1,
    max_pulses: int = 31,
    uniforms: Float[Array, "rows cols"] | None = None,
) -> tuple[LayerState, Int[Array, ""], Int[Array, ""]]:
    """One layer's desired weight change `dw` (weight units; its bias left alone) fired by
    `algorithm`: at its devices (`pulse_layer`), or at its fast array for a step of `batch`
    examples (`tiki_taka_layer`, which refreshes nothing). Returns (state, pulses fired,
    pairs refreshed)."""
    if algorithm.tiki_taka:
        reads = reads_per_step(algorithm, batch, state.devices.g.shape[-2])
        state, fired = tiki_taka_layer(
            spec, algorithm, layer, state, dw, key=key, reads=reads, max_pulses=max_pulses,
            uniforms=uniforms,
        )  # fmt: skip
        return state, fired, jnp.int32(0)
    return pulse_layer(spec, layer, state, dw, key=key, max_pulses=max_pulses, uniforms=uniforms)


def pulse_layer(
    spec: HardwareSpec,
    layer: LayerIdentity,
    state: LayerState,
    dw: Float[Array, "rows cols"],
    *,
    key: Array,
    max_pulses: int = 31,
    uniforms: Float[Array, "rows cols"] | None = None,
) -> tuple[LayerState, Int[Array, ""], Int[Array, ""]]:
    """Fire the pulses for a desired change `dw` (weight units) of one layer's weights; its
    bias is left alone. Returns (state, pulses fired, pairs refreshed); see
    `apply_to_devices`."""
    g_lo, g_hi = conductance_span(spec)
    span = g_hi - g_lo
    mixed = spec.pulse_update == "mixed-precision"
    if mixed:
        if state.pulse_residue is None:
            raise ParameterError(
                "mixed-precision updates keep a residue beside each array; start from "
                "init_in_situ's state, to_analog(..., method='in-situ') or "
                "with_pulse_residue(spec, state)"
            )
        dw = dw + state.pulse_residue
    # w = scale (G+ - G-) / span, so a weight change dw asks for dw span / scale of G+ - G-
    args = (spec, layer, state.devices.g, dw * span / state.scale)
    if mixed:
        g, fired, refreshed, asked = whole_step_update(*args, key=key, max_pulses=max_pulses)
        state = eqx.tree_at(lambda s: s.pulse_residue, state, dw - asked * state.scale / span)
    else:
        g, fired, refreshed = pulsed_update(
            *args, key=key, max_pulses=max_pulses, uniforms=uniforms
        )
    # a device moved by pulses sits where its last programming put it: drift statistics
    # that depend on the programmed level (PCM's exponent) follow it
    state = eqx.tree_at(lambda s: (s.devices.g, s.devices.g_target), state, (g, g))
    return state, fired, refreshed


def with_pulse_residue(spec: HardwareSpec, state: ChipState) -> ChipState:
    """`state` with a zero `pulse_residue` on every layer that has none, when `spec` asks for
    mixed-precision updates; unchanged otherwise."""
    if spec.pulse_update != "mixed-precision":
        return state
    layers = tuple(
        sl
        if sl.pulse_residue is not None
        else eqx.tree_at(
            lambda s: s.pulse_residue,
            sl,
            # (rows, cols) after any leading fleet axes; g is (..., 2, rows, cols)
            jnp.zeros(sl.devices.g.shape[:-3] + sl.devices.g.shape[-2:], jnp.float32),
            is_leaf=lambda x: x is None,
        )
        for sl in state.layers
    )
    return ChipState(layers=layers)


def device_update(
    spec: HardwareSpec, chip: ChipIdentity, *, max_pulses: int = 31
) -> optax.GradientTransformationExtraArgs:
    """The last link of an optax chain that trains `chip` in situ.

    `update(updates, state, params, *, key)`: `updates` are desired weight changes shaped like
    `chip_gradients`' gradients, `params` the chip's `ChipState`; layer l's pulses draw from
    `fold_in(key, l)`. The result is a `ChipState`-shaped tree of the changes the devices
    made (conductances in uS, digital biases; everything else zero), to be applied with
    `optax.apply_updates(params, changes)`.
    """
    if spec.pulse_response is None:
        raise ParameterError(
            f"device {spec.device.name!r} has no pulsed-update model; device_update needs a "
            "pulsed preset (see `analogsim devices`)"
        )
    return _device_link("device_update", spec, chip, max_pulses, SGD, 1)


def tiki_taka_update(
    spec: HardwareSpec,
    chip: ChipIdentity,
    algorithm: Algorithm,
    *,
    batch: int,
    max_pulses: int = 31,
) -> optax.GradientTransformationExtraArgs:
    """The last link of an optax chain that trains `chip` in situ by a Tiki-Taka algorithm
    (ttv2, c-ttv2, agad), as `device_update` does by plain SGD: `chip` and its state written
    by `init_in_situ(..., algorithm=algorithm)`, which draws each layer's fast array.

    `update(updates, state, params, *, key)` as for `device_update`; `batch` is the examples
    per step (it sets the fast-array rows read, `reads_per_step`). The changes it returns
    cover both arrays' conductances (uS), the algorithm's digital numbers and the biases.
    `DeviceUpdateState.refreshes` stays 0 (the family runs on devices that move both ways).
    """
    check_algorithm(spec, algorithm)
    if not algorithm.tiki_taka:
        raise ParameterError("tiki_taka_update runs ttv2, c-ttv2 or agad; for sgd: device_update")
    return _device_link("tiki_taka_update", spec, chip, max_pulses, algorithm, batch)


def _device_link(
    link: str,
    spec: HardwareSpec,
    chip: ChipIdentity,
    max_pulses: int,
    algorithm: Algorithm,
    batch: int,
) -> optax.GradientTransformationExtraArgs:
    """The optax link `apply_to_devices` makes: what `device_update` and `tiki_taka_update`
    return (`link` names it in errors)."""
    check_int_range("max_pulses", max_pulses, 1, 1_000_000)

    def init(params: Any) -> DeviceUpdateState:
        del params
        return DeviceUpdateState(pulses=jnp.int32(0), refreshes=jnp.int32(0))

    def update(
        updates: Any, state: DeviceUpdateState, params: ChipState | None = None, **extra: Any
    ) -> tuple[ChipState, DeviceUpdateState]:
        if not isinstance(params, ChipState) or "key" not in extra:
            raise ParameterError(
                f"{link}'s update needs the chip's state as params and a key=: "
                "opt.update(grads, opt_state, chip_state, key=key)"
            )
        keys = [fold_in(extra["key"], i) for i in range(len(chip.layers))]
        new, fired, refreshed = apply_to_devices(
            spec, chip, params, updates, keys=keys, max_pulses=max_pulses,
            algorithm=algorithm, batch=batch,
        )  # fmt: skip
        changes = jax.tree.map(jnp.subtract, new, params)
        return changes, DeviceUpdateState(state.pulses + fired, state.refreshes + refreshed)

    return optax.GradientTransformationExtraArgs(init, update)
