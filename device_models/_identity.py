"""A device array's identity: the fixed properties drawn once from a chip's key."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ._variation import DeviceVariation

# Row of the identity draw that each property takes. Never renumber: it would change every chip.
_GAIN, _RANGE, _STUCK, _DRIFT_RANK, _IV = range(5)


class DeviceIdentity(eqx.Module):
    """Fixed per-device properties of an array of devices (all fields share one shape).

    Attributes:
        read_gain: multiplicative read gain (dimensionless, log-normal, mean 1).
        g_min: each device's own lowest conductance, microsiemens.
        g_max: each device's own highest conductance, microsiemens.
        stuck_on: device stuck at its own g_max.
        stuck_off: device stuck at its own g_min.
        drift_z: the device's place in its drift-exponent distribution, in units of the
            preset's sigma_nu: a fixed standard-normal rank times the spread scale.
        iv_nonlinearity: the device's k in I = g V (1 + k ((V / V_read)^2 - 1)).
        linear_iv: every k is 0 by construction (drawn from a mean and spread that are both
            the number 0), known before anything runs (static): reads then skip the cubic
            term of the I-V law, which would only add products of zeros.
    """

    read_gain: Float[Array, "..."]
    g_min: Float[Array, "..."]
    g_max: Float[Array, "..."]
    stuck_on: Bool[Array, "..."]
    stuck_off: Bool[Array, "..."]
    drift_z: Float[Array, "..."]
    iv_nonlinearity: Float[Array, "..."]
    linear_iv: bool = eqx.field(default=False, static=True)


def draw_identity(
    variation: DeviceVariation,
    g_min: ArrayLike,
    g_max: ArrayLike,
    shape: tuple[int, ...],
    *,
    key: Array,
    scale: ArrayLike = 1.0,
) -> DeviceIdentity:
    """Draw the identity of `shape` devices from `key`.

    Args:
        variation: the spreads to draw from.
        g_min, g_max: nominal conductance range, microsiemens.
        shape: array shape of the devices.
        key: the identity key of this device array (same key, same devices).
        scale: multiplier on every spread (the chip's `variation`; 0 gives identical devices).

    Every property is a standard draw scaled afterwards, so changing one spread moves devices
    continuously (common random numbers): a device stuck at stuck_off_prob = 1% is still
    stuck at 2%.
    """
    # One draw for all properties (compiles to one random op, not five); row i of the draw is
    # property i, so each property's values do not depend on the others' spreads.
    z = jax.random.normal(key, (5, *shape))
    z_gain, z_range, z_stuck, rank, z_iv = (z[i] for i in (_GAIN, _RANGE, _STUCK, _DRIFT_RANK, _IV))
    u_stuck = jax.scipy.special.ndtr(z_stuck)

    s_gain = scale * variation.read_gain_sigma
    gain = jnp.exp(s_gain * z_gain - 0.5 * s_gain**2)
    g_hi = g_max * jnp.exp(scale * variation.range_sigma * z_range)
    g_lo = jnp.broadcast_to(jnp.asarray(g_min, jnp.float32), shape)
    g_hi = jnp.maximum(g_hi, g_lo)
    p_on = jnp.clip(scale * variation.stuck_on_prob, 0.0, 1.0)
    p_off = jnp.clip(scale * variation.stuck_off_prob, 0.0, 1.0 - p_on)
    # on from the bottom of the uniform, off from the top: raising either probability (or the
    # variation) only ever adds stuck devices, never flips one from off to on
    stuck_on = u_stuck < p_on
    stuck_off = (u_stuck >= 1.0 - p_off) & ~stuck_on
    iv = variation.iv_nonlinearity + scale * variation.iv_nonlinearity_sigma * z_iv
    # k <= 1 keeps the current monotone in V within the read range.
    iv = jnp.clip(iv, -1.0, 1.0)
    return DeviceIdentity(
        read_gain=gain,
        g_min=g_lo,
        g_max=g_hi,
        stuck_on=stuck_on,
        stuck_off=stuck_off,
        drift_z=rank * scale * variation.drift_sigma_scale,
        iv_nonlinearity=iv,
        linear_iv=_is_zero(variation.iv_nonlinearity) and _is_zero(variation.iv_nonlinearity_sigma),
    )


def _is_zero(x: ArrayLike) -> bool:
    """Whether `x` is the Python or NumPy number 0. Arrays, traced or not, count as not known:
    the answer must not depend on whether a spec's numbers are traced (a swept parameter)."""
    return isinstance(x, (int, float, np.number)) and float(x) == 0.0
