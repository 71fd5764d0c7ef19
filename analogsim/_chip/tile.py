"""One analog matrix-vector multiply over a layer's tiles: DAC, crossbar, ADC, digital sum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from device_models import noise_normal

from .._core.precision import matmul
from .crossbar import solve_crossbar
from .identity import LayerIdentity, tile_counts
from .mapping import conductance_span
from .periphery import quantize
from .spec import HardwareSpec


def analog_mvm(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g: Float[Array, "2 rows cols"],
    x: Float[Array, "batch rows"],
    *,
    key: Array | None,
    calibration: bool = False,
    noise: Float[Array, "row_tiles batch cols"] | None = None,
) -> Float[Array, "batch cols"]:
    """Drive rows with `x` and digitize the column currents, tile by tile.

    Args:
        spec: hardware spec.
        layer: the layer's identity (device I-V coefficients, DAC and ADC errors).
        g: conductances the read sees (read gain, drift and read noise applied), uS,
            (G+, G-) stacked on axis 0.
        x: inputs in DAC units (1 = full scale = V_read); clipped to +-1 and quantized.
        key: output (ADC) noise key; None for no output noise.
        noise: standard-normal output-noise draws to use instead of drawing them from `key`
            (`output_noise_draws(spec, rows, cols, batch, key=key)` for the same numbers).
        calibration: also drive one full-scale all-ones input, as one more row of the batch
            (the drift-compensation read): its output is the last row of the result and its
            output noise is row `batch` of the draw.

    Returns:
        Digitized outputs in normalized units (1 = one device at the full conductance span
        driven at V_read), row tiles' partial sums added digitally; (batch + 1, cols) with
        `calibration`.

    Each row tile's partial sum is converted by its own ADCs (gain, offset, noise, clip,
    quantization) before the digital sum, as on a tiled chip. Under amplitude encoding the
    I-V law I = g v (1 + k (v^2 - 1)) splits exactly into a linear and a cubic term, so a
    tile costs two matrix products; under PWM encoding, or when every k is 0 by construction
    (`DeviceIdentity.linear_iv`, e.g. ideal reads), only the linear one.
    """
    rows, cols = g.shape[1:]
    g_lo, g_hi = conductance_span(spec)
    span = g_hi - g_lo
    n = x.shape[0]
    batch = n + (1 if calibration else 0)
    if spec.input_encoding == "amplitude" and not layer.devices.linear_iv:
        k = layer.devices.iv_nonlinearity
        w_lin = (g[0] * (1.0 - k[0]) - g[1] * (1.0 - k[1])) / span
        w_cub = (g[0] * k[0] - g[1] * k[1]) / span
    else:
        w_lin = (g[0] - g[1]) / span
        w_cub = None
    p = layer.periphery
    row_tiles, col_tiles = tile_counts(spec, rows, cols)
    if noise is None and key is not None:
        noise = output_noise_draws(spec, rows, cols, batch, key=key)
    if noise is not None:
        if noise.shape != (row_tiles, batch, cols):
            raise ValueError(
                f"output noise must have shape {(row_tiles, batch, cols)}; got {noise.shape}"
            )
        noise = spec.output_noise * noise

    def convert(xq: Array, noise_rows: Array | None) -> Array:
        # one block of inputs through every tile, each row tile's partial sum digitized by
        # its own converters, then summed digitally
        total = None
        for r in range(row_tiles):
            rs = slice(r * spec.tile_rows, min((r + 1) * spec.tile_rows, rows))
            parts = []
            for c in range(col_tiles):
                cs = slice(c * spec.tile_cols, min((c + 1) * spec.tile_cols, cols))
                v = p.dac_gain[c, rs] * xq[:, rs] + p.dac_offset[c, rs]
                if spec.wire_resistance is not None:
                    parts.append(_wired_tile(spec, layer, g[:, rs, cs], v, (rs, cs), span))
                    continue
                y = _product(v, w_lin[rs, cs])
                if w_cub is not None:
                    y = y + _product(v * v * v, w_cub[rs, cs])
                parts.append(y)
            y = parts[0] if col_tiles == 1 else jnp.concatenate(parts, axis=-1)
            y = p.adc_gain[r] * y + p.adc_offset[r]
            if noise_rows is not None:
                y = y + noise_rows[r]
            y = quantize(y, spec.adc_bits, spec.adc_range)
            total = y if total is None else total + y
        return total

    rows_of = lambda a, b: None if noise is None else noise[:, a:b]
    y = convert(quantize(x, spec.dac_bits, 1.0), rows_of(0, n))
    if not calibration:
        return y
    # the calibration row goes through on its own rather than concatenated onto the batch:
    # XLA fuses a concatenation into the work that feeds it, and the loop it emits for
    # that does not vectorize on the CPU (5x slower)
    ones = quantize(jnp.ones((1, rows), x.dtype), spec.dac_bits, 1.0)
    return jnp.concatenate([y, convert(ones, rows_of(n, batch))])


@jax.custom_vjp
def _product(v: Float[Array, "batch rows"], w: Float[Array, "rows cols"]) -> Array:
    """v @ w, with the gradient with respect to w computed as the product v^T ct.

    Autodiff computes it as (ct^T v)^T. Under vmap over a chip axis of size 1 (one chip
    trained as a fleet of one) XLA then fuses that transpose into whatever consumes the
    gradient, such as the pulse update of in-situ training, and the strided reads stop the
    whole fused loop (its noise draws included) from vectorizing.
    """
    return matmul(v, w)


def _product_fwd(v: Array, w: Array) -> tuple[Array, tuple[Array, Array]]:
    return matmul(v, w), (v, w)


def _product_bwd(res: tuple[Array, Array], ct: Array) -> tuple[Array, Array]:
    v, w = res
    return matmul(ct, w.T), matmul(v.T, ct)


_product.defvjp(_product_fwd, _product_bwd)


def output_noise_draws(
    spec: HardwareSpec, rows: int, cols: int, batch: int, *, key: Array
) -> Float[Array, "row_tiles batch cols"]:
    """The standard normals `analog_mvm` draws from `key` for a (rows, cols) layer and `batch`
    inputs (the calibration row counted): one per conversion, each row tile's ADCs their own."""
    row_tiles, _ = tile_counts(spec, rows, cols)
    return noise_normal(key, (row_tiles, batch, cols))


