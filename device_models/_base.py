"""The abstract device model: how one kind of device is programmed, drifts and is read."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_nonnegative
from ._identity import DeviceIdentity, draw_identity
from ._noise import noise_normal
from ._state import DeviceState
from ._variation import DeviceVariation

_WRITE, _RELAX = 0, 1


class AbstractDeviceModel(eqx.Module):
    """One device technology: its programming, drift, read noise and I-V law.

    Conductances are in microsiemens throughout, times in seconds since programming. Every
    numeric field is a traced leaf (sweepable without recompiling). Subclasses are final
    presets; each cites its sources and says how its published spread is divided between the
    fixed identity (drawn once per chip) and per-write noise (drawn at every write).
    """

    g_min: eqx.AbstractVar[ArrayLike]
    g_max: eqx.AbstractVar[ArrayLike]
    variation: eqx.AbstractVar[DeviceVariation]
    prog_noise_scale: eqx.AbstractVar[ArrayLike]
    read_noise_scale: eqx.AbstractVar[ArrayLike]

    name: ClassVar[str]
    citation: ClassVar[str]
    # False for models whose read noise is zero by construction: reads then skip the draw
    has_read_noise: ClassVar[bool] = True

    # --- physics each preset defines -------------------------------------------------------

    @abc.abstractmethod
    def write_noise_sigma(self, g_target: Float[Array, "..."]) -> Float[Array, "..."]:
        """Standard deviation of one write around its target, microsiemens (per-write part only)."""

    @abc.abstractmethod
    def drifted(
        self, identity: DeviceIdentity, state: DeviceState, t: ArrayLike
    ) -> Float[Array, "..."]:
        """Mean conductance `t` seconds after programming (drift, relaxation), microsiemens."""

    @abc.abstractmethod
    def read_noise_sigma(
        self, g_t: Float[Array, "..."], state: DeviceState, t: ArrayLike
    ) -> Float[Array, "..."]:
        """Standard deviation of one read at time `t`, microsiemens."""

    # --- what every device does --------------------------------------------------------------

    def draw_identity(
        self, shape: tuple[int, ...], *, key: Array, variation: ArrayLike = 1.0
    ) -> DeviceIdentity:
        """Draw the fixed identity of `shape` devices from `key`; `variation` scales all spreads."""
        check_nonnegative("variation", variation)
        return draw_identity(
            self.variation, self.g_min, self.g_max, shape, key=key, scale=variation
        )

    def program(
        self, identity: DeviceIdentity, g_target: Float[Array, "..."], *, key: Array
    ) -> DeviceState:
        """Write `g_target` (microsiemens) open loop: write noise, clipped to each device's own
        range; stuck devices ignore the write."""
        g_target = jnp.asarray(g_target, jnp.float32)
        z = noise_normal(key, (2, *g_target.shape))
        g = g_target + self.prog_noise_scale * self.write_noise_sigma(g_target) * z[_WRITE]
        g = jnp.clip(g, identity.g_min, identity.g_max)
        g = jnp.where(identity.stuck_on, identity.g_max, g)
        g = jnp.where(identity.stuck_off, identity.g_min, g)
        return DeviceState(g=g, relaxation_z=z[_RELAX])

    def conductance(
        self,
        identity: DeviceIdentity,
        state: DeviceState,
        t: ArrayLike,
        *,
        key: Array | None = None,
    ) -> Float[Array, "..."]:
        """Conductance a read sees at `t` seconds after programming, microsiemens.

        Drift and relaxation act on devices that are not stuck; read noise (when `key` is given)
        acts on every read; the device's read gain multiplies the result. This is the
        conductance both a verify read and a compute read see at the read voltage.
        """
        stuck = identity.stuck_on | identity.stuck_off
        g_t = jnp.where(stuck, state.g, self.drifted(identity, state, t))
        if key is not None and self.has_read_noise:
            sigma = self.read_noise_scale * self.read_noise_sigma(g_t, state, t)
            g_t = g_t + sigma * noise_normal(key, g_t.shape)
        return jnp.maximum(identity.read_gain * g_t, 0.0)

    def current(
        self, identity: DeviceIdentity, g: Float[Array, "..."], v: Float[Array, "..."]
    ) -> Float[Array, "..."]:
        """Device current for conductance `g` (uS) at voltage `v` in units of the read voltage,
        in uS x V_read: I = g v (1 + k (v^2 - 1)). Exact g at |v| = 1, the verify voltage."""
        k = identity.iv_nonlinearity
        return g * v * (1.0 + k * (v * v - 1.0))
