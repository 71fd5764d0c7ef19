"""The pulsed-update families: constant step, soft bounds, linear step, exponential and power step.

Each is the step of one pulse as a function of the device's position w (see
`_pulse_response.py` for the axis and the noise); forms as in IBM aihwkit's `ConstantStepDevice`,
`SoftBoundsDevice`, `LinearStepDevice`, `ExpStepDevice` and `PowStepDevice`.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_finite, check_nonnegative
from ._pulse_response import AbstractPulseResponse, PulseIdentity


class _Fields(AbstractPulseResponse):
    """Shared fields (an abstract base: concrete families below are final)."""

    g_min: ArrayLike = 0.0
    g_max: ArrayLike = 25.0
    dw_min: ArrayLike = 0.001
    dw_min_dtod: ArrayLike = 0.3
    up_down: ArrayLike = 0.0
    up_down_dtod: ArrayLike = 0.01
    w_min: ArrayLike = -1.0
    w_max: ArrayLike = 1.0
    w_min_dtod: ArrayLike = 0.3
    w_max_dtod: ArrayLike = 0.3
    dw_min_std: ArrayLike = 0.3
    log_normal_steps: bool = eqx.field(default=False, static=True)
    name: str = eqx.field(default="custom", static=True)
    citation: str = eqx.field(default="user-defined pulse response", static=True)


class ConstantStep(_Fields):
    """Every pulse moves w by the device's own constant step until it hits its bound.

    step_up = dw_up, step_down = dw_down (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016).
    A train of n pulses is summed in closed form (one noise draw per device).
    """

    step_depends_on_w: ClassVar[bool] = False

    def step(self, identity: PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        return jnp.where(up, identity.dw_up, identity.dw_down)


class SoftBounds(_Fields):
    """The step shrinks linearly to zero at the device's own bounds:
    step_up = dw_up (1 - w / w_max), step_down = dw_down (1 - w / w_min), so the
    step is dw at w = 0 (Fusi & Abbott, Nat. Neurosci. 2007; aihwkit SoftBoundsDevice)."""

    def step(self, identity: PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        s_up = identity.dw_up * (1.0 - w / identity.w_max)
        s_down = identity.dw_down * (1.0 - w / identity.w_min)
        return jnp.maximum(jnp.where(up, s_up, s_down), 0.0)


class LinearStep(_Fields):
    """Steps that change linearly with w, with per-device slopes (aihwkit LinearStepDevice):
    step_up = dw_up (1 - gamma_up w / w_max), step_down = dw_down (1 - gamma_down w / w_min),
    slopes referenced to the nominal bounds; gamma_up's device-to-device spread is
    `gamma_dtod`, and gamma_down keeps the nominal ratio gamma_down / gamma_up."""

    gamma_up: ArrayLike = 0.1
    gamma_down: ArrayLike = 0.1
    gamma_dtod: ArrayLike = 0.05

    def __check_init__(self) -> None:
        check_finite("gamma_up", self.gamma_up)
        check_finite("gamma_down", self.gamma_down)
        check_nonnegative("gamma_dtod", self.gamma_dtod)

    def family_spread(self) -> tuple[ArrayLike, ArrayLike]:
        return 1.0, self.gamma_dtod

    def step(self, identity: PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        s_up = identity.dw_up * (1.0 - self.gamma_up * identity.family * w / self.w_max)
        s_down = identity.dw_down * (1.0 - self.gamma_down * identity.family * w / self.w_min)
        return jnp.maximum(jnp.where(up, s_up, s_down), 0.0)


class ExpStep(_Fields):
    """Exponential step (aihwkit ExpStepDevice, fitted to RRAM by Gong et al. 2018):
    z = 2 a w / (w_max - w_min) + b,
    step_up = dw_up max(1 - A_up exp(gamma_up z), 0),
    step_down = dw_down max(1 - A_down exp(-gamma_down z), 0), on the device's own bounds."""

    a: ArrayLike = -0.5
    b: ArrayLike = -0.5
    gamma_up: ArrayLike = 5.0
    gamma_down: ArrayLike = 5.0
    A_up: ArrayLike = -1.0  # noqa: N815 (the published symbol)
    A_down: ArrayLike = -0.1  # noqa: N815

    def __check_init__(self) -> None:
        for name in ("a", "b", "gamma_up", "gamma_down", "A_up", "A_down"):
            check_finite(name, getattr(self, name))

    def step(self, identity: PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        z = 2.0 * self.a * w / (identity.w_max - identity.w_min) + self.b
        s_up = identity.dw_up * jnp.maximum(1.0 - self.A_up * jnp.exp(self.gamma_up * z), 0.0)
        s_down = identity.dw_down * jnp.maximum(
            1.0 - self.A_down * jnp.exp(-self.gamma_down * z), 0.0
        )
        return jnp.where(up, s_up, s_down)


class PowStep(_Fields):
    """Power-law step (aihwkit PowStepDevice): with the device's range r = w_max - w_min,
    step_up = dw_up ((w_max - w) / r)^gamma_up * 2^gamma_up,
    step_down = dw_down ((w - w_min) / r)^gamma_down * 2^gamma_down,
    so the step is dw at the middle of the range; gamma = 1 is soft bounds on a symmetric range."""

    gamma_up: ArrayLike = 1.0
    gamma_down: ArrayLike = 1.0

    def __check_init__(self) -> None:
        check_nonnegative("gamma_up", self.gamma_up)
        check_nonnegative("gamma_down", self.gamma_down)

    def step(self, identity: PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        r = identity.w_max - identity.w_min
        x_up = jnp.clip((identity.w_max - w) / r, 0.0, 1.0)
        x_down = jnp.clip((w - identity.w_min) / r, 0.0, 1.0)
        s_up = identity.dw_up * (2.0 * x_up) ** self.gamma_up
        s_down = identity.dw_down * (2.0 * x_down) ** self.gamma_down
        return jnp.where(up, s_up, s_down)
