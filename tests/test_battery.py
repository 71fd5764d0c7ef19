"""The battery every device preset and periphery option must pass (STYLE.md)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY_NET, tiny_chip, tiny_inputs, tiny_params

import analogsim as A
import device_models as dm

# Tiles of 4 x 4 split the tiny 8-6-3 network over several tiles, exercising digital sums.
OPTIONS = {
    "amplitude": dict(tile_rows=4, tile_cols=4),
    "pwm-layer": dict(tile_rows=4, tile_cols=4, input_encoding="pwm", weight_scale="layer"),
    "ideal-converters": dict(dac_bits=None, adc_bits=None, drift_compensation=False),
    "no-noise-management": dict(noise_management="none", adc_bits=4, dac_bits=3),
}
# Every preset and every option at least once (pairs, not the full product: compiles are slow).
CASES = [
    ("pcm", "amplitude"),
    ("rram", "amplitude"),
    ("ideal", "amplitude"),
    ("rram", "pwm-layer"),
    ("ideal", "ideal-converters"),
    ("pcm", "no-noise-management"),
]


def make_spec(preset: str, option: str) -> A.HardwareSpec:
    return A.HardwareSpec(device=dm.get_device(preset), **OPTIONS[option])


def forward(spec, chip, state, x, t, key):
    return A.apply_analog(spec, TINY_NET, chip, state, x, t=t, key=key)


@pytest.mark.parametrize("preset,option", CASES)
def test_jit_equals_eager(preset, option, key):
    spec = make_spec(preset, option)
    chip, state = tiny_chip(spec)
    x = tiny_inputs()
    eager = forward(spec, chip, state, x, 3600.0, key)
    jitted = eqx.filter_jit(forward)(spec, chip, state, x, 3600.0, key)
    np.testing.assert_allclose(eager, jitted, rtol=1e-4, atol=1e-4)
    assert np.all(np.isfinite(eager))


@pytest.mark.parametrize("preset,option", CASES)
def test_vmap_over_chips_equals_loop(preset, option):
    spec = make_spec(preset, option)
    params = tiny_params()
    x = tiny_inputs()
    root = A.root_key(3)

    def one(i):
        ck = A.chip_key(root, i)
        chip = A.make_chip(spec, TINY_NET.shapes, key=A.stream(ck, "identity"))
        state = A.program_chip(spec, chip, params, key=A.stream(ck, "program"))
        return forward(spec, chip, state, x, 86400.0, A.stream(ck, "read"))

    fleet = jax.jit(jax.vmap(one))(jnp.arange(3))
    jone = jax.jit(one)
    for i in range(3):
        np.testing.assert_allclose(fleet[i], jone(i), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("preset", sorted(dm.PRESETS))
def test_same_key_same_chip(preset):
    spec = make_spec(preset, "amplitude")
    a = A.make_chip(spec, TINY_NET.shapes, key=A.chip_key(A.root_key(0), 5))
    b = A.make_chip(spec, TINY_NET.shapes, key=A.chip_key(A.root_key(0), 5))
    c = A.make_chip(spec, TINY_NET.shapes, key=A.chip_key(A.root_key(0), 6))
    for la, lb in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(la, lb)
    if preset != "ideal":  # ideal devices are identical by design; only converters differ
        assert not np.array_equal(a.layers[0].devices.read_gain, c.layers[0].devices.read_gain)
    assert not np.array_equal(a.layers[0].periphery.adc_gain, c.layers[0].periphery.adc_gain)


@pytest.mark.parametrize("preset", sorted(dm.PRESETS))
def test_chip_unchanged_by_fleet_size(preset):
    spec = make_spec(preset, "amplitude")
    root = A.root_key(0)
    make = jax.vmap(lambda i: A.make_chip(spec, TINY_NET.shapes, key=A.chip_key(root, i)))
    small, large = make(jnp.arange(2)), make(jnp.arange(7))
    for ls, ll in zip(jax.tree.leaves(small), jax.tree.leaves(large), strict=True):
        np.testing.assert_array_equal(ls, ll[:2])


@pytest.mark.parametrize("preset,option", CASES)
def test_grad_finite_through_analog_forward(preset, option, key):
    spec = make_spec(preset, option)
    chip, state = tiny_chip(spec)
    x = tiny_inputs()

    weights = jax.random.normal(jax.random.key(4), (x.shape[0], 3))

    def loss(state, x):
        return jnp.sum(weights * forward(spec, chip, state, x, 3600.0, key))

    g_state, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(state, x)
    g_cond = g_state.layers[0].devices.g
    assert np.all(np.isfinite(g_cond)) and np.all(np.isfinite(g_x))
    assert np.any(g_cond != 0) and np.any(g_x != 0)


def test_grad_matches_finite_differences():
    """Where the forward is smooth (ideal device, ideal converters) grad equals finite diffs."""
    spec = A.HardwareSpec(
        device=dm.Ideal(),
        dac_bits=None,
        adc_bits=None,
        output_noise=0.0,
        tile_rows=4,
        noise_management="none",
    )
    chip, state = tiny_chip(spec)
    x = tiny_inputs(batch=3) * 0.8 + 0.1  # inside the DAC range: clipping has no derivative
    key = jax.random.key(0)
    f = lambda x: jnp.sum(jnp.sin(forward(spec, chip, state, x, 1.0, key)))
    with jax.enable_x64(False):
        g = jax.grad(f)(x)
    direction = jax.random.normal(jax.random.key(9), x.shape)
    eps = 1e-2
    fd = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.sum(g * direction), fd, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("field", ["variation", "output_noise", "adc_range"])
def test_one_trace_across_a_sweep(field):
    spec = make_spec("pcm", "amplitude")
    chip, state = tiny_chip(spec)
    x = tiny_inputs()

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def run(spec, t):
        c = A.make_chip(spec, TINY_NET.shapes, key=jax.random.key(0))
        s = A.program_chip(spec, c, tiny_params(), key=jax.random.key(1))
        return forward(spec, c, s, x, t, jax.random.key(2))

    outs = []
    for value in [0.0, 0.5, 1.0, 2.0]:
        swept = eqx.tree_at(lambda s: getattr(s, field), spec, jnp.float32(value + 0.1))
        outs.append(run(swept, jnp.float32(3600.0 * (1 + value))))
    assert not np.allclose(outs[0], outs[-1])  # the swept number really reached the program
