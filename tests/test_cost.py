"""The cost model: each component against a hand calculation, the presets against their
chips' published figures, the digital reference against Horowitz's table, bad input."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogsim as A
from analogsim._chip.meter import meter_zero, metered
from analogsim._cost.digital_reference import HOROWITZ_PJ, digital_costs
from analogsim._cost.estimate import mvm_time, read_time, tile_area
from analogsim._cost.presets import HERMES
from analogsim._cost.strategy import read_cycle_energy, with_strategy_cost


def _linear(rows: int, cols: int, seed: int = 0) -> eqx.nn.Linear:
    k1, k2 = jax.random.split(jax.random.key(seed))
    layer = eqx.nn.Linear(rows, cols, use_bias=False, key=k1)
    w = jax.random.uniform(k2, layer.weight.shape, minval=-1.0, maxval=1.0)
    return eqx.tree_at(lambda m: m.weight, layer, w)


def _ideal_spec(**kw):
    # an ideal periphery: no converter errors, so the applied voltages are the inputs
    return A.noiseless(A.spec_for("pcm", variation=0.0, **kw))


def test_meter_sums_readings_over_vmap_scan_and_reuse():
    def layer(x, meter):
        return metered(jnp.tanh(x), meter, jnp.stack([jnp.sum(x * x), 1.0]))

    def model(meter, xs):
        h = jax.vmap(lambda x: layer(x, meter))(xs)  # one reading per example
        c, _ = jax.lax.scan(lambda c, _: (c + layer(xs[0], meter).sum(), None), 0.0, None, length=3)
        return h.sum() + c

    xs = jnp.arange(6.0).reshape(2, 3)
    out, pull = jax.vjp(model, meter_zero(), xs)
    reading = pull(jnp.zeros_like(out))[0]
    assert reading[1] == 2 + 3
    np.testing.assert_allclose(reading[0], jnp.sum(xs * xs) + 3 * jnp.sum(xs[0] ** 2))


@pytest.mark.parametrize("encoding", ["amplitude", "pwm"])
def test_array_energy_is_g_v_squared_times_read_time(encoding):
    spec = _ideal_spec(input_encoding=encoding, dac_bits=None, adc_bits=8)
    layer = _linear(32, 16)
    chip = A.to_analog(layer, spec, key=jax.random.key(1), method="open-loop")
    x = jax.random.uniform(jax.random.key(2), (5, 32), minval=-1.0, maxval=1.0)
    ds = A.cost(spec, chip, x, key=jax.random.key(3), cost_model=HERMES, t=0.0)
    # by hand: the DAC sees x / max|x|; every device of both arrays dissipates g V^2 for the
    # read (amplitude, k = 0 at variation 0... plus the preset's mean k) or g V_read^2 |v|
    g = np.asarray(chip.weight.state.devices.g, np.float64)  # (2, rows, cols), uS; read at t=0
    v = np.asarray(x / jnp.max(jnp.abs(x), axis=1, keepdims=True), np.float64)
    k = np.asarray(chip.weight.devices().devices.iv_nonlinearity, np.float64)
    if encoding == "amplitude":
        per_device = np.einsum("bi,sij->", v**2, g * (1 - k)) + np.einsum("bi,sij->", v**4, g * k)
    else:
        per_device = np.einsum("bi,sij->", np.abs(v), g)
    expected = (
        per_device * 1e-6 * float(spec.read_voltage) ** 2 * float(read_time(spec, HERMES)) / 5
    )
    got = float(ds["energy"].sel(layer=ds.layer[0], component="array"))
    np.testing.assert_allclose(got, expected, rtol=2e-3)


def test_converter_control_periphery_and_memory_energies_by_hand():
    spec = _ideal_spec(input_encoding="pwm", dac_bits=8, adc_bits=6, tile_rows=64, tile_cols=64)
    layer = _linear(100, 70)  # 2 x 2 tiles
    x = jax.random.uniform(jax.random.key(2), (3, 100), minval=-1.0, maxval=1.0)
    costs = A.get_cost_model("hermes", phases=4)
    ds = A.cost(spec, layer, x, key=jax.random.key(3), cost_model=costs, method="open-loop")
    e = ds["energy"].sel(layer=ds.layer[0])
    rows, cols, row_tiles, col_tiles = 100, 70, 2, 2
    assert int(ds.tiles[0]) == 4 and float(ds.vectors[0]) == 1.0
    np.testing.assert_allclose(e.sel(component="dac"), 0.03e-12 * rows * col_tiles, rtol=1e-5)
    adc = 3.1e-3 / 1.2e9 / 256 * 2**6 * cols * row_tiles * 4
    np.testing.assert_allclose(e.sel(component="adc"), adc, rtol=1e-5)
    step = 4 * (128e-9 + 5e-9)
    np.testing.assert_allclose(float(mvm_time(spec, costs)), step, rtol=1e-6)
    area = float(HERMES.tile_area) * (0.5 * 64 * 64 / 256**2 + 0.5 * 64 / 256)
    np.testing.assert_allclose(float(tile_area(spec, costs)), area, rtol=1e-6)
    control = 76.8e-3 * area / float(HERMES.tile_area) * step * 4
    np.testing.assert_allclose(e.sel(component="control"), control, rtol=1e-5)
    # abs_max: 2 ops per input; per output scale, bias, scale back, drift factor; row sums
    ops = rows * 2 + cols * 4 + (row_tiles - 1) * cols
    np.testing.assert_allclose(
        e.sel(component="periphery"), ops * float(HERMES.op_energy), rtol=1e-5
    )
    bits = rows * 8 + cols * 16 + (row_tiles - 1) * cols * 16
    np.testing.assert_allclose(
        e.sel(component="memory"), bits * float(HERMES.sram_bit_energy), rtol=1e-5
    )
    assert float(ds.latency) == pytest.approx(step)
    assert float(ds.area) == pytest.approx(4 * area)
    assert float(ds.energy_per_inference) == pytest.approx(float(ds.energy.sum()))


def test_transformer_counts_come_from_its_program():
    model = A.transformer(
        vocab=8, length=6, classes=4, width=16, depth=1, heads=2, key=jax.random.key(0)
    )
    spec = A.spec_for("pcm")
    x = jax.random.randint(jax.random.key(1), (4, 6), 0, 8)
    ds = A.cost(spec, model, x, key=jax.random.key(2))
    vectors = A.read_vectors(A.to_analog(model, spec, key=jax.random.key(2)), x[0])
    for path, n in vectors.items():
        assert float(ds.vectors.sel(layer=path)) == n  # the meters agree with the jaxpr
    # attention scores and mixing are digital products: 2 x heads x length^2 x head width
    assert float(ds.digital_macs) >= 2 * 6 * 6 * 16
    assert float(ds.energy.sel(layer="digital").sum()) > 0
    assert float(ds.digital_reference) > 0 and float(ds.digital_ratio) > 0


def test_presets_reproduce_their_chips_published_figures():
    rows = A.published_table()
    assert {r["chip"] for r in rows} >= {
        "IBM 64-core PCM chip, one-phase mode",
        "IBM 64-core PCM chip, four-phase mode",
        "HERMES core (single-core test chip)",
    }
    for row in rows:
        # the fitted figures to 2%, the predicted ones within the documented factor 1.25
        bound = 1.02 if row["fitted"] else 1.25
        assert 1 / bound < row["ratio"] < bound, row


def test_digital_reference_is_horowitz_table():
    assert HOROWITZ_PJ["int8 mult"] == 0.2 and HOROWITZ_PJ["int32 add"] == 0.1
    assert HOROWITZ_PJ["fp32 mult"] == 3.7 and HOROWITZ_PJ["fp32 add"] == 0.9
    assert HOROWITZ_PJ["fp16 mult"] == 1.1 and HOROWITZ_PJ["fp16 add"] == 0.4
    assert HOROWITZ_PJ["sram 8KB read 64 bits"] == 10.0
    d = digital_costs("int8", "sram")
    assert d.mac == pytest.approx(0.3e-12) and d.bits == 8
    assert d.weight_bit == pytest.approx(10e-12 / 64)
    assert digital_costs("fp32", "dram").weight_bit == pytest.approx(1.3e-9 / 64)


def test_digital_reference_counts_macs_weights_and_activations():
    spec = _ideal_spec()
    x = np.ones((4, 32), np.float32)
    ds = A.cost(spec, _linear(32, 16), x, key=jax.random.key(0), precision="int8")
    ref = ds["reference_energy"]
    assert float(ref.sel(reference_component="mac")) == pytest.approx(32 * 16 * 0.3e-12)
    # the weights are fetched once for the batch of 4
    weights = 32 * 16 * 8 * 1.3e-9 / 64 / 4
    assert float(ref.sel(reference_component="weights")) == pytest.approx(weights)


def test_strategy_costs_price_the_transfer_counts():
    import xarray as xr

    spec = A.spec_for("pcm")
    dims = ("variation", "strategy", "chip")
    counts = {
        name: (dims, np.array([[[10], [0]]], np.int64))
        for name in ("read_cycles", "device_writes", "update_pulses")
    }
    coords = {"variation": [1.0], "strategy": ["weights", "digital"], "chip": [0]}
    ds = xr.Dataset(counts, coords=coords)
    ds["bits_moved"] = ("strategy", [5.0, 640.0])
    out = with_strategy_cost(ds, spec, HERMES)
    e = 10 * read_cycle_energy(spec, HERMES) + 10 * 10e-12 + 10 * 10e-12
    energy = out.strategy_energy.sel(variation=1.0, chip=0)
    assert float(energy.sel(strategy="weights")) == pytest.approx(e)
    assert float(energy.sel(strategy="digital")) == pytest.approx(640 * 1.3e-9 / 64)
    assert float(out.strategy_time.sel(variation=1.0, chip=0, strategy="weights")) > 0


def test_bad_input_gets_a_clear_error():
    with pytest.raises(A.ParameterError, match="write_energy"):
        dataclasses.replace(HERMES, write_energy=-1e-12)
    with pytest.raises(A.ParameterError, match="unknown cost model 'hermez'.*hermes"):
        A.get_cost_model("hermez")
    with pytest.raises(A.ParameterError, match="unknown cost model field 'adc_energy'"):
        A.get_cost_model("hermes", adc_energy=1.0)
    with pytest.raises(A.ParameterError, match="'rram' has no cost model"):
        A.cost_model_for(A.spec_for("rram"))
    with pytest.raises(A.ParameterError, match="precision"):
        digital_costs("int4")
    with pytest.raises(A.ParameterError, match="at least one input"):
        A.cost(A.spec_for("pcm"), _linear(4, 4), np.zeros((0, 4)), key=jax.random.key(0))
