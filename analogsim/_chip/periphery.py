"""Converters around the array: DAC per row, ADC per column, each with its own gain and offset."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from device_models._checks import check_nonnegative


class PeripheryVariation(eqx.Module):
    """Spreads of the converters' fixed gain and offset errors (all scaled by `variation`).

    Defaults are assumptions of the order reported for uncalibrated converters on analog
    in-memory chips (IBM HERMES, Le Gallo et al., Nat. Electron. 6:680, 2023, calibrates
    per-column ADC gain and offset because they spread by a few percent); sweep them.

    Attributes:
        dac_gain_sigma: relative spread of each row driver's gain (dimensionless).
        dac_offset_sigma: spread of each row driver's offset, fraction of full-scale voltage.
        adc_gain_sigma: relative spread of each column converter's gain.
        adc_offset_sigma: spread of each column converter's offset, fraction of its full scale.
    """

    dac_gain_sigma: ArrayLike = 0.01
    dac_offset_sigma: ArrayLike = 0.002
    adc_gain_sigma: ArrayLike = 0.02
    adc_offset_sigma: ArrayLike = 0.002

    def __check_init__(self) -> None:
        for name in ("dac_gain_sigma", "dac_offset_sigma", "adc_gain_sigma", "adc_offset_sigma"):
            check_nonnegative(name, getattr(self, name))


class PeripheryIdentity(eqx.Module):
    """One layer's converter errors. A row is driven by one DAC per column tile it feeds; each
    column's partial sum is digitized by one ADC per row tile.

    Attributes:
        dac_gain: (col_tiles, rows), dimensionless.
        dac_offset: (col_tiles, rows), in units of full-scale voltage.
        adc_gain: (row_tiles, cols), dimensionless.
        adc_offset: (row_tiles, cols), in normalized output units.
    """

    dac_gain: Float[Array, "col_tiles rows"]
    dac_offset: Float[Array, "col_tiles rows"]
    adc_gain: Float[Array, "row_tiles cols"]
    adc_offset: Float[Array, "row_tiles cols"]


def draw_periphery(
    variation: PeripheryVariation,
    rows: int,
    cols: int,
    row_tiles: int,
    col_tiles: int,
    adc_range: ArrayLike,
    *,
    key: Array,
    scale: ArrayLike = 1.0,
) -> PeripheryIdentity:
    """Draw a layer's converter errors from `key`; `scale` is the chip's variation multiplier."""
    dshape, ashape = (col_tiles, rows), (row_tiles, cols)
    nd, na = col_tiles * rows, row_tiles * cols
    z = jax.random.normal(key, (2 * nd + 2 * na,))
    z_dg, z_do = z[:nd].reshape(dshape), z[nd : 2 * nd].reshape(dshape)
    z_ag, z_ao = z[2 * nd : 2 * nd + na].reshape(ashape), z[2 * nd + na :].reshape(ashape)
    return PeripheryIdentity(
        dac_gain=1.0 + scale * variation.dac_gain_sigma * z_dg,
        dac_offset=scale * variation.dac_offset_sigma * z_do,
        adc_gain=1.0 + scale * variation.adc_gain_sigma * z_ag,
        adc_offset=scale * variation.adc_offset_sigma * adc_range * z_ao,
    )


def quantize(x: Array, bits: int | None, bound: ArrayLike) -> Array:
    """Clip `x` to [-bound, bound] and round it to a `bits`-bit converter's levels.

    Levels are symmetric about zero with an exact zero: 2^(bits-1) - 1 steps each side
    (255 levels at 8 bits). One bit is a sign converter (+-bound). `bits=None` only clips.
    The gradient is straight-through inside the range and zero outside it, as the clip.
    """
    xc = jnp.clip(x, -bound, bound)
    if bits is None:
        return xc
    if bits == 1:
        q = jnp.where(xc >= 0, bound, -bound)
    else:
        n = 2 ** (bits - 1) - 1
        step = bound / n
        q = jnp.round(xc / step) * step
    return xc + jax.lax.stop_gradient(q - xc)
