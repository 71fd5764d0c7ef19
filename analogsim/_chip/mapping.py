"""Weight mapping: signed weights to differential conductance pairs and a digital scale."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from .spec import HardwareSpec


def conductance_span(spec: HardwareSpec) -> Array:
    """(g_lo, g_hi) in microsiemens: a weight of 0 maps to g_lo on both devices, the largest
    weight magnitude to g_hi on one of them."""
    device = spec.device
    g_lo = jnp.asarray(device.g_min, jnp.float32)
    g_hi = g_lo + spec.g_max_fraction * (device.g_max - device.g_min)
    return g_lo, g_hi


def weight_scale(spec: HardwareSpec, w: Float[Array, "rows cols"]) -> Float[Array, " cols"]:
    """The digital scale kept beside the array: max |w| per column or per layer, shape (cols,)."""
    if spec.weight_scale == "column":
        scale = jnp.max(jnp.abs(w), axis=0)
    else:
        scale = jnp.broadcast_to(jnp.max(jnp.abs(w)), w.shape[1:])
    return jnp.maximum(scale, 1e-12)


def weights_to_conductances(
    spec: HardwareSpec, w: Float[Array, "rows cols"], scale: Float[Array, " cols"]
) -> Float[Array, "2 rows cols"]:
    """Target conductances (uS) of the (G+, G-) pairs for weights `w` at digital scale `scale`."""
    g_lo, g_hi = conductance_span(spec)
    wn = jnp.clip(w / scale, -1.0, 1.0)
    plus = g_lo + jnp.maximum(wn, 0.0) * (g_hi - g_lo)
    minus = g_lo + jnp.maximum(-wn, 0.0) * (g_hi - g_lo)
    return jnp.stack([plus, minus])


def reference_to_conductances(
    spec: HardwareSpec, wn: Float[Array, "rows cols"]
) -> Float[Array, "2 rows cols"]:
    """Target conductances (uS) of the in-situ mapping for normalized weights `wn`. Devices that
    move both ways: G+ at g_ref + wn * span, G- a reference at g_ref, the conductance of w = 0
    on the pulse axis (aihwkit's convention). One-way devices (PCM): a differential pair
    climbing from the nominal RESET level, G+/- = g_reset + max(+-wn, 0) * span, so both have
    room to grow. Needs a pulse response."""
    g_lo, g_hi = conductance_span(spec)
    span = g_hi - g_lo
    response = spec.pulse_response
    g_rest = response.to_g(response.rest_w())
    if response.unidirectional:
        return g_rest + jnp.stack([jnp.maximum(wn, 0.0), jnp.maximum(-wn, 0.0)]) * span
    return jnp.stack([g_rest + wn * span, jnp.full(wn.shape, g_rest)])
