"""The signal path behaves as the physics says: exact limits, programming, drift, tiling."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY_NET, tiny_chip, tiny_inputs, tiny_params

import analogsim as A
import device_models as dm


def exact_spec(**kw) -> A.HardwareSpec:
    """Ideal devices, ideal converters, no variation and no noise: an exact multiplier."""
    base = dict(
        device=dm.Ideal(),
        dac_bits=None,
        adc_bits=None,
        output_noise=0.0,
        variation=0.0,
        adc_range=1e6,
    )
    base.update(kw)
    return A.HardwareSpec(**base)


@pytest.mark.parametrize("tile", [256, 4, 3])
def test_exact_chip_equals_digital_whatever_the_tiling(tile):
    spec = exact_spec(tile_rows=tile, tile_cols=tile)
    chip, state = tiny_chip(spec)
    x = tiny_inputs()
    analog = A.apply_analog(spec, TINY_NET, chip, state, x, t=1e6, key=jax.random.key(0))
    np.testing.assert_allclose(analog, A.apply_digital(TINY_NET, tiny_params(), x), atol=1e-5)


@pytest.mark.slow  # heavy (20-30 s); its path is also covered by faster tests
def test_cnn_on_exact_chip_equals_digital():
    net = A.cnn()
    params = A.init_params(net, key=jax.random.key(0))
    spec = exact_spec(tile_rows=16, tile_cols=8)
    chip = A.make_chip(spec, net.shapes, key=jax.random.key(1))
    state = A.program_chip(spec, chip, params, key=jax.random.key(2))
    x = jax.random.uniform(jax.random.key(3), (4, 8, 8, 1))
    run = jax.jit(lambda c, s, x: A.apply_analog(spec, net, c, s, x, t=0.0, key=jax.random.key(4)))
    np.testing.assert_allclose(run(chip, state, x), A.apply_digital(net, params, x), atol=1e-4)


def test_quantize_levels_and_straight_through_gradient():
    x = jnp.linspace(-2.0, 2.0, 10001)
    q = A.quantize(x, 3, 1.0)
    assert len(np.unique(np.asarray(q))) == 7  # 2^(3-1) - 1 = 3 steps each side, plus zero
    assert float(q.max()) == 1.0 and float(q.min()) == -1.0
    np.testing.assert_array_equal(A.quantize(jnp.array([0.3, -0.2]), 1, 2.0), [2.0, -2.0])
    grad = jax.grad(lambda v: jnp.sum(A.quantize(v, 4, 1.0)))(jnp.array([0.33, 1.5, -3.0]))
    np.testing.assert_array_equal(grad, [1.0, 0.0, 0.0])


def test_iv_nonlinearity_acts_only_under_amplitude_encoding():
    dev = dm.Ideal(variation=dm.DeviceVariation(iv_nonlinearity=0.3, drift_sigma_scale=0.0))
    outs = {}
    for enc in ("amplitude", "pwm"):
        spec = exact_spec(device=dev, input_encoding=enc, variation=1.0)
        spec = A.HardwareSpec(**{**spec.__dict__, "periphery": A.PeripheryVariation(0, 0, 0, 0)})
        chip, state = tiny_chip(spec)
        outs[enc] = A.apply_analog(
            spec, TINY_NET, chip, state, tiny_inputs() * 0.5, t=1.0, key=jax.random.key(0)
        )
    digital = A.apply_digital(TINY_NET, tiny_params(), tiny_inputs() * 0.5)
    np.testing.assert_allclose(outs["pwm"], digital, atol=1e-5)
    assert np.max(np.abs(outs["amplitude"] - digital)) > 0.05


def test_linear_iv_is_known_only_when_k_is_zero_by_construction():
    linear = lambda v: dm.draw_identity(v, 0.0, 25.0, (4, 3), key=jax.random.key(0)).linear_iv
    assert linear(dm.DeviceVariation())  # mean and spread the number 0
    assert not linear(dm.DeviceVariation(iv_nonlinearity=0.05))
    assert not linear(dm.DeviceVariation(iv_nonlinearity_sigma=0.02))
    # an array (a swept, traced value) is not known to be 0, even when it is
    assert not linear(dm.DeviceVariation(iv_nonlinearity=jnp.float32(0.0)))
    chip = lambda device: A.make_chip(
        exact_spec(device=device), TINY_NET.shapes, key=jax.random.key(0)
    )
    assert chip(dm.Ideal()).layers[0].devices.linear_iv
    assert not chip(dm.PCM()).layers[0].devices.linear_iv


def test_skipping_the_cubic_term_of_linear_devices_changes_nothing():
    """Reads of devices whose k is 0 by construction skip the cubic products: outputs and
    gradients are the same numbers as with the products computed (they add zeros)."""
    spec = A.HardwareSpec(device=dm.Ideal(), variation=1.0)
    chip, state = tiny_chip(spec)
    layer = chip.layers[0]
    assert layer.devices.linear_iv
    full = dataclasses.replace(layer, devices=dataclasses.replace(layer.devices, linear_iv=False))
    g = state.layers[0].devices.g
    x = tiny_inputs() * 1.5 - 0.5
    out = lambda lay, g: A.analog_mvm(spec, lay, g, x, key=jax.random.key(1), calibration=True)
    np.testing.assert_array_equal(out(layer, g), out(full, g))
    grad = lambda lay: jax.grad(lambda g: jnp.sum(out(lay, g) * jnp.arange(6.0)))(g)
    np.testing.assert_array_equal(grad(layer), grad(full))


def test_the_products_gradient_is_the_matrix_products():
    """`_product`'s own gradient (v^T ct for the weights, for XLA's layouts under vmap) is
    the gradient of v @ w, one chip or a batch of them."""
    from analogsim._chip.tile import _product

    v = jax.random.normal(jax.random.key(0), (3, 5, 4))
    w = jax.random.normal(jax.random.key(1), (3, 4, 6))
    c = jax.random.normal(jax.random.key(2), (5, 6))
    loss = lambda mul: lambda v, w: jnp.sum(jnp.tanh(mul(v, w)) * c)
    for args, grad in (
        ((v[0], w[0]), jax.grad),
        ((v, w), lambda f, argnums: jax.vmap(jax.grad(f, argnums=argnums))),
    ):
        got = grad(loss(_product), argnums=(0, 1))(*args)
        want = grad(loss(jnp.matmul), argnums=(0, 1))(*args)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _program_error(method: str, target_us: float = 12.5, **kw) -> tuple[np.ndarray, np.ndarray]:
    device = dm.PCM()
    identity = device.draw_identity((20000,), key=jax.random.key(0))
    target = jnp.full((20000,), target_us)
    if method == "verify":
        state = A.program_and_verify(device, identity, target, key=jax.random.key(1), **kw)
    else:
        state = device.program(identity, target, key=jax.random.key(1), procedure=method)
    read = device.conductance(identity, state, 0.0)
    stuck = np.asarray(identity.stuck_on | identity.stuck_off)
    return np.asarray(read - target), stuck


def test_program_and_verify_beats_open_loop_and_respects_stuck_devices():
    open_err, stuck = _program_error("open-loop")
    ver_err, _ = _program_error("verify", iterations=10, tolerance=0.5)
    ok = ~stuck
    assert stuck.any()
    assert np.std(ver_err[ok]) < 0.5 * np.std(open_err[ok])
    # stuck devices ignore every rewrite: their error is whatever being stuck gives
    np.testing.assert_array_equal(ver_err[stuck], open_err[stuck])


def test_program_and_verify_converges_to_the_published_spread_not_below():
    """The published PCM spread was measured after IBM's own iterative programming: a verify
    loop corrects the open-loop placement but not the settling after its last write, so its
    spread falls with the rounds towards the published one and never below it."""
    published = float(dm.PCM().programming_sigma(jnp.float32(12.5)))  # 0.953 uS at x = 0.5
    err, stuck = _program_error("published")
    ok = ~stuck
    # 20000 devices: the sampling error of a std is 0.5%
    assert abs(np.std(err[ok]) / published - 1.0) < 0.02
    spreads = [
        np.std(_program_error("verify", iterations=n, tolerance=0.5)[0][ok]) for n in (0, 1, 3, 10)
    ]
    assert spreads[0] > 2.5 * published  # no rewrite: one open-loop write (ratio 3)
    assert all(b <= a * 1.001 for a, b in zip(spreads, spreads[1:], strict=False))
    assert published * 0.98 < spreads[-1] < published * 1.1
    tight = _program_error("verify", iterations=30, tolerance=0.05, verify_reads=64)[0]
    assert abs(np.std(tight[ok]) / published - 1.0) < 0.02


def test_program_and_verify_absorbs_the_read_gain():
    device = dm.PCM(
        variation=dm.DeviceVariation(read_gain_sigma=0.3),
        prog_noise_scale=0.01,
        read_noise_scale=0.0,
    )
    identity = device.draw_identity((5000,), key=jax.random.key(0))
    target = jnp.full((5000,), 10.0)
    ol = device.program(identity, target, key=jax.random.key(1), procedure="open-loop")
    ol = device.conductance(identity, ol, 0.0)
    pv = device.conductance(
        identity,
        A.program_and_verify(device, identity, target, key=jax.random.key(1), tolerance=0.05),
        0.0,
    )
    published = device.conductance(
        identity, device.program(identity, target, key=jax.random.key(1)), 0.0
    )
    # the correction converges for gains below 2, and the aim must fit the device's range
    gain = np.asarray(identity.read_gain)
    inside = (gain > 0.6) & (gain < 1.6)
    assert np.std(ol[inside]) > 2.0
    assert np.std(pv[inside]) < 0.1
    assert np.std(published[inside]) < 0.1


def test_drift_compensation_restores_output_scale():
    spec_on = A.HardwareSpec(output_noise=0.0, adc_bits=None, dac_bits=None)
    spec_off = A.HardwareSpec(
        output_noise=0.0, adc_bits=None, dac_bits=None, drift_compensation=False
    )
    x = tiny_inputs(batch=64)
    ratios = {}
    for name, spec in (("on", spec_on), ("off", spec_off)):
        chip, state = tiny_chip(spec)
        early = A.apply_analog(spec, TINY_NET, chip, state, x, t=20.0, key=jax.random.key(0))
        late = A.apply_analog(spec, TINY_NET, chip, state, x, t=3.15e7, key=jax.random.key(0))
        ratios[name] = float(
            jnp.sum(jnp.abs(late - state.layers[-1].bias))
            / jnp.sum(jnp.abs(early - state.layers[-1].bias))
        )
    assert ratios["off"] < 0.75  # a year of PCM drift shrinks conductances by ~half
    assert abs(ratios["on"] - 1.0) < 0.15


def test_the_calibration_row_is_one_more_row_of_the_batch():
    # the drift-compensation read is computed as its own block; it must be exactly the
    # all-ones row appended to the batch: same read, same converters, output noise row `batch`
    from analogsim._chip.tile import analog_mvm

    spec = A.HardwareSpec(tile_rows=3, tile_cols=4, output_noise=0.3)  # several tiles
    chip, state = tiny_chip(spec)
    layer = chip.layers[0]
    g = A.read_conductances(spec, layer, state.layers[0], 3600.0, key=jax.random.key(1))
    x = tiny_inputs(batch=7) - 0.5
    ones = jnp.ones((1, x.shape[1]))
    key = jax.random.key(2)
    joined = analog_mvm(spec, layer, g, x, key=key, calibration=True)
    appended = analog_mvm(spec, layer, g, jnp.concatenate([x, ones]), key=key)
    assert joined.shape == (8, 6)
    np.testing.assert_allclose(joined, appended, atol=1e-6)
    # the noise is on (so the comparison says something), on the calibration row too
    quiet = analog_mvm(spec, layer, g, x, key=None, calibration=True)
    assert float(jnp.min(jnp.max(jnp.abs(joined - quiet), axis=1))) > 1e-3


def test_zero_variation_makes_chips_identical_up_to_noise():
    spec = A.HardwareSpec(variation=0.0)
    a, _ = tiny_chip(spec, index=0)
    b, _ = tiny_chip(spec, index=1)
    np.testing.assert_array_equal(a.layers[0].devices.read_gain, b.layers[0].devices.read_gain)
    np.testing.assert_array_equal(a.layers[0].periphery.adc_gain, b.layers[0].periphery.adc_gain)
    np.testing.assert_array_equal(a.layers[0].devices.drift_z, b.layers[0].devices.drift_z)
    assert not np.any(a.layers[0].devices.stuck_on | a.layers[0].devices.stuck_off)


def test_differential_mapping_round_trip():
    spec = A.HardwareSpec()
    w = jax.random.normal(jax.random.key(0), (7, 5))
    scale = A._chip.mapping.weight_scale(spec, w)
    g = A._chip.mapping.weights_to_conductances(spec, w, scale)
    assert np.all(g >= 0) and np.all(g <= 25.0)
    assert np.all((g[0] == 0) | (g[1] == 0))  # one device of each pair carries the weight
    np.testing.assert_allclose((g[0] - g[1]) / 25.0 * scale, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n, _ in dm.list_devices()])
@pytest.mark.parametrize("t", [1.0, 25.0, 1e6])
def test_read_conductance_has_finite_gradients(name, t):
    # In-situ training differentiates through reads; a NaN slope (e.g. sqrt at 0) silently
    # stalls learning because NaN pulse counts fire nothing.
    device = dm.get_device(name)
    identity = device.draw_identity((64,), key=jax.random.key(0))
    state = device.program(
        identity, jnp.linspace(0.0, 0.9, 64) * device.g_max, key=jax.random.key(1)
    )

    def total(g):
        s = type(state)(g=g, relaxation_z=state.relaxation_z, g_target=state.g_target)
        return device.conductance(identity, s, t, key=jax.random.key(2)).sum()

    assert np.all(np.isfinite(jax.grad(total)(state.g)))
