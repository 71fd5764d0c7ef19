"""From a desired conductance change to pulses, and what the devices then actually do."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from device_models import AbstractPulseResponse
from device_models._checks import ParameterError

from ._chip import LayerIdentity
from ._spec import HardwareSpec


def nominal_pulse_step(response: AbstractPulseResponse) -> Array:
    """Conductance change of one nominal pulse, microsiemens: what the controller assumes."""
    return response.dw_min * (response.g_max - response.g_min) / (response.w_max - response.w_min)


def pulse_counts(
    delta_g: Float[Array, "..."], step: Array, *, key: Array, max_pulses: int
) -> Int[Array, "..."]:
    """Signed pulse counts for a desired change `delta_g` (uS) at `step` uS per pulse.

    Stochastic rounding: floor(x) plus one more pulse with probability frac(x), x = delta_g /
    step, so the expected count is exact and updates smaller than one pulse still happen on
    average (Gupta et al., ICML 2015). Counts are capped at +-max_pulses.
    """
    x = delta_g / step
    low = jnp.floor(x)
    n = low + (jax.random.uniform(key, x.shape) < x - low).astype(x.dtype)
    return jnp.clip(n, -max_pulses, max_pulses).astype(jnp.int32)


def pulsed_update(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g_plus: Float[Array, "rows cols"],
    delta_g: Float[Array, "rows cols"],
    *,
    key: Array,
    max_pulses: int = 31,
) -> tuple[Float[Array, "rows cols"], Int[Array, "rows cols"]]:
    """Apply a desired change `delta_g` (uS) to the G+ devices of one layer as pulse trains.

    The controller turns the desired change into pulse counts with the *nominal* step; each
    device then answers with its own step, asymmetry, bounds and cycle-to-cycle noise, and
    stuck devices ignore the pulses. Returns the new G+ conductances and the pulse counts.
    """
    response = spec.pulse_response
    if response is None or layer.pulses is None:
        raise ParameterError(
            "this hardware spec has no pulse_response; pulsed updates need a pulsed preset"
        )
    n = pulse_counts(
        delta_g,
        nominal_pulse_step(response),
        key=jax.random.fold_in(key, 0),
        max_pulses=max_pulses,
    )
    g_new = response.apply_pulses(
        layer.pulses, g_plus, n, key=jax.random.fold_in(key, 1), max_pulses=max_pulses
    )
    stuck = layer.devices.stuck_on[0] | layer.devices.stuck_off[0]
    return jnp.where(stuck, g_plus, g_new), n