def _wired_tile(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g: Float[Array, "2 rows cols"],
    v: Float[Array, "batch rows"],
    where: tuple[slice, slice],
    span: Array,
) -> Float[Array, "batch cols"]:
    """One tile read through its wires: the G+ and G- crossbars solved as circuits
    (`solve_crossbar`), their output currents subtracted, in normalized output units.

    Under PWM encoding the rows sit at V_read for a time; the solve uses the time-averaged
    voltage with linear devices, which neglects how the drop varies while pulses overlap.
    """
    volts = v * spec.read_voltage
    k = layer.devices.iv_nonlinearity[:, where[0], where[1]]

    def solve(g_side: Array, k_side: Array) -> Array:
        return solve_crossbar(
            g_side * 1e-6,  # uS -> S
            volts,
            spec.wire_resistance,
            iv_nonlinearity=k_side if spec.input_encoding == "amplitude" else None,
            v_read=spec.read_voltage,
            iterations=spec.wire_iterations,
            on_failure="warn",
        )

    # G+ and G- in one batched solve: one loop runs both arrays to their tolerance
    out = jax.vmap(solve)(g, k)
    # normalized: one device at the full span driven at V_read
    return (out[0] - out[1]) / (span * 1e-6 * spec.read_voltage)


def array_load(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g: Float[Array, "2 rows cols"],
    x: Float[Array, "batch rows"],
) -> Array:
    """What the crossbar dissipates reading the inputs `x` (DAC units, as `analog_mvm` takes
    them), in microsiemens: times V_read^2 (volts), the full-scale read time (seconds) and
    1e-6 S/uS it is the energy in joules.

    The voltages are those the DACs actually apply to each column tile's rows (quantized,
    with each driver's gain and offset); every device of both arrays dissipates
    I V = g V^2 (1 + k (v^2 - 1)) for the full read time under amplitude encoding (v the row
    voltage over V_read), and g V_read^2 for a fraction |v| of it under PWM. Wires are taken as
    ideal here (their own dissipation and the drop they cause are left out).
    """
    xq = quantize(x, spec.dac_bits, 1.0)
    p = layer.periphery
    rows, cols = g.shape[1:]
    _, col_tiles = tile_counts(spec, rows, cols)
    amplitude = spec.input_encoding == "amplitude"
    total = jnp.float32(0.0)
    for c in range(col_tiles):
        cs = slice(c * spec.tile_cols, min((c + 1) * spec.tile_cols, cols))
        v = p.dac_gain[c] * xq + p.dac_offset[c]  # (batch, rows)
        g_rows = jnp.sum(g[:, :, cs], axis=(0, 2))  # both arrays' devices on each row, uS
        if not amplitude:
            total = total + matmul(jnp.sum(jnp.abs(v), axis=0), g_rows)
            continue
        v2 = jnp.sum(v * v, axis=0)
        if layer.devices.linear_iv:
            total = total + matmul(v2, g_rows)
            continue
        gk = jnp.sum(g[:, :, cs] * layer.devices.iv_nonlinearity[:, :, cs], axis=(0, 2))
        total = total + matmul(v2, g_rows - gk) + matmul(jnp.sum(v**4, axis=0), gk)
    return total
