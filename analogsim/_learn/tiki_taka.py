"""The Tiki-Taka family on a chip: the gradient accumulates on a fast array A, rows of A are
read through the chip's own read-out into a digital buffer H, and H's whole pulses are fired
at the weights' array C (see `algorithms.py` for the algorithms and their sources).

Everything physical goes through the chip: A's pulses are answered by A's own devices (their
steps, asymmetry, bounds and noise), A is read with one-hot inputs through its DACs, crossbar
and ADCs (read noise, quantization, converter errors), and C's pulses are answered by C's
devices. The weights the network computes with are C's alone (aihwkit's gamma = 0).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from device_models import noise_normal, noise_uniform
from device_models._checks import ParameterError

from .._chip.forward import analog_linear
from .._chip.identity import ChipIdentity, LayerIdentity, draw_fast_layer
from .._chip.mapping import conductance_span
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState, FastArray, LayerState
from .._chip.update import fire_pulses, nominal_pulse_step, pulsed_update
from .._core.keys import stream
from .algorithms import Algorithm


def init_fast_array(
    spec: HardwareSpec,
    algorithm: Algorithm,
    layer: LayerIdentity,
    *,
    key: Array,
) -> FastArray:
    """Write layer `layer`'s fast array for `algorithm` (`layer.fast` its identity).

    Each A+ device is written to its own symmetry point, where it rests under the gradient's
    random up and down pulses (the zero-shifting calibration of Kim et al. 2019). ttv2 and
    c-ttv2 read A against a reference device written there too, off by
    `reference_offset` x a standard normal per device (from `stream(key, "calibrate")`):
    the reference error Rasch et al. 2024 sweep. agad needs no such reference: its
    reference devices sit at the conductance of w = 0, as the weights' do. Both writes carry
    the device's programming noise (`stream(key, "program")`).
    """
    response, fast = spec.pulse_response, layer.fast
    if fast is None or response is None:
        raise ParameterError("a Tiki-Taka layer needs a chip drawn with fast_arrays=True")
    sp = response.symmetry_point(fast.pulses)
    if algorithm.name == "agad":
        reference = jnp.broadcast_to(response.rest_w(), sp.shape)
    else:
        offset = noise_normal(stream(key, "calibrate"), sp.shape)
        reference = sp + algorithm.reference_offset * offset
    target = response.to_g(jnp.stack([sp, reference]))
    devices = spec.device.program(fast.devices, target, key=stream(key, "program"))
    rows, cols = sp.shape
    zeros = jnp.zeros((rows, cols), jnp.float32)
    return FastArray(
        devices=devices,
        buffer=zeros,
        chopper=jnp.ones((rows,), jnp.float32),
        running_mean=zeros,
        past_mean=zeros,
        pointer=jnp.int32(0),
        sweeps=jnp.int32(0),
    )


def with_fast_arrays(
    spec: HardwareSpec,
    algorithm: Algorithm,
    chip: ChipIdentity,
    state: ChipState,
    *,
    key: Array,
) -> tuple[ChipIdentity, ChipState]:
    """Chip `key` (`chip`, its weights written in `state`, e.g. by a copy) with the fast
    arrays `algorithm` learns through (`init_in_situ` writes them this way), layer l's by
    `with_fast_array(..., key=key, index=l)`."""
    pairs = [
        with_fast_array(spec, algorithm, layer, sl, key=key, index=index)
        for index, (layer, sl) in enumerate(zip(chip.layers, state.layers, strict=True))
    ]
    layers, states = zip(*pairs, strict=True)
    return ChipIdentity(layers=tuple(layers)), ChipState(layers=tuple(states))


def with_fast_array(
    spec: HardwareSpec,
    algorithm: Algorithm,
    layer: LayerIdentity,
    state: LayerState,
    *,
    key: Array,
    index: int,
) -> tuple[LayerIdentity, LayerState]:
    """Layer `index` of chip `key` (`layer`, its weights written in `state`) with its fast
    array beside it: identity by `draw_fast_layer` as `make_chip(..., key=stream(key,
    "identity"), fast_arrays=True)` draws it, state by `init_fast_array` from `stream(key,
    "fast", index)`. A converted model's weight is a chip of one layer, its `weight_key`."""
    shape = tuple(int(n) for n in state.devices.g.shape[-2:])
    fast_id = draw_fast_layer(spec, shape, key=stream(key, "identity"), index=index)
    layer = dataclasses.replace(layer, fast=fast_id)
    fast = init_fast_array(spec, algorithm, layer, key=stream(key, "fast", index))
    return layer, dataclasses.replace(state, fast=fast)


