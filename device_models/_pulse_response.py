"""Pulsed updates: how each device answers a train of up or down programming pulses.

Families follow the conventions of IBM aihwkit's pulsed devices (Rasch et al., AICAS 2021),
written on a normalized weight axis w in [w_min, w_max] of each device. A device's conductance
(microsiemens) maps linearly onto that axis over [g_min, g_max] of the nominal range:

    g = g_min + (w - w_min) / (w_max - w_min) * (g_max - g_min).

One pulse moves w by `direction * step(w) * (1 + dw_min_std * xi)` (xi standard normal, drawn per
pulse: cycle-to-cycle noise), then clips w to that device's own bounds. Families whose step does
not depend on w (constant step) sum a train in closed form and clip once at the end, which
differs from pulse-by-pulse clipping only when a pulse reverses direction at a bound.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from ._checks import (
    ParameterError,
    check_int_range,
    check_nonnegative,
    check_order,
    check_range,
    is_concrete,
)
from ._fold_in import fold_in
from ._noise import noise_normal

_DW, _UP_DOWN, _W_MAX, _W_MIN, _FAMILY = range(5)


class PulseIdentity(eqx.Module):
    """Each device's own pulse response, drawn once from the chip's key (all one shape).

    Attributes:
        dw_up, dw_down: step of one up / down pulse at the reference point, w units (>= 0).
        w_min, w_max: the device's own bounds, w units (w_min < w_max); w_min is floored at
            the w of 0 uS, since no device conducts negatively.
        family: one family-specific per-device number (e.g. the linear-step slope factor).
    """

    dw_up: Float[Array, "..."]
    dw_down: Float[Array, "..."]
    w_min: Float[Array, "..."]
    w_max: Float[Array, "..."]
    family: Float[Array, "..."]


class AbstractPulseResponse(eqx.Module):
    """A family of pulsed update responses with device-to-device and cycle-to-cycle spread.

    Attributes (numbers are traced, sweepable):
        g_min, g_max: conductance range the w axis maps onto, microsiemens.
        dw_min: mean step of one pulse at the reference point, w units ((w_max - w_min) /
            dw_min is about the number of states); the median when `log_normal_steps`.
        dw_min_dtod: device-to-device spread of the step (relative std, or sigma of ln when
            `log_normal_steps`).
        up_down: mean up/down imbalance: dw_up = dw (1 + up_down), dw_down = dw (1 - up_down).
        up_down_dtod: device-to-device spread of the imbalance.
        w_min, w_max: nominal bounds on the w axis (w_min < 0 < w_max).
        w_min_dtod, w_max_dtod: relative device-to-device spread of each bound. A bound's
            factor is floored at 1e-3 (so soft bounds never divide by zero), and w_min cannot
            go below the w of 0 uS: with g_min = 0 the lower-bound spread is one-sided.
        dw_min_std: cycle-to-cycle relative spread of each pulse's step.
        log_normal_steps: draw step sizes log-normal (always positive) instead of normal
            (clipped at zero, as aihwkit does) (static).
        name, citation: the preset's name and one-line source (static).
    """

    g_min: eqx.AbstractVar[ArrayLike]
    g_max: eqx.AbstractVar[ArrayLike]
    dw_min: eqx.AbstractVar[ArrayLike]
    dw_min_dtod: eqx.AbstractVar[ArrayLike]
    up_down: eqx.AbstractVar[ArrayLike]
    up_down_dtod: eqx.AbstractVar[ArrayLike]
    w_min: eqx.AbstractVar[ArrayLike]
    w_max: eqx.AbstractVar[ArrayLike]
    w_min_dtod: eqx.AbstractVar[ArrayLike]
    w_max_dtod: eqx.AbstractVar[ArrayLike]
    dw_min_std: eqx.AbstractVar[ArrayLike]
    log_normal_steps: eqx.AbstractVar[bool]
    name: eqx.AbstractVar[str]
    citation: eqx.AbstractVar[str]

    # Families whose step does not depend on w sum a pulse train in closed form.
    step_depends_on_w: ClassVar[bool] = True
    # Devices that move one way only (PCM: SET pulses crystallize, only a full RESET goes
    # back): both devices of a pair answer pulses, and a pair is refreshed when it fills up.
    unidirectional: ClassVar[bool] = False

    def __check_init__(self) -> None:
        check_range("g_min", self.g_min, 0.0, unit="uS")
        check_range("g_max", self.g_max, 0.0, low_open=True, unit="uS")
        check_order("g_min", self.g_min, "g_max", self.g_max, unit="uS")
        check_range("w_min", self.w_min, high=0.0)
        if is_concrete(self.w_min) and float(self.w_min) == 0.0:
            raise ParameterError("w_min must be below 0 (w = 0 is the reference point); got 0")
        check_range("w_max", self.w_max, 0.0, low_open=True)
        for name in ("dw_min_dtod", "up_down_dtod", "w_min_dtod", "w_max_dtod", "dw_min_std"):
            check_nonnegative(name, getattr(self, name))
        check_range("dw_min", self.dw_min, 0.0, low_open=True)
        check_range("up_down", self.up_down, -1.0, 1.0, low_open=True)

    # --- the family --------------------------------------------------------------------------

    @abc.abstractmethod
    def step(
        self, identity: PulseIdentity, w: Float[Array, "..."], up: Array
    ) -> Float[Array, "..."]:
        """Mean magnitude of one pulse's step at position `w` (w units, >= 0); `up` selects
        up (True) or down (False) pulses."""

    def family_spread(self) -> tuple[ArrayLike, ArrayLike]:
        """(mean, device-to-device std) of the family's own per-device number."""
        return 0.0, 0.0

    def pulse_move(
        self, identity: PulseIdentity, w: Float[Array, "..."], up: Array, xi: Array
    ) -> Float[Array, "..."]:
        """Signed move of one pulse at `w` with cycle-to-cycle draw `xi` (standard normal):
        the step times (1 + dw_min_std xi), so the noise is relative to the step."""
        dw = self.step(identity, w, up) * (1.0 + self.dw_min_std * xi)
        return jnp.where(up, dw, -dw)

    def rest_w(self) -> Array:
        """Nominal position (w units) of a pair's devices at weight 0: the reference point
        w = 0; one-way devices rest at their RESET level instead."""
        return jnp.float32(0.0)

    def floor_w(self, identity: PulseIdentity) -> Float[Array, "..."]:
        """Where each device sits at the bottom of what its pulses reach: its own lower bound;
        one-way devices, their RESET level."""
        return identity.w_min

    def symmetry_point(self, identity: PulseIdentity) -> Float[Array, "..."]:
        """Each device's symmetry point (w units): where its mean up and down steps are equal,
        so that alternating up/down pulses leave it there on average. The zero-shifting
        calibration of Kim et al. (arXiv:1907.10228, 2019) drives a device to it by firing such
        pulses; Tiki-Taka reads its fast array against a reference programmed there.

        Found by bisection over the device's own bounds: in every family here the up step
        falls and the down step rises with w. A family whose step does not depend on w has no
        symmetry point; the reference point w = 0 stands in for it.
        """
        if not self.step_depends_on_w:
            return jnp.zeros_like(identity.w_max)

        def gap(w: Array) -> Array:
            up, down = jnp.bool_(True), jnp.bool_(False)
            return self.step(identity, w, up) - self.step(identity, w, down)

        def halve(_: int, bounds: tuple[Array, Array]) -> tuple[Array, Array]:
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            up_wins = gap(mid) > 0.0
            return jnp.where(up_wins, mid, lo), jnp.where(up_wins, hi, mid)

        # 40 halvings of a range of at most a few units: below float32's resolution
        lo, hi = jax.lax.fori_loop(0, 40, halve, (identity.w_min, identity.w_max))
        return 0.5 * (lo + hi)

    def nominal_step(self) -> Array:
        """The step (w units) a controller counts pulses with: dw_min, the step at the
        reference point; families whose step varies strongly over the range override it."""
        return jnp.asarray(self.dw_min)

    # --- what every family shares ------------------------------------------------------------

    def draw_identity(
        self, shape: tuple[int, ...], *, key: Array, variation: ArrayLike = 1.0
    ) -> PulseIdentity:
        """Draw each device's pulse response; `variation` scales every device-to-device spread."""
        check_nonnegative("variation", variation)
        z = jax.random.normal(key, (5, *shape))
        s = variation
        if self.log_normal_steps:
            dw = self.dw_min * jnp.exp(s * self.dw_min_dtod * z[_DW])
        else:
            dw = jnp.maximum(self.dw_min * (1.0 + s * self.dw_min_dtod * z[_DW]), 0.0)
        bias = jnp.clip(self.up_down + s * self.up_down_dtod * z[_UP_DOWN], -1.0, 1.0)
        # a bound drawn past zero is kept a hair away from it (soft bounds divide by it)
        w_max = self.w_max * jnp.maximum(1.0 + s * self.w_max_dtod * z[_W_MAX], 1e-3)
        w_min = self.w_min * jnp.maximum(1.0 + s * self.w_min_dtod * z[_W_MIN], 1e-3)
        # no device conducts below 0 uS: a lower bound drawn beyond it is floored there
        w_min = jnp.maximum(w_min, self.to_w(jnp.float32(0.0)))
        mean, std = self.family_spread()
        return PulseIdentity(
            dw_up=dw * (1.0 + bias),
            dw_down=dw * (1.0 - bias),
            w_min=w_min,
            w_max=w_max,
            family=mean + s * std * z[_FAMILY],
        )

    def to_w(self, g: Float[Array, "..."]) -> Float[Array, "..."]:
        """Conductance (uS) to the normalized w axis."""
        return self.w_min + (g - self.g_min) / (self.g_max - self.g_min) * (self.w_max - self.w_min)

    def to_g(self, w: Float[Array, "..."]) -> Float[Array, "..."]:
        """Normalized w to conductance (uS)."""
        return self.g_min + (w - self.w_min) / (self.w_max - self.w_min) * (self.g_max - self.g_min)

    def apply_pulses(
        self,
        identity: PulseIdentity,
        g: Float[Array, "..."],
        pulses: Int[Array, "..."],
        *,
        key: Array,
        max_pulses: int = 31,
    ) -> Float[Array, "..."]:
        """Fire `pulses` pulses at each device (positive: up, negative: down), one at a time.

        Args:
            identity: the devices' pulse identity.
            g: conductances before the pulses, microsiemens.
            pulses: signed pulse counts per device; |pulses| is capped at `max_pulses`.
            key: update key; pulse i draws its cycle-to-cycle noise from `fold_in(key, i)`.
            max_pulses: the longest pulse train allowed.

        Returns:
            Conductances after the pulses, microsiemens: devices that got pulses end within
            their own bounds; devices that got none keep their conductance exactly.
        """
        check_int_range("max_pulses", max_pulses, 1, 1_000_000)
        n = jnp.clip(pulses, -max_pulses, max_pulses)
        up = n > 0
        count = jnp.abs(n)
        w = jnp.clip(self.to_w(g), identity.w_min, identity.w_max)

        if not self.step_depends_on_w:
            # n steps of dw (1 + s xi) sum to n dw + dw s sqrt(n) xi exactly; clipping once at
            # the end equals clipping after every pulse unless a pulse reverses direction
            # after the bound is reached (probability Phi(-1 / dw_min_std) per pulse).
            xi = noise_normal(fold_in(key, 0), w.shape)
            step = self.step(identity, w, up)
            n = count.astype(w.dtype)
            move = step * (n + self.dw_min_std * jnp.sqrt(n) * xi)
            w = jnp.clip(w + jnp.where(up, move, -move), identity.w_min, identity.w_max)
            return jnp.where(count > 0, self.to_g(w), g)

        def pulse(carry: tuple[Array, Array]) -> tuple[Array, Array]:
            i, w = carry
            xi = noise_normal(fold_in(key, i), w.shape)
            # not clipped: with a large spread a pulse can move the wrong way, as in aihwkit
            w = w + jnp.where(count > i, self.pulse_move(identity, w, up, xi), 0.0)
            return i + 1, jnp.clip(w, identity.w_min, identity.w_max)

        # only as many rounds as the longest train asks for (updates are mostly 0-3 pulses)
        longest = jnp.max(count)
        _, w = jax.lax.while_loop(lambda c: c[0] < longest, pulse, (jnp.int32(0), w))
        # a device that got no pulse keeps its conductance exactly
        return jnp.where(count > 0, self.to_g(w), g)
