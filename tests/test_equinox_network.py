"""The built-in mlp and cnn as equinox models (`equinox_network`): digitally the built-in
forward; on a chip, through `to_analog`, the built-in signal path bit for bit once the devices
and read keys are the built-in chip's, and by default (devices keyed by weight path) another
chip drawn from the same distribution."""

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quax

import analogsim as A
from analogsim._model.convert import analog_weights, path_id
from analogsim._nn.equinox_network import equinox_network
from device_models import fold_in

NETS = {"mlp": A.mlp(), "cnn": A.cnn()}
T = 3600.0  # an hour after programming: PCM drift, read noise and output noise all act
READ = jax.random.key(2)


@functools.cache
def net_params(name):
    """He-normal weights and nonzero biases (init_params' zero biases would hide a bias
    applied twice or not at all)."""
    net = NETS[name]
    params = A.init_params(net, key=jax.random.key(0))
    return [
        {"w": p["w"], "b": 0.1 * jax.random.normal(jax.random.key(10 + i), p["b"].shape)}
        for i, p in enumerate(params)
    ]


def digits(name, n=6):
    x = A.load_digits().for_network(NETS[name]).x_test[:n]
    return jnp.asarray(x)


@eqx.filter_jit
def built_in_chip(spec, net, params, key):
    chip = A.make_chip(spec, net.shapes, key=A.stream(key, "identity"))
    return chip, A.program_chip(spec, chip, params, key=A.stream(key, "program"))


built_in_forward = eqx.filter_jit(A.apply_analog)


@eqx.filter_jit
def read_with_keys(model, x, keys):
    """`analog_call`'s batch call (no `in_axes`) with weight l read with `keys[l]`."""
    for index, layer in enumerate(model.layers):
        bound = dataclasses.replace(layer.weight, t=jnp.float32(T), key=keys[index])
        model = eqx.tree_at(lambda m, i=index: m.layers[i].weight, model, bound)
    return quax.quaxify(model)(x)


@pytest.mark.parametrize("name", NETS)
def test_the_equinox_network_computes_the_built_in_forward(name):
    net, params = NETS[name], net_params(name)
    x = digits(name)
    got = equinox_network(net, params)(x)
    np.testing.assert_allclose(got, A.apply_digital(net, params, x), rtol=1e-5, atol=1e-6)


# the cnn's case takes 15 s: it runs outside CI, the mlp's inside
@pytest.mark.parametrize("name", ["mlp", pytest.param("cnn", marks=pytest.mark.slow)])
def test_on_the_built_in_chip_and_read_keys_it_is_apply_analog_bit_for_bit(name):
    """to_analog holds each weight as the built-in matrix, row for row; given the built-in
    chip's devices and programming, and layer l's read key fold_in(key, l), the converted
    model's products are the built-in signal path's, bit for bit."""
    net, params = NETS[name], net_params(name)
    spec = A.spec_for("pcm")
    x = digits(name)
    chip_key = A.chip_key(A.root_key(0), 3)
    chip, state = built_in_chip(spec, net, params, chip_key)
    model = A.to_analog(equinox_network(net, params), spec, key=chip_key, method="published")
    weights = analog_weights(model)
    assert [w.path for w in weights] == [f".layers[{i}].weight" for i in range(len(net.layers))]
    for index, w in enumerate(weights):
        # held as the built-in matrix (its column scales too); its bias stays in the layer
        assert w.identity.devices.g_max.shape[1:] == net.shapes[index]
        np.testing.assert_array_equal(w.state.scale, state.layers[index].scale)
        np.testing.assert_array_equal(w.state.bias, 0.0)
        layer_state = eqx.tree_at(lambda s: s.bias, state.layers[index], w.state.bias)
        model = eqx.tree_at(
            lambda m, i=index: (m.layers[i].weight.identity, m.layers[i].weight.state),
            model,
            (chip.layers[index], layer_state),
        )
    # analog_call is this call with the keys by path ...
    by_path = [fold_in(READ, path_id(w.path)) for w in weights]
    np.testing.assert_array_equal(
        A.analog_call(model, x, t=T, key=READ), read_with_keys(model, x, by_path)
    )
    # ... and with the built-in's keys by layer index it is the built-in forward
    by_layer = [fold_in(READ, index) for index in range(len(weights))]
    got = read_with_keys(model, x, by_layer)
    want = built_in_forward(spec, net, chip, state, x, t=T, key=READ)
    np.testing.assert_array_equal(got, want)
    # not trivially: the chip is far from digital at this hour
    assert float(jnp.max(jnp.abs(want - A.apply_digital(net, params, x)))) > 0.05


def test_its_own_chip_is_another_draw_of_the_same_distribution():
    """Plain to_analog with a chip key draws other devices than the built-in chip of that key
    (keys by weight path, not layer index), yet over 16 chips the two paths are off the
    digital outputs by the same amount on average, within 3 standard errors of the chip-to-chip
    spread (about 18% of the mean per chip, so the means agree to about 20%)."""
    net, params = NETS["mlp"], net_params("mlp")
    spec = A.spec_for("pcm")
    x = digits("mlp")
    model = equinox_network(net, params)
    digital = A.apply_digital(net, params, x)
    built_in, own = [], []
    for index in range(16):
        chip_key = A.chip_key(A.root_key(1), index)
        chip, state = built_in_chip(spec, net, params, chip_key)
        analog = A.to_analog(model, spec, key=chip_key, method="published")
        if index == 0:
            for layer, w in zip(chip.layers, analog_weights(analog), strict=True):
                assert not np.allclose(layer.devices.g_max, w.identity.devices.g_max)
        want = built_in_forward(spec, net, chip, state, x, t=T, key=READ)
        got = A.analog_call(analog, x, t=T, key=READ)
        built_in.append(float(jnp.mean(jnp.abs(want - digital))))
        own.append(float(jnp.mean(jnp.abs(got - digital))))
    built_in, own = np.array(built_in), np.array(own)
    assert built_in.min() > 0.01 and own.min() > 0.01  # both chips are really analog
    spread = np.sqrt((built_in.var(ddof=1) + own.var(ddof=1)) / len(own))
    assert abs(built_in.mean() - own.mean()) < 3 * spread
