"""Copying what one converted model's chip learned onto another chip by measurement: every
analog weight's conductances, or its effective weights, measured on chip A and written onto
chip B's own devices, weight by weight (`..copy` does the same for the built-in networks).

A converted model is a pytree whose analog weights (`AnalogWeight`) each stand for one
crossbar layer, so each weight is measured and written as one layer. Weight `path` of chip B
has the devices `to_analog(..., key=key_b)` would give it (`weight_identity`), and its writes
and reads take `weight_key(key, path)` of the strategy's key. Everything digital in the model
(biases, norms, embeddings, each weight's scale) is copied from A exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..._chip.identity import LayerIdentity
from ..._chip.program import layer_state, program_and_verify_counted
from ..._chip.spec import HardwareSpec
from ..._chip.state import LayerState
from ..._core.keys import stream
from ..._model.convert import analog_weights, map_weights, weight_identity, weight_key
from ..._model.weight import AnalogWeight
from ..copy import match_weights, mean_read, verify_read_cycles
from ..probe import probe_cycles, probe_weights


def rows_of(w: AnalogWeight) -> int:
    """The crossbar rows (inputs) a weight is held on."""
    return w.state.devices.g.shape[1]


@eqx.filter_jit
def measure_conductances(
    chip: Any, *, key: Array, reads: int, t: float = 1.0
) -> tuple[list[Array], Array]:
    """Every analog weight's (G+, G-) conductances (uS, (2, rows, cols)), `reads` device
    reads averaged (`mean_read`, weight `path` from `stream(weight_key(key, path), "read")`),
    and the read cycles spent (each read covers every row of both arrays)."""
    gs, cycles = [], 0
    for w in analog_weights(chip):
        k = stream(weight_key(key, w.path), "read")
        gs.append(mean_read(w.spec, w.devices(), w.state, t, key=k, reads=reads))
        cycles += reads * 2 * rows_of(w)
    return gs, jnp.int32(cycles)


@eqx.filter_jit
def measure_weights(
    chip: Any, *, key: Array, probes: int, t: float = 1.0
) -> tuple[list[Array], Array]:
    """Every analog weight's effective weights (rows, cols) probed through the chip's own
    converters (`probe_weights`, weight `path` from `stream(weight_key(key, path), "probe")`),
    and the read cycles spent."""
    ws, cycles = [], 0
    for w in analog_weights(chip):
        k = stream(weight_key(key, w.path), "probe")
        ws.append(probe_weights(w.spec, w.devices(), w.state, key=k, t=t, batches=probes))
        cycles += probe_cycles(rows_of(w), probes)
    return ws, jnp.int32(cycles)


def _write_targets(
    chip_a: Any,
    targets: list[Array],
    spec: HardwareSpec,
    key_b: Array,
    write: Callable[[AnalogWeight, LayerIdentity, Array], tuple[LayerState, Array, Array]],
) -> tuple[Any, Array, Array]:
    """Chip `key_b` (at `spec`) as a copy of converted model `chip_a`: each analog weight's
    devices drawn as `to_analog(..., key=key_b)` draws them and written by
    `write(weight of A, B's layer, target) -> (state, read cycles, device writes)`; A's digital
    numbers kept, a pulse residue (mixed-precision updates) started empty. Returns (B, read
    cycles, device writes), summed over the weights."""
    cycles, writes = jnp.int32(0), jnp.int32(0)

    def one(w: AnalogWeight, target: Array) -> AnalogWeight:
        nonlocal cycles, writes
        own = weight_key(key_b, w.path)
        layer = weight_identity(spec, w.state.devices.g.shape[1:], own)
        state, c, n = write(w, layer, target)
        cycles, writes = cycles + c, writes + n
        if w.state.pulse_residue is not None:
            state = dataclasses.replace(state, pulse_residue=jnp.zeros_like(w.state.pulse_residue))
        regenerated = w.identity is None
        return dataclasses.replace(
            w,
            spec=spec,
            state=state,
            identity=None if regenerated else layer,
            identity_key=jax.random.key_data(stream(own, "identity")) if regenerated else None,
        )

    chip_b = map_weights(one, chip_a, targets)
    return chip_b, cycles, writes


@eqx.filter_jit
def write_conductances(
    chip_a: Any, conductances: list[Array], spec: HardwareSpec, *, key_b: Array, key: Array
) -> tuple[Any, Array, Array]:
    """Chip `key_b` (at `spec`: its variation) with A's measured conductances written into
    each weight's devices by program-and-verify (B's verify sees B's own read gain, so B's
    reads come to reproduce A's); weight `path` writes from `stream(weight_key(key, path),
    "program")`. Returns (B as a converted model, read cycles of its verify reads, device
    writes)."""

    def write(w: AnalogWeight, layer: LayerIdentity, g: Array):
        k = stream(weight_key(key, w.path), "program")
        devices, n = program_and_verify_counted(spec.device, layer.devices, g, key=k)
        state = layer_state(spec, layer, devices, w.state.scale, w.state.bias, key=k)
        return state, verify_read_cycles(rows_of(w)), n

    return _write_targets(chip_a, conductances, spec, key_b, write)


@eqx.filter_jit
def write_weights(
    chip_a: Any,
    weights: list[Array],
    spec: HardwareSpec,
    *,
    key_b: Array,
    key: Array,
    probes: int,
) -> tuple[Any, Array, Array]:
    """Chip `key_b` written until each weight's *measured* effective weights match A's
    (`match_weights`, program-and-verify through B's own converters), weight `path` from
    `weight_key(key, path)`. Returns (B, read cycles, device writes)."""

    def write(w: AnalogWeight, layer: LayerIdentity, target: Array):
        return match_weights(
            spec, layer, target, w.state.scale, w.state.bias,
            key=weight_key(key, w.path), probes=probes,
        )  # fmt: skip

    return _write_targets(chip_a, weights, spec, key_b, write)
