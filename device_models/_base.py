"""The abstract device model: how one kind of device is programmed, drifts and is read."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import ParameterError, check_nonnegative
from ._fold_in import fold_in
from ._identity import DeviceIdentity, draw_identity
from ._noise import noise_normal
from ._state import DeviceState
from ._variation import DeviceVariation

_SETTLE, _RELAX = 0, 1
# Placement error of one open-loop write, in units of the published after-verify spread, for
# devices that do not set their own `open_loop_ratio` (an assumption; see `open_loop_sigma`).
DEFAULT_OPEN_LOOP_RATIO = 3.0
# Relative error of an incremental write's move, for devices without their own `step_error`.
DEFAULT_STEP_ERROR = 0.3
PROCEDURES = ("published", "open-loop")


class AbstractDeviceModel(eqx.Module):
    """One device technology: its programming, drift, read noise and I-V law.

    Conductances are in microsiemens throughout, times in seconds since programming. Every
    numeric field is a traced leaf (sweepable without recompiling). Subclasses are final
    presets; each cites its sources.

    Programming has two steps. A *write* places the conductance near its aim, with the
    open-loop placement error `open_loop_sigma`, and is what a verify read right after it sees.
    When the device's last write is done, programming *settles*: the conductance moves by the
    published spread `programming_sigma` (post-programming relaxation and fluctuation, which
    the published spreads were measured after; Wan et al. 2022, Extended Data Fig. 3c, show
    it for RRAM). A verify loop corrects the placement and each device's read gain but not
    the settling, so it converges to the published spread and not below. The preset's
    default, `procedure="published"`, is that limit: the procedure the publication ran.
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
    def programming_sigma(self, g_target: Float[Array, "..."]) -> Float[Array, "..."]:
        """The published spread of programmed conductances around `g_target` after the
        publication's own programming procedure, microsiemens: what settles after a device's
        last write, which no verify can correct."""

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

    def open_loop_sigma(self, g_aim: Float[Array, "..."]) -> Float[Array, "..."]:
        """Placement error of one open-loop write aimed at `g_aim`, microsiemens, before
        settling: `open_loop_ratio` (a field of the presets; 3 for devices without one) times
        `programming_sigma`. No source measures it for the presets' arrays: it is an assumption
        to sweep, labelled as such wherever it is used."""
        ratio = getattr(self, "open_loop_ratio", DEFAULT_OPEN_LOOP_RATIO)
        return ratio * self.programming_sigma(g_aim)

    def program(
        self,
        identity: DeviceIdentity,
        g_target: Float[Array, "..."],
        *,
        key: Array,
        procedure: str = "published",
    ) -> DeviceState:
        """Program `g_target` (microsiemens) into the devices.

        `procedure="published"` runs the publication's own iterative programming, converged:
        each device's read gain is absorbed (the chip verified through its own reads) and the
        published spread settles around the target. `"open-loop"` is one write without a
        verify: placement error, the device's read gain uncorrected, then the same settling.
        Both clip to each device's own range; stuck devices ignore programming. The settling
        draws from `key`, the open-loop write from `fold_in(key, 1)`.
        """
        g_target = jnp.asarray(g_target, jnp.float32)
        if procedure == "published":
            return self.settle(identity, g_target / identity.read_gain, g_target, key=key)
        if procedure == "open-loop":
            written = self.write(identity, g_target, key=fold_in(key, 1))
            return self.settle(identity, written.g, g_target, key=key)
        raise ParameterError(f"procedure must be one of {PROCEDURES}; got {procedure!r}")

    def write(
        self,
        identity: DeviceIdentity,
        g_aim: Float[Array, "..."],
        *,
        key: Array,
        g_from: Float[Array, "..."] | None = None,
    ) -> DeviceState:
        """One write aimed at `g_aim` (uS), as a verify read right after it sees the device.

        From scratch (`g_from` None) it is the open-loop write: placement error
        `open_loop_sigma(g_aim)`. From the conductance `g_from` (uS) it is an incremental
        write, as verify loops make: the move lands with a relative error `step_error` (a
        field of the presets; 0.3 for devices without one, assumed, as `open_loop_ratio`):
        g_from + (g_aim - g_from)(1 + step_error z), so small corrections land close. Clipped
        to each device's own range; stuck devices ignore it. Not settled: a verify loop calls
        `settle` after its last write."""
        g_aim = jnp.asarray(g_aim, jnp.float32)
        z = noise_normal(key, g_aim.shape)
        if g_from is None:
            g = g_aim + self.prog_noise_scale * self.open_loop_sigma(g_aim) * z
        else:
            step_error = getattr(self, "step_error", DEFAULT_STEP_ERROR)
            g = g_from + (g_aim - g_from) * (1.0 + self.prog_noise_scale * step_error * z)
        g = _clip_to_device(identity, g)
        return DeviceState(g=g, relaxation_z=jnp.zeros_like(g), g_target=g_aim)

    def settle(
        self,
        identity: DeviceIdentity,
        g_written: Float[Array, "..."],
        g_target: Float[Array, "..."],
        *,
        key: Array,
    ) -> DeviceState:
        """What follows a device's last write: the conductance `g_written` (uS) moves by the
        published spread `programming_sigma(g_target)`, clipped to the device's own range, and
        the device's relaxation draw is made. Stuck devices stay where they are stuck."""
        g_target = jnp.asarray(g_target, jnp.float32)
        z = noise_normal(key, (2, *g_target.shape))
        g = g_written + self.prog_noise_scale * self.programming_sigma(g_target) * z[_SETTLE]
        g = _clip_to_device(identity, g)
        return DeviceState(g=g, relaxation_z=z[_RELAX], g_target=g_target)

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


def _clip_to_device(identity: DeviceIdentity, g: Float[Array, "..."]) -> Float[Array, "..."]:
    """`g` clipped to each device's own range, stuck devices at the bound they are stuck at."""
    g = jnp.clip(g, identity.g_min, identity.g_max)
    g = jnp.where(identity.stuck_on, identity.g_max, g)
    return jnp.where(identity.stuck_off, identity.g_min, g)
