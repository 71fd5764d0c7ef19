"""A device model of your own: the worked example of docs/custom-device.md.

`RetentionDevice` is a made-up device whose programmed conductance leaks back towards a rest
level (retention loss), each device at its own rate. `SquaredSoftBounds` is a pulsed-update
family whose step shrinks with the square of the distance to the bound it moves towards.
The numbers are illustrative, not fitted to any measurement: a preset of the library cites
its source in its docstring; yours should too.

tests/test_docs.py imports this file and runs both classes through analogsim.
"""

from __future__ import annotations

# --8<-- [start:imports]
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import xarray as xr
from jaxtyping import Array, ArrayLike, Float

import analogsim as A
import device_models as dm

# --8<-- [end:imports]
# --8<-- [start:device]


def _retention_variation() -> dm.DeviceVariation:
    # what makes each device of a chip its own (drawn once per chip from its key)
    return dm.DeviceVariation(
        read_gain_sigma=0.03,  # log-normal read gain: program-and-verify absorbs it
        range_sigma=0.05,  # each device's own g_max
        stuck_on_prob=0.005,
        stuck_off_prob=0.005,
        drift_sigma_scale=1.0,  # scales drift_z, used below for each device's own leak rate
    )


class RetentionDevice(dm.AbstractDeviceModel):
    """A device that leaks towards a rest conductance (illustrative numbers, no source).

    g(t) = g_rest + (g_prog - g_rest) exp(-t / tau_i), with each device's own time constant
    tau_i = tau exp(tau_spread drift_z_i): drift_z is the device's fixed standard-normal rank
    in its identity. Programming leaves a spread of `write_sigma` uS around the target (what its
    source would measure after its own program-and-verify), reads scatter by
    `read_noise_relative` of g.
    """

    # the five fields every device model declares (AbstractDeviceModel's abstract variables)
    g_min: ArrayLike = 0.0  # uS
    g_max: ArrayLike = 30.0  # uS
    variation: dm.DeviceVariation = eqx.field(default_factory=_retention_variation)
    prog_noise_scale: ArrayLike = 1.0
    read_noise_scale: ArrayLike = 1.0
    # this model's own numbers: traced leaves, so each one is sweepable without recompiling
    write_sigma: ArrayLike = 0.5  # uS
    read_noise_relative: ArrayLike = 0.01
    g_rest: ArrayLike = 10.0  # uS
    tau: ArrayLike = 1.0e6  # s
    tau_spread: ArrayLike = 0.5  # sigma of ln(tau_i)

    name: ClassVar[str] = "retention_example"
    citation: ClassVar[str] = "worked example of the analogsim docs (illustrative, no source)"

    def programming_sigma(self, g_target: Float[Array, "..."]) -> Float[Array, "..."]:
        return jnp.full_like(g_target, self.write_sigma)

    def drifted(
        self, identity: dm.DeviceIdentity, state: dm.DeviceState, t: ArrayLike
    ) -> Float[Array, "..."]:
        tau_i = self.tau * jnp.exp(self.tau_spread * identity.drift_z)
        decay = jnp.exp(-jnp.asarray(t, jnp.float32) / tau_i)
        return self.g_rest + (state.g - self.g_rest) * decay

    def read_noise_sigma(
        self, g_t: Float[Array, "..."], state: dm.DeviceState, t: ArrayLike
    ) -> Float[Array, "..."]:
        return self.read_noise_relative * jnp.abs(g_t)


# --8<-- [end:device]
# --8<-- [start:pulses]


class SquaredSoftBounds(dm.AbstractPulseResponse):
    """Soft bounds with a squared slope (illustrative, no source): a pulse's step shrinks as
    the square of the distance to the bound it moves towards,
    step_up = dw_up (1 - w / w_max)^2, step_down = dw_down (1 - w / w_min)^2,
    on each device's own bounds, so the step is dw at the reference point w = 0."""

    # every field of AbstractPulseResponse, with this family's defaults
    g_min: ArrayLike = 0.0  # uS: match the read model's range
    g_max: ArrayLike = 30.0  # uS
    dw_min: ArrayLike = 0.002  # about 1,000 states on [-1, 1]
    dw_min_dtod: ArrayLike = 0.2
    up_down: ArrayLike = 0.0
    up_down_dtod: ArrayLike = 0.02
    w_min: ArrayLike = -1.0
    w_max: ArrayLike = 1.0
    w_min_dtod: ArrayLike = 0.1
    w_max_dtod: ArrayLike = 0.1
    dw_min_std: ArrayLike = 0.3
    log_normal_steps: bool = eqx.field(default=False, static=True)
    name: str = eqx.field(default="squared_soft_bounds", static=True)
    citation: str = eqx.field(default="worked example of the analogsim docs", static=True)

    def step(self, identity: dm.PulseIdentity, w: Float[Array, "..."], up: Array) -> Array:
        s_up = identity.dw_up * (1.0 - w / identity.w_max) ** 2
        s_down = identity.dw_down * (1.0 - w / identity.w_min) ** 2
        return jnp.where(up, s_up, s_down)


# --8<-- [end:pulses]
# --8<-- [start:spec]


def retention_spec(**overrides: object) -> A.HardwareSpec:
    """A chip of RetentionDevice cells with the default periphery (8-bit DAC and ADC, 256 x 256
    tiles); keyword arguments override any field of the spec."""
    return A.HardwareSpec(device=RetentionDevice(), **overrides)


def retention_pulsed_spec(**overrides: object) -> A.HardwareSpec:
    """The same chip with SquaredSoftBounds pulses on its G+ devices, for in-situ training
    (drift compensation off, as `spec_for` sets it for the pulsed presets)."""
    overrides = {"drift_compensation": False, **overrides}
    return A.HardwareSpec(device=RetentionDevice(), pulse_response=SquaredSoftBounds(), **overrides)


# --8<-- [end:spec]
# --8<-- [start:demo]


def demo(*, chips: int = 2, epochs: int = 20, seed: int = 0) -> dict[str, xr.Dataset | dict]:
    """Characterize the device, run a trained network on `chips` chips of it, and train one
    chip in situ through its pulses. Small on purpose: a one-layer network on the digits."""
    device = RetentionDevice()
    stats = A.characterize_device(device, levels=3, times=(1.0, 1e6, 1e9), devices=2000)

    data = A.load_digits()
    net = A.mlp((64, 10))
    params = A.train_digital(net, data, key=A.root_key(seed), epochs=epochs)
    fleet = A.simulate(retention_spec(), net, params, data, chips=chips, times=[1.0, 1e6])

    trained = A.train_in_situ(retention_pulsed_spec(), net, data, chips=1, epochs=1, seed=seed)
    return {"stats": stats, "fleet": fleet, "trained": trained}


if __name__ == "__main__":
    out = demo()
    print("mean conductance (uS) by target level and time:")
    print(out["stats"]["read_mean"].to_pandas().round(2))
    print("test accuracy by chip and time:")
    print(out["fleet"]["accuracy"].to_pandas().round(3))
    trained = out["trained"]
    print("in situ, one epoch:", trained["test_accuracy"], "pulses:", trained["pulses"])


# --8<-- [end:demo]
