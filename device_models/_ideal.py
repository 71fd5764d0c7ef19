"""The ideal device: exact writes, no drift, no noise, identical devices."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._base import AbstractDeviceModel
from ._checks import check_nonnegative, check_order, check_range
from ._identity import DeviceIdentity
from ._state import DeviceState
from ._variation import DeviceVariation


class Ideal(AbstractDeviceModel):
    """A noiseless reference device over [0, 25] uS (PCM's range, so results compare).

    No source: this is the digital limit that every physical preset is measured against. Its
    variation fields default to zero and may be set to study one effect in isolation.
    """

    g_min: ArrayLike = 0.0
    g_max: ArrayLike = 25.0
    variation: DeviceVariation = eqx.field(
        default_factory=lambda: DeviceVariation(drift_sigma_scale=0.0)
    )
    prog_noise_scale: ArrayLike = 0.0
    read_noise_scale: ArrayLike = 0.0

    name: ClassVar[str] = "ideal"
    citation: ClassVar[str] = "noiseless reference device (no source)"
    has_read_noise: ClassVar[bool] = False

    def __check_init__(self) -> None:
        check_range("g_min", self.g_min, 0.0, unit="uS")
        check_range("g_max", self.g_max, 0.0, low_open=True, unit="uS")
        check_order("g_min", self.g_min, "g_max", self.g_max, unit="uS")
        check_nonnegative("prog_noise_scale", self.prog_noise_scale)
        check_nonnegative("read_noise_scale", self.read_noise_scale)

    def programming_sigma(self, g_target: Array) -> Array:
        return jnp.zeros_like(g_target)

    def drifted(self, identity: DeviceIdentity, state: DeviceState, t: ArrayLike) -> Array:
        return state.g

    def read_noise_sigma(self, g_t: Array, state: DeviceState, t: ArrayLike) -> Array:
        return jnp.zeros_like(g_t)
