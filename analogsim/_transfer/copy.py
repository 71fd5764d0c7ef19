"""Copying what one chip learned onto another by measurement: its conductances or its weights.

Both strategies measure chip A once (with read noise, through what A's read-out sees) and
write each chip B closed loop through B's own read-out; A's digital numbers (weight scale,
bias) are copied exactly. What neither can copy is what made A's conductances right *for A*: A's
stuck devices, converter errors and I-V law were compensated by training, and B has its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Int

from device_models import DeviceState, fold_in

from .._chip.identity import ChipIdentity, LayerIdentity
from .._chip.mapping import conductance_span, reference_to_conductances
from .._chip.program import layer_state, program_and_verify_counted
from .._chip.read import read_conductances
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState, LayerState
from .._core.keys import stream
from .probe import probe_cycles, probe_weights


def mean_read(
    spec: HardwareSpec,
    layer: LayerIdentity,
    state: LayerState,
    t: ArrayLike,
    *,
    key: Array,
    reads: int,
) -> Array:
    """The (G+, G-) conductances (uS) of `reads` device reads averaged; read r uses
    `fold_in(key, r)`."""
    one = lambda r: read_conductances(spec, layer, state, t, key=fold_in(key, r))
    return jax.vmap(one)(jnp.arange(reads)).mean(axis=0)


def measure_conductances(
    spec: HardwareSpec,
    chip: ChipIdentity,
    state: ChipState,
    *,
    key: Array,
    reads: int = 4,
    t: ArrayLike = 1.0,
) -> tuple[list[Array], Int[Array, ""]]:
    """Read every device of a chip, `reads` reads averaged (layer l from `stream(key, "read", l)`).

    A device read sees the device's read gain and read noise, and a stuck device reads as
    the value it is stuck at.

    Returns:
        ((G+, G-) conductances in uS per layer, shape (2, rows, cols); read cycles spent, where
        a read cycle reads one row of one array, and G+ and G- are separate arrays).
    """
    gs, cycles = [], 0
    for index, (layer, st) in enumerate(zip(chip.layers, state.layers, strict=True)):
        gs.append(mean_read(spec, layer, st, t, key=stream(key, "read", index), reads=reads))
        cycles += reads * 2 * layer.devices.g_max.shape[1]
    return gs, jnp.int32(cycles)


def write_conductances(
    spec: HardwareSpec,
    chip: ChipIdentity,
    conductances: Sequence[Array],
    digital: ChipState,
    *,
    key: Array,
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
) -> tuple[ChipState, Int[Array, ""], Int[Array, ""]]:
    """Program-and-verify measured conductances into the same devices of another chip.

    B's verify sees B's own read gain, so B's reads come to reproduce what A's reads saw. The
    digital numbers (weight scale, bias) are copied exactly from `digital` (A's state).

    Args:
        key: layer l writes from `stream(key, "program", l)`.
        iterations, tolerance: program-and-verify settings (tolerance in uS).

    Returns:
        (the chip's state, read cycles of its verify reads, device writes).
    """
    layers, cycles, writes = [], jnp.int32(0), jnp.int32(0)
    for index, (layer, g, sa) in enumerate(
        zip(chip.layers, conductances, digital.layers, strict=True)
    ):
        k = stream(key, "program", index)
        devices, n = program_and_verify_counted(
            spec.device, layer.devices, g, key=k, iterations=iterations, tolerance=tolerance
        )
        layers.append(layer_state(spec, layer, devices, sa.scale, sa.bias, key=k))
        cycles = cycles + verify_read_cycles(layer.devices.g_max.shape[1], iterations)
        writes = writes + n
    return ChipState(layers=tuple(layers)), cycles, writes


def _reference_targets(spec: HardwareSpec, w: Array) -> tuple[Array, Array]:
    """(G+, G-) aims (uS) for effective weights `w` (normalized units), and which device of
    each pair first carries the corrections (+1 for G+, -1 for G-, shape (2, rows, cols))."""
    g_lo, g_hi = conductance_span(spec)
    span = g_hi - g_lo
    if spec.pulse_response is not None and not spec.pulse_response.unidirectional:
        # in-situ mapping: G- is a reference at the conductance of w = 0, G+ carries
        aims = reference_to_conductances(spec, w)
        carrier = jnp.stack([jnp.ones_like(w), jnp.zeros_like(w)])
        return aims, carrier
    plus = w >= 0
    if spec.pulse_response is not None:  # one-way pairs climb from their RESET level
        aims = reference_to_conductances(spec, w)
    else:
        aims = jnp.stack([g_lo + jnp.maximum(w, 0.0) * span, g_lo + jnp.maximum(-w, 0.0) * span])
    carrier = jnp.stack([plus, ~plus]).astype(w.dtype) * jnp.array([1.0, -1.0])[:, None, None]
    return aims, carrier


def match_weights(
    spec: HardwareSpec,
    layer: LayerIdentity,
    w_target: Array,
    scale: Array,
    bias: Array,
    *,
    key: Array,
    probes: int = 8,
    iterations: int = 10,
    tolerance: ArrayLike = 0.01,
    correction: ArrayLike = 0.5,
    t: ArrayLike = 1.0,
) -> tuple[LayerState, Int[Array, ""], Int[Array, ""]]:
    """Write one layer of B so that B's *measured* effective weights match `w_target`.

    Program-and-verify one level up: write, probe B's effective weights through its own
    converters (`probe_weights`), move the aim of the pair's carrying device so the weight
    moves by `correction * error`, rewrite the pairs still off by more than `tolerance`
    (normalized weight units), `iterations` rounds. This absorbs B's read gains, ADC and DAC
    gains, and a stuck or bounded device (when a pair's error stalls, its other device takes
    over); not a pair both of whose devices are stuck, nor the I-V law away from full scale,
    nor the published spread that settles after the last write (`AbstractDeviceModel.settle`).

    Returns:
        (state, read cycles, device writes) of this layer.
    """
    rows = layer.devices.g_max.shape[1]
    g_lo, g_hi = conductance_span(spec)
    span = g_hi - g_lo
    aims, carrier = _reference_targets(spec, w_target)
    first = spec.device.write(layer.devices, aims, key=stream(key, "program", 0))

    def state_of(devices: DeviceState) -> LayerState:
        return LayerState(devices=devices, scale=scale, bias=bias, drift_reference=jnp.float32(1.0))

    def body(i: Array, carry: tuple[DeviceState, Array, Array, Array, Array, Array]):
        devices, aims, carrier, last, done, writes = carry
        w = probe_weights(
            spec, layer, state_of(devices), key=stream(key, "probe", i), t=t, batches=probes
        )
        error = w_target - w
        done = done | (jnp.abs(error) <= tolerance)
        # a pair whose error did not shrink by a tenth is stuck or at a bound on the carrying
        # side: the other device takes over, moving the opposite way
        stalled = ~done & (jnp.abs(error) > 0.9 * jnp.abs(last))
        carrier = jnp.where(stalled, -carrier[::-1], carrier)
        aims = jnp.where(done, aims, aims + correction * span * error * carrier)
        rewritten = spec.device.write(
            layer.devices, aims, key=stream(key, "program", i + 1), g_from=devices.g
        )
        rewrite = ~done & (carrier != 0)
        devices = jax.tree.map(lambda old, new: jnp.where(rewrite, new, old), devices, rewritten)
        writes = writes + jnp.sum(rewrite, dtype=jnp.int32)
        return devices, aims, carrier, jnp.abs(error), done, writes

    far = jnp.full(w_target.shape, jnp.inf)
    init = (
        first,
        aims,
        carrier,
        far,
        jnp.zeros(w_target.shape, bool),
        jnp.int32(2 * w_target.size),
    )
    devices, aims, *_, writes = jax.lax.fori_loop(0, iterations, body, init)
    # after the last write the devices settle by the published spread, which no probe saw
    devices = spec.device.settle(layer.devices, devices.g, aims, key=stream(key, "settle"))
    state = layer_state(spec, layer, devices, scale, bias, key=stream(key, "calibrate"))
    return state, jnp.int32(iterations * probe_cycles(rows, probes)), writes


def verify_read_cycles(rows: int, iterations: int = 10) -> int:
    """Read cycles of program-and-verify on a layer of `rows` rows: each round reads every row
    of both arrays (G+, G-) 4 times (`program_and_verify`'s default `verify_reads`)."""
    return iterations * 4 * 2 * rows


def measure_weights(
    spec: HardwareSpec,
    chip: ChipIdentity,
    state: ChipState,
    *,
    key: Array,
    probes: int = 8,
    t: ArrayLike = 1.0,
) -> tuple[list[Array], Int[Array, ""]]:
    """Probe each layer's effective weights through the chip's converters (`probe_weights`,
    layer l from `stream(key, "probe", l)`); returns (weights per layer, read cycles)."""
    ws, cycles = [], 0
    for index, (layer, st) in enumerate(zip(chip.layers, state.layers, strict=True)):
        k = stream(key, "probe", index)
        ws.append(probe_weights(spec, layer, st, key=k, t=t, batches=probes))
        cycles += probe_cycles(layer.devices.g_max.shape[1], probes)
    return ws, jnp.int32(cycles)


def write_weights(
    spec: HardwareSpec,
    chip: ChipIdentity,
    weights: Sequence[Array],
    digital: ChipState,
    *,
    key: Array,
    probes: int = 8,
    iterations: int = 10,
    tolerance: ArrayLike = 0.01,
    t: ArrayLike = 1.0,
) -> tuple[ChipState, Int[Array, ""], Int[Array, ""]]:
    """Write each layer until the chip's *measured* effective weights match `weights`
    (`match_weights`, layer l from `stream(key, "program", l)`); scale and bias come from
    `digital`. Returns (state, read cycles, device writes)."""
    layers, cycles, writes = [], jnp.int32(0), jnp.int32(0)
    for index, (layer, w, sa) in enumerate(zip(chip.layers, weights, digital.layers, strict=True)):
        st, c, n = match_weights(
            spec,
            layer,
            w,
            sa.scale,
            sa.bias,
            key=stream(key, "program", index),
            probes=probes,
            iterations=iterations,
            tolerance=tolerance,
            t=t,
        )
        layers.append(st)
        cycles = cycles + c
        writes = writes + n
    return ChipState(layers=tuple(layers)), cycles, writes
