"""Chip-in-the-loop (in-situ) training: the network lives only as one chip's conductances.

Forward passes run through the chip itself (its identity, read noise, converters); gradients
come from those outputs (straight-through at the converters); every weight update is a pulse
train that each device answers in its own way. For devices that move both ways the G- device
of each pair is a reference held at the conductance of w = 0 (aihwkit's convention); one-way
devices (PCM) climb on both sides of the pair and are refreshed when they fill up. The
effective weight is scale * (G+ - G-) / span with a fixed digital scale per layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from device_models import fold_in

from .._chip.forward import analog_linear, layer_output_noise
from .._chip.identity import ChipIdentity, make_chip
from .._chip.in_situ_start import check_in_situ_spec as check_in_situ_spec
from .._chip.in_situ_start import in_situ_layer
from .._chip.mapping import conductance_span
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState
from .._chip.update import rounding_draws
from .._core.keys import stream
from .._nn.digital import cross_entropy
from .._nn.networks import Network, apply, matmul_rows
from .algorithms import SGD, Algorithm, check_algorithm
from .device_update import apply_to_devices, with_pulse_residue
from .tiki_taka import with_fast_arrays


def init_in_situ(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    *,
    key: Array,
    algorithm: Algorithm = SGD,
) -> tuple[ChipIdentity, ChipState]:
    """Draw chip `key` and write the starting weights `params` onto it once (`in_situ_layer`:
    the digital scale of each layer is 4 max|w| of its starting weights, so they use the
    middle half of the devices' range and training has room on both sides). A Tiki-Taka
    `algorithm` also draws and writes each layer's fast array (`with_fast_arrays`); the
    weights' own devices are the same either way."""
    check_algorithm(spec, algorithm)
    chip = make_chip(spec, net.shapes, key=stream(key, "identity"))
    layers = [
        in_situ_layer(spec, layer_id, p["w"], p["b"], key=stream(key, "program", index))
        for index, (layer_id, p) in enumerate(zip(chip.layers, params, strict=True))
    ]
    state = with_pulse_residue(spec, ChipState(layers=tuple(layers)))
    if algorithm.tiki_taka:
        chip, state = with_fast_arrays(spec, algorithm, chip, state, key=key)
    return chip, state


def chip_gradients(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    x: Array,
    y: Array,
    *,
    key: Array,
    loss: Callable[[Array, Array], Array] = cross_entropy,
    output_noise: Sequence[Array] | None = None,
) -> tuple[dict[str, list[Array]], Array, Array]:
    """The loss `loss(logits, y)` of a forward pass through the chip itself and its gradients
    in weight units, as optax takes them.

    Layer l's read draws from `layer_key(key, l)`. The gradient with respect to
    each G+ conductance (through the chip's own read-out, straight through its converters)
    is expressed per unit of weight: dL/dw = dL/dG+ span / scale for w = scale (G+ - G-) / span.
    `output_noise`: each layer's output-noise draws, drawn ahead (`step_output_noise`).

    Returns:
        (gradients {"w": [(rows, cols)], "b": [(cols,)]}, loss, outputs_ok): `outputs_ok[l]`
        says layer l's outputs were finite.
    """
    g_lo, g_hi = conductance_span(spec)
    span = g_hi - g_lo

    def loss_fn(state: ChipState) -> tuple[Array, Array]:
        ok = []  # per layer: are its outputs finite (names the layer when training blows up)

        def matmul(index: int, h: Array) -> Array:
            out = analog_linear(
                spec,
                chip.layers[index],
                state.layers[index],
                h,
                t=1.0,
                key=layer_key(key, index),
                output_noise=None if output_noise is None else output_noise[index],
            )
            ok.append(jnp.all(jnp.isfinite(out)))
            return out

        logits = apply(net, x, matmul)
        return loss(logits, y), jnp.stack(ok)

    # allow_int: a Tiki-Taka state carries counters beside the conductances
    (value, outputs_ok), grads = jax.value_and_grad(loss_fn, has_aux=True, allow_int=True)(state)
    grad_tree = {
        "w": [
            gl.devices.g[0] * span / sl.scale
            for gl, sl in zip(grads.layers, state.layers, strict=True)
        ],
        "b": [gl.bias for gl in grads.layers],
    }
    return grad_tree, value, outputs_ok


def layer_key(key: Array, index: int) -> Array:
    """The read key of layer `index` in the training step with key `key`."""
    return fold_in(fold_in(key, 0), index)


def step_output_noise(
    spec: HardwareSpec, net: Network, chip: ChipIdentity, batch: int, *, key: Array
) -> list[Array]:
    """The output-noise draws of every layer in the step with key `key` on `batch` examples,
    as `chip_gradients(..., key=key)` would draw them itself (see `layer_output_noise`)."""
    rows = matmul_rows(net, batch)
    return [
        layer_output_noise(spec, layer, n, key=layer_key(key, index))
        for index, (layer, n) in enumerate(zip(chip.layers, rows, strict=True))
    ]


def update_key(key: Array, index: int) -> Array:
    """The pulse key of layer `index` in the training step with key `key`."""
    return fold_in(key, 1 + index)


def step_rounding_draws(
    spec: HardwareSpec, chip: ChipIdentity, *, key: Array
) -> list[Array] | None:
    """The stochastic-rounding uniforms of every layer's pulse counts in the step with key
    `key`, as `in_situ_step(..., key=key)` would draw them itself (`rounding_draws`); None
    under mixed-precision updates, which do not round stochastically."""
    if spec.pulse_update == "mixed-precision":
        return None
    return [
        rounding_draws(layer.devices.read_gain.shape[1:], key=update_key(key, index))
        for index, layer in enumerate(chip.layers)
    ]


def in_situ_step(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    opt: optax.GradientTransformation,
    opt_state: optax.OptState,
    x: Array,
    y: Array,
    *,
    key: Array,
    max_pulses: int = 31,
    loss: Callable[[Array, Array], Array] = cross_entropy,
    output_noise: Sequence[Array] | None = None,
    rounding: Sequence[Array] | None = None,
    algorithm: Algorithm = SGD,
) -> tuple[ChipState, optax.OptState, Array, Array, Array]:
    """One training step on the chip, minimizing `loss(logits, y)` (integer labels by default;
    soft targets with a distillation loss).

    Returns:
        (state, opt_state, loss, pulses fired, layer_ok): `layer_ok[l]` says layer l's
        conductances and outputs in this step, its gradients and its bias after it are all
        finite.

    The gradients of `chip_gradients` pass through `opt` (any optax chain: SGD, clipping,
    schedules) to give the desired weight change, which `apply_to_devices` fires as pulses
    (layer l's from `update_key(key, l)`); biases, kept digitally beside the array, take
    the optax update directly. `device_update` is the same last step as an optax link.
    `output_noise`: as for `chip_gradients`; `rounding`: the pulse counts' rounding draws,
    drawn ahead (`step_rounding_draws`). A Tiki-Taka `algorithm` fires the desired change
    at each layer's fast array and moves the weights from there (`tiki_taka_layer`).
    """
    grad_tree, value, outputs_ok = chip_gradients(
        spec, net, chip, state, x, y, key=key, loss=loss, output_noise=output_noise
    )
    # The conductances this step reads are checked, not the ones it writes: pulse counts are
    # clipped integers that keep devices within their bounds, so finite conductances and
    # gradients give finite ones, and a check of the new state made XLA compute the whole
    # pulse update twice. A bad device is named at the step that reads it; its layer's
    # outputs need not show it (the ADC clips an infinite current to full scale). A sum is
    # finite exactly when every conductance is (bounded devices cannot overflow it), and is
    # one vectorized reduction, where all(isfinite) made XLA write out a mask first.
    read_ok = [jnp.isfinite(jnp.sum(sl.devices.g)) for sl in state.layers]
    updates, opt_state = opt.update(grad_tree, opt_state)
    keys = [update_key(key, i) for i in range(len(chip.layers))]
    state, fired, _ = apply_to_devices(
        spec, chip, state, updates, keys=keys, max_pulses=max_pulses, uniforms=rounding,
        algorithm=algorithm, batch=x.shape[0],
    )  # fmt: skip
    layer_ok = jnp.stack(
        [
            outputs_ok[i]
            & read_ok[i]
            & jnp.all(jnp.isfinite(grad_tree["w"][i]))
            & jnp.all(jnp.isfinite(sl.bias))
            for i, sl in enumerate(state.layers)
        ]
    )
    return state, opt_state, value, fired, layer_ok


def opt_init_tree(state: ChipState) -> dict[str, list[Array]]:
    """A pytree shaped like the weight-space gradients of `in_situ_step` (for `opt.init`)."""
    return {
        "w": [sl.devices.g[0] for sl in state.layers],
        "b": [sl.bias for sl in state.layers],
    }