def reads_per_step(algorithm: Algorithm, batch: int, rows: int) -> int:
    """Rows of a (rows, cols) fast array read in a step of `batch` examples: one per
    `transfer_every` examples, at least one, at most all of them."""
    return max(1, min(rows, batch // algorithm.transfer_every))


def tiki_taka_layer(
    spec: HardwareSpec,
    algorithm: Algorithm,
    layer: LayerIdentity,
    state: LayerState,
    dw: Float[Array, "rows cols"],
    *,
    key: Array,
    reads: int,
    max_pulses: int = 31,
    uniforms: Float[Array, "rows cols"] | None = None,
) -> tuple[LayerState, Int[Array, ""]]:
    """One step of `algorithm` on one layer for a desired weight change `dw` (weight units;
    the bias is left alone): the chopped change fired at the fast array A, `reads` rows of A
    read into the buffer H, H's whole pulses fired at the weights' devices.

    Keys: A's pulses draw as `pulsed_update(..., key=key)` (so `uniforms` are
    `rounding_draws(key=key)`); A's read from `stream(key, "read")`, the pulses at C from
    `stream(key, "transfer")`, c-ttv2's chopper flips from `stream(key, "chopper")`.

    Returns:
        (state, pulses fired at A and C).
    """
    fast, fast_id = state.fast, layer.fast
    if fast is None or fast_id is None:
        raise ParameterError(f"algorithm {algorithm.name!r} needs the layer's fast array")
    g_lo, g_hi = conductance_span(spec)
    per_weight = (g_hi - g_lo) / state.scale  # uS of G+ - G- per weight unit, (cols,)
    rows = dw.shape[0]

    # 1. the gradient onto A, each input row's part times its chopper sign
    chopped = algorithm.fast_lr * fast.chopper[:, None] * dw
    g_a, fired_a, _ = pulsed_update(
        spec, fast_id, fast.devices.g, chopped * per_weight, key=key,
        max_pulses=max_pulses, uniforms=uniforms,
    )  # fmt: skip
    a_devices = eqx.tree_at(lambda d: (d.g, d.g_target), fast.devices, (g_a, g_a))

    # 2. the next `reads` rows of A read through the chip: one-hot inputs, weight units
    j = jnp.arange(reads)
    at = (fast.pointer + j) % rows
    sweep = fast.sweeps + (fast.pointer + j) // rows  # the pass each read belongs to
    a_state = LayerState(
        devices=a_devices,
        scale=state.scale,
        bias=jnp.zeros_like(state.bias),
        drift_reference=jnp.float32(1.0),
    )
    one_hot = jax.nn.one_hot(at, rows, dtype=jnp.float32)
    read = analog_linear(spec, fast_id, a_state, one_hot, t=1.0, key=stream(key, "read"))
    sign = fast.chopper[at][:, None]

    # 3. into the buffer, against the reference of the algorithm
    running, past = fast.running_mean, fast.past_mean
    may_write = jnp.ones((reads, 1), bool)
    if algorithm.name == "agad":
        period = _agad_period(algorithm)
        # the choppers flip at the last read of every period-th pass: a row read first in a
        # new chopper period takes the running mean of the last one as its reference
        new_period = (sweep > 0) & (sweep % period == 0)
        past_rows = jnp.where(new_period[:, None], running[at], past[at])
        signal = (read - past_rows) * sign
        weight = jnp.minimum(algorithm.tail / period.astype(jnp.float32), 1.0)
        running = running.at[at].set(running[at] * (1.0 - weight) + read * weight)
        past = past.at[at].set(past_rows)
        # the first chopper period has no past period to compare with
        may_write = (sweep > period)[:, None]
    else:
        signal = read * sign
    step = nominal_pulse_step(spec.pulse_response) / per_weight  # one pulse of C, weight units
    h = fast.buffer[at] + algorithm.transfer_lr * signal / step
    m = algorithm.max_transfer_pulses
    n = jnp.where(may_write, jnp.clip(jnp.trunc(h), -m, m), 0.0)
    # aihwkit's forget_buffer: a buffer that fired starts again from zero
    buffer = fast.buffer.at[at].set(jnp.where(jnp.abs(h) >= 1.0, 0.0, h))

    # 4. the whole pulses fired at the weights' own devices
    counts = jnp.zeros(dw.shape, jnp.int32).at[at].set(n.astype(jnp.int32))
    g, fired_c, _ = fire_pulses(
        spec, layer, state.devices.g, counts, key=stream(key, "transfer"), max_pulses=m
    )

    # 5. the choppers of the rows just read
    if algorithm.name == "c-ttv2":
        flip = noise_uniform(stream(key, "chopper"), (reads,)) < algorithm.chop_prob
    elif algorithm.name == "agad":
        flip = (sweep % period) + 1 == period
    else:
        flip = jnp.zeros((reads,), bool)
    chopper = fast.chopper.at[at].set(jnp.where(flip, -sign[:, 0], sign[:, 0]))

    fast = FastArray(
        devices=a_devices,
        buffer=buffer,
        chopper=chopper,
        running_mean=running,
        past_mean=past,
        pointer=(fast.pointer + reads) % rows,
        sweeps=fast.sweeps + (fast.pointer + reads) // rows,
    )
    state = eqx.tree_at(lambda s: (s.devices.g, s.devices.g_target, s.fast), state, (g, g, fast))
    return state, fired_a + fired_c


def _agad_period(algorithm: Algorithm) -> Array:
    """AGAD's chopper period in passes over the rows: max(ceil(1 / chop_prob), 2)
    (`get_algorithm` refuses agad's chop_prob of 0)."""
    return jnp.maximum(jnp.ceil(1.0 / algorithm.chop_prob), 2.0).astype(jnp.int32)


def without_fast_arrays(chip: ChipIdentity, state: ChipState) -> tuple[ChipIdentity, ChipState]:
    """The chip and state without their fast arrays: the weights a Tiki-Taka run learned
    are its slow arrays', and this is the chip that computes with them."""
    drop = lambda layers: tuple(dataclasses.replace(layer, fast=None) for layer in layers)
    return ChipIdentity(layers=drop(chip.layers)), ChipState(layers=drop(state.layers))
