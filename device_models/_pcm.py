"""Phase-change memory: IBM's statistical PCM model fitted on ~1 million devices."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._base import AbstractDeviceModel
from ._checks import check_nonnegative, check_order, check_range
from ._identity import DeviceIdentity
from ._state import DeviceState
from ._variation import DeviceVariation, per_write_sigma

# The part of the published programming spread that is a fixed per-device gain (see docstring).
_NOMINAL_READ_GAIN_SIGMA = 0.025


def _default_variation() -> DeviceVariation:
    return DeviceVariation(
        read_gain_sigma=_NOMINAL_READ_GAIN_SIGMA,
        range_sigma=0.05,
        stuck_on_prob=0.001,
        stuck_off_prob=0.002,
        iv_nonlinearity=0.05,
        iv_nonlinearity_sigma=0.02,
        drift_sigma_scale=1.0,
    )


class PCM(AbstractDeviceModel):
    """Phase-change memory (doped Ge2Sb2Te5 mushroom cells), IBM's statistical model.

    Sources: S. R. Nandakumar et al., "Phase-change memory models for deep learning training and
    inference", ICECS 2019; V. Joshi et al., "Accurate deep neural network inference using
    computational phase-change memory", Nat. Commun. 11:2473 (2020). Fitted on ~1 million
    devices of a 90 nm PCM array programmed with IBM's iterative (closed-loop) scheme; the
    same model is aihwkit's `PCMLikeNoiseModel`. With x = g_target / g_max, g_max = 25 uS:

    - programming: sigma_prog(x) = max(0.26348 + 1.9650 x - 1.1731 x^2, 0) uS, clipped at 0;
    - drift: g(t) = g_prog (max(t, t0) / t0)^(-nu), t0 = 20 s, nu ~ N(mu_nu, sigma_nu),
      mu_nu = clip(-0.0155 ln x + 0.0244, 0.049, 0.1),
      sigma_nu = clip(-0.0125 ln x - 0.0059, 0.008, 0.045), nu clipped at 0 (aihwkit
      instead reflects negative draws, |nu|; the two differ only for x below ~0.02);
    - 1/f read noise: sigma_read = g(t) Q_s sqrt(ln((t + t_read) / (2 t_read))),
      Q_s = min(0.0088 / x^0.65, 0.2), t_read = 250 ns (log clipped at 0 for t < t_read).
      The device does not know its target, so x is taken from the programmed conductance.

    How the published spread is divided. sigma_prog was measured across a million devices, so
    it already contains device-to-device spread. A fixed per-device read gain with log-normal
    sigma s = 2.5% is carved out of it: the per-write noise is
    sqrt(max(sigma_prog^2 - (sd_gain g)^2, 0)), sd_gain = sqrt(exp(s^2) - 1), so an open-loop
    write read back at `variation = 1` reproduces sigma_prog as a whole (2.5% keeps the carved
    part below sigma_prog at every x; sigma_prog / g is smallest at x = 1, 4.2%). The gain is
    the part program-and-verify can correct; the per-write part it can only retry. The drift
    exponent's published spread is placed in the identity (a fixed rank per device), since a
    device keeps its drift character across reads.

    Not in the fit and assumed here (sweep them): each device's own g_max spread
    (log-normal, 5%), stuck-on 0.1% / stuck-off 0.2% devices, and the I-V law
    I = g V (1 + k((V/V_read)^2 - 1)) with k = 0.05 +- 0.02, the low-field curvature of PCM's
    sub-threshold conduction (Le Gallo et al., J. Appl. Phys. 2016) at a typical 0.2 V read.
    """

    g_min: ArrayLike = 0.0
    g_max: ArrayLike = 25.0
    variation: DeviceVariation = eqx.field(default_factory=_default_variation)
    prog_noise_scale: ArrayLike = 1.0
    read_noise_scale: ArrayLike = 1.0
    drift_scale: ArrayLike = 1.0
    t0: ArrayLike = 20.0
    t_read: ArrayLike = 250e-9

    name: ClassVar[str] = "pcm"
    citation: ClassVar[str] = (
        "Nandakumar et al., ICECS 2019; Joshi et al., Nat. Commun. 11:2473 (2020)"
    )

    def __check_init__(self) -> None:
        check_range("g_max", self.g_max, 0.0, low_open=True, unit="uS")
        check_range("g_min", self.g_min, 0.0, unit="uS")
        check_nonnegative("prog_noise_scale", self.prog_noise_scale)
        check_nonnegative("read_noise_scale", self.read_noise_scale)
        check_nonnegative("drift_scale", self.drift_scale)
        check_range("t0", self.t0, 0.0, low_open=True, unit="s")
        check_range("t_read", self.t_read, 0.0, low_open=True, unit="s")
        check_order("g_min", self.g_min, "g_max", self.g_max, unit="uS")

    def _x(self, g: Float[Array, "..."]) -> Float[Array, "..."]:
        return jnp.clip(g / self.g_max, 1e-6, None)

    def programming_sigma(self, g_target: Float[Array, "..."]) -> Float[Array, "..."]:
        """The published sigma_prog(x), microsiemens (identity and per-write parts together)."""
        x = g_target / self.g_max
        return jnp.maximum(0.26348 + 1.9650 * x - 1.1731 * x**2, 0.0)

    def write_noise_sigma(self, g_target: Float[Array, "..."]) -> Float[Array, "..."]:
        return per_write_sigma(self.programming_sigma(g_target), g_target, _NOMINAL_READ_GAIN_SIGMA)

    def drift_exponent(self, identity: DeviceIdentity, g_prog: Float[Array, "..."]) -> Array:
        """Each device's nu at its programmed level: mu_nu(x) + sigma_nu(x) * drift_z, >= 0."""
        log_x = jnp.log(self._x(g_prog))
        mu = jnp.clip(-0.0155 * log_x + 0.0244, 0.049, 0.1)
        sigma = jnp.clip(-0.0125 * log_x - 0.0059, 0.008, 0.045)
        return jnp.maximum(self.drift_scale * (mu + sigma * identity.drift_z), 0.0)

    def drifted(self, identity: DeviceIdentity, state: DeviceState, t: ArrayLike) -> Array:
        nu = self.drift_exponent(identity, state.g)
        log_ratio = jnp.log(jnp.maximum(jnp.asarray(t, jnp.float32), self.t0) / self.t0)
        # exp of a product rather than a power: XLA's power is a scalar library call on the
        # CPU, exp is vectorized (the same function to float32 rounding)
        return state.g * jnp.exp(-nu * log_ratio)

    def read_noise_sigma(self, g_t: Array, state: DeviceState, t: ArrayLike) -> Array:
        q_s = jnp.minimum(0.0088 * jnp.exp(-0.65 * jnp.log(self._x(state.g))), 0.2)
        t = jnp.asarray(t, jnp.float32)
        log_term = jnp.maximum(jnp.log((t + self.t_read) / (2.0 * self.t_read)), 0.0)
        return jnp.abs(g_t) * q_s * jnp.sqrt(log_term)
