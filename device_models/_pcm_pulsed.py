"""PCM under SET pulses: a one-way device, used as a differential pair with refresh.

A SET pulse crystallizes a little more of the cell, so its conductance only grows; the
only way down is a RESET, which melt-quenches the cell back to (nearly) its amorphous
lowest conductance. In-situ training therefore writes a positive weight change as SET
pulses on G+ and a negative one as SET pulses on G-, and *refreshes* a pair whose two
devices have both climbed: read it, RESET both, and SET the difference back onto one
(Nandakumar et al., Front. Neurosci. 14:406, 2020; aihwkit's `OneSidedUnitCell`).

Positions: q = w - w_min (nominal) is the height above the RESET floor on the normalized
axis, q in [0, w_max - w_min] (aihwkit's w of its PCM preset, on [0, 2]).
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_finite, check_nonnegative, check_range
from ._pulse_families import _Fields
from ._pulse_response import PulseIdentity


class PCMSetStep(_Fields):
    """Exponential SET step with aihwkit's complex cycle-to-cycle noise, one direction only.

    With z = 2 a q / (w_max_i - w_min_i) + b on device i's own range,

        step(q) = dw_up_i max(1 - A_up exp(gamma_up z), 0),
        move = step + dw_min_std (step + dw_min_std_add + dw_min_std_slope q) xi,

    xi standard normal per pulse (aihwkit `ExpStepDevice` with `dw_min_std_add` and
    `dw_min_std_slope`), clipped to the device's bounds. A RESET returns device i to its
    own level `reset_i` above the floor (q units; mean `reset`, device-to-device spread
    `reset_dtod`, kept in `PulseIdentity.family`). Down pulses do nothing.

    Attributes (besides the shared ones; all traced):
        a, b, gamma_up, A_up: the exponential step's shape.
        dw_min_std_add, dw_min_std_slope: additive and q-proportional cycle-to-cycle noise
            (w units, and per unit q).
        reset, reset_dtod: RESET level above the floor and its device-to-device spread (q).
        refresh_upper, refresh_lower: a pair is refreshed when one device is above
            `refresh_upper` and the other above `refresh_lower` of the nominal range.
    """

    a: ArrayLike = -1.0
    b: ArrayLike = 0.0
    gamma_up: ArrayLike = 2.5
    A_up: ArrayLike = -27.235  # noqa: N815 (the published symbol)
    dw_min_std_add: ArrayLike = 0.042
    dw_min_std_slope: ArrayLike = 0.108
    reset: ArrayLike = 0.01
    reset_dtod: ArrayLike = 0.02
    refresh_upper: ArrayLike = 0.75
    refresh_lower: ArrayLike = 0.25

    unidirectional: ClassVar[bool] = True

    def __check_init__(self) -> None:
        for name in ("a", "b", "gamma_up", "A_up"):
            check_finite(name, getattr(self, name))
        for name in ("dw_min_std_add", "dw_min_std_slope", "reset", "reset_dtod"):
            check_nonnegative(name, getattr(self, name))
        check_range("refresh_upper", self.refresh_upper, 0.0, 1.0)
        check_range("refresh_lower", self.refresh_lower, 0.0, 1.0)

    def family_spread(self) -> tuple[ArrayLike, ArrayLike]:
        return self.reset, self.reset_dtod

    def height(self, w: Float[Array, "..."]) -> Float[Array, "..."]:
        """q, the height above the RESET floor (w units)."""
        return w - self.w_min

    def step(self, identity: PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        z = 2.0 * self.a * self.height(w) / (identity.w_max - identity.w_min) + self.b
        s_up = identity.dw_up * jnp.maximum(1.0 - self.A_up * jnp.exp(self.gamma_up * z), 0.0)
        return jnp.where(up, s_up, 0.0)

    def pulse_move(
        self, identity: PulseIdentity, w: Float[Array, "..."], up: Array, xi: Array
    ) -> Float[Array, "..."]:
        step = self.step(identity, w, up)
        spread = step + self.dw_min_std_add + self.dw_min_std_slope * self.height(w)
        std = self.dw_min_std * spread
        return jnp.where(up, step + std * xi, 0.0)

    def reset_w(self, identity: PulseIdentity) -> Float[Array, "..."]:
        """Where a RESET leaves each device (w units), within its own bounds."""
        w = self.w_min + jnp.maximum(identity.family, 0.0)
        return jnp.clip(w, identity.w_min, identity.w_max)

    def floor_w(self, identity: PulseIdentity) -> Float[Array, "..."]:
        return self.reset_w(identity)

    def rest_w(self) -> Array:
        return self.w_min + jnp.asarray(self.reset, jnp.float32)

    def _pulses_to(self, q: Float[Array, "..."]) -> Float[Array, "..."]:
        """Nominal pulses from q = 0 to q, the noise-free step integrated in closed form:
        dq / dn = dw_min (1 - A exp(c q)) with A = A_up exp(gamma_up b), c = 2 a gamma_up / r
        gives n(q) = (q - ln((1 - A exp(c q)) / (1 - A)) / c) / dw_min."""
        r = self.w_max - self.w_min
        c = 2.0 * self.a * self.gamma_up / r
        big_a = self.A_up * jnp.exp(self.gamma_up * self.b)
        safe_c = jnp.where(jnp.abs(c) > 1e-6, c, 1.0)
        curved = q - jnp.log((1.0 - big_a * jnp.exp(safe_c * q)) / (1.0 - big_a)) / safe_c
        flat = q / (1.0 - big_a)
        return jnp.where(jnp.abs(c) > 1e-6, curved, flat) / self.dw_min

    def set_pulses(self, q_from: Float[Array, "..."], q_to: Float[Array, "..."]) -> Array:
        """Nominal SET pulses to climb from height q_from to q_to, from the continuous climb
        (a float; the discrete one runs up to two pulses ahead after a RESET)."""
        return jnp.maximum(self._pulses_to(q_to) - self._pulses_to(q_from), 0.0)

    def nominal_step(self) -> Array:
        """The mean step over the nominal range from the RESET level: the conductance change per
        pulse a controller calibrates on such a device (the first SET pulses after a RESET
        are tens of times larger than the last ones, so dw_min alone would misjudge it)."""
        top = self.w_max - self.w_min
        return (top - self.reset) / self.set_pulses(jnp.asarray(self.reset), top)
