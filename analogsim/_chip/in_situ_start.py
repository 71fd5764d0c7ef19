"""Programming the starting weights of in-situ training: the mapping that leaves training
room on both sides of every device, written once, with drift compensation off."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from device_models._checks import ParameterError

from .identity import LayerIdentity
from .mapping import reference_to_conductances
from .program import layer_state
from .spec import HardwareSpec
from .state import LayerState


def check_in_situ_spec(spec: HardwareSpec) -> HardwareSpec:
    """The spec in-situ training runs with: it needs a pulse response, and drift compensation
    is off (a calibration taken at programming would undo what training changes)."""
    if spec.pulse_response is None:
        raise ParameterError(
            f"device {spec.device.name!r} has no pulsed-update model, so it cannot be trained "
            "in situ; use a pulsed preset (see `analogsim devices`; for PCM, pcm_pulsed) or "
            "another mode"
        )
    return dataclasses.replace(spec, drift_compensation=False)


def in_situ_layer(
    spec: HardwareSpec,
    layer: LayerIdentity,
    w: Float[Array, "rows cols"],
    b: Float[Array, " cols"],
    *,
    key: Array,
    headroom: ArrayLike = 4.0,
) -> LayerState:
    """Starting weights `w` (inputs, outputs) and bias `b` written once onto `layer`'s devices
    in the in-situ mapping (`reference_to_conductances`; `spec` from `check_in_situ_spec`).

    The digital scale is `headroom` x max|w|: at 4 (the default, for a freshly initialized
    network) the weights use the middle half of the devices' range, and training has room on
    both sides to grow them. A trained start wants less: the devices' programming and read
    noise, in weight units, grows with the headroom (a trained transformer on `reram_es`
    reads 8% at 4, 54% at 2, 83% at 1.25, against 98% in the usual mapping: both devices of
    a pair sit mid-range, where RRAM spreads most). Under mixed-precision updates the state
    carries a zero `pulse_residue`.
    """
    w = jnp.asarray(w, jnp.float32)
    scale = jnp.full(w.shape[1:], headroom * jnp.max(jnp.abs(w)) + 1e-12)
    target = reference_to_conductances(spec, w / scale)
    # the G+ devices' range is their pulse bounds (make_chip), so the write clips there
    devices = spec.device.program(layer.devices, target, key=key)
    state = layer_state(spec, layer, devices, scale, b, key=key)
    if spec.pulse_update != "mixed-precision":
        return state
    return eqx.tree_at(
        lambda s: s.pulse_residue,
        state,
        jnp.zeros(w.shape, jnp.float32),
        is_leaf=lambda x: x is None,
    )
