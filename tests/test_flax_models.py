"""flax nnx models on a chip (issue 24): `to_analog` takes an nnx module as it takes an
equinox one, its `Linear` and `Conv` kernels (channels-last, any stride, padding, dilation
and groups) on crossbars, and `analog_call` runs flax's own `__call__`."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import analogsim as A
from analogsim import analog_call, to_analog
from analogsim._model.convert import analog_weights, path_id
from device_models import fold_in

nnx = pytest.importorskip("flax.nnx")

X = jax.random.normal(jax.random.key(1), (6, 8))
CHIP = A.chip_key(A.root_key(0), 3)
READ = jax.random.key(2)
EXACT = A.noiseless(A.spec_for("ideal", adc_bits=None, dac_bits=None, variation=0.0))


@pytest.fixture(autouse=True)
def _no_deprecated_flax_api():
    # analogsim must not use flax APIs deprecated in 0.12 (Variable.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        yield


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(8, 16, rngs=rngs), nnx.Linear(16, 4, rngs=rngs)])

    def __call__(self, x):
        return self.layers[1](jax.nn.relu(self.layers[0](x)))


class CNN(nnx.Module):
    """Channels-last: (batch, 8, 8, 2) -> (batch, 10); about 1.7k weights."""

    def __init__(self, rngs):
        self.conv1 = nnx.Conv(2, 8, (3, 3), strides=2, padding=1, rngs=rngs)
        self.conv2 = nnx.Conv(8, 8, (3, 3), padding="SAME", feature_group_count=4, rngs=rngs)
        self.head = nnx.Linear(4 * 4 * 8, 10, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.conv1(x))
        h = jax.nn.relu(self.conv2(h))
        return self.head(h.reshape(*h.shape[:-3], -1))


class Net(nnx.Module):
    """Linear, BatchNorm, Dropout, Linear: state that training mode mutates."""

    def __init__(self, rngs):
        self.l1 = nnx.Linear(8, 16, rngs=rngs)
        self.bn = nnx.BatchNorm(16, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.l2 = nnx.Linear(16, 4, rngs=rngs)

    def __call__(self, x):
        return self.l2(self.drop(jax.nn.relu(self.bn(self.l1(x)))))


def test_an_nnx_mlp_on_an_exact_chip_computes_the_digital_model():
    model = MLP(nnx.Rngs(0))
    chip = to_analog(model, EXACT, key=CHIP)
    weights = analog_weights(chip)
    assert [w.path for w in weights] == [".layers[0].kernel", ".layers[1].kernel"]
    # nnx's kernel is (in, out), used as x @ kernel: held as it is, contracted over axis 0
    assert [w.rows_axis for w in weights] == [0, 0]
    assert weights[0].identity.devices.g_max.shape == (2, 8, 16)
    assert isinstance(chip, MLP) and isinstance(chip.layers[0].kernel, nnx.Param)
    want = model(X)
    np.testing.assert_allclose(analog_call(chip, X, t=1.0, key=READ), want, rtol=1e-4, atol=1e-5)
    one_by_one = analog_call(chip, X, t=1.0, key=READ, in_axes=0)
    np.testing.assert_allclose(one_by_one, want, rtol=1e-4, atol=1e-5)


def test_an_nnx_linear_runs_analog_linear_bit_for_bit():
    spec = A.spec_for("pcm")
    layer = nnx.Linear(8, 5, rngs=nnx.Rngs(3))
    chip = to_analog(layer, spec, key=CHIP)
    [w] = analog_weights(chip)
    assert w.path == ".kernel" and w.weight_shape == (8, 5)
    got = analog_call(chip, X, t=3600.0, key=READ)
    want = A.analog_linear(
        spec, w.identity, w.state, X, t=3600.0, key=fold_in(READ, path_id(w.path))
    )
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want + layer.bias[...]))


@pytest.mark.parametrize(
    "conv,x_shape",
    [
        (dict(in_features=4, out_features=6, kernel_size=(3, 3), strides=2, padding=1), (9, 8, 4)),
        (
            dict(
                in_features=4,
                out_features=6,
                kernel_size=(3, 2),
                padding=((1, 0), (0, 1)),
                kernel_dilation=(1, 2),
                feature_group_count=2,
            ),
            (7, 6, 4),
        ),
        (dict(in_features=3, out_features=5, kernel_size=(4,), strides=3, padding="SAME"), (11, 3)),
        (dict(in_features=2, out_features=4, kernel_size=(2, 3, 2), padding="VALID"), (5, 6, 4, 2)),
        (
            dict(
                in_features=4,
                out_features=8,
                kernel_size=(3, 3),
                padding="CIRCULAR",
                feature_group_count=4,
            ),
            (6, 6, 4),
        ),
        (dict(in_features=3, out_features=4, kernel_size=(3,), padding="CAUSAL"), (9, 3)),
    ],
)
def test_nnx_convolutions_run_as_im2col_products_on_an_exact_chip(conv, x_shape):
    """flax's channels-last kernel (*window, in / groups, out), any stride, padding,
    dilation and feature groups, 1-, 2- and 3-D: held as ((in / groups) x window, out) in the
    patches' channel-major order, it computes the digital convolution."""
    layer = nnx.Conv(**conv, rngs=nnx.Rngs(6))
    x = jax.random.normal(jax.random.key(7), (3, *x_shape))
    chip = to_analog(layer, EXACT, key=CHIP)
    [w] = analog_weights(chip)
    n = len(w.weight_shape)
    assert w.kernel_spec == (n - 1, n - 2, *range(n - 2))
    assert w.groups == conv.get("feature_group_count", 1)
    rows = w.weight_shape[-2] * int(np.prod(w.weight_shape[:-2]))
    assert w.identity.devices.g_max.shape == (2, rows, w.weight_shape[-1])
    # what the devices hold comes back in flax's own layout
    np.testing.assert_allclose(w.held(), layer.kernel[...], rtol=1e-5, atol=1e-6)
    want = layer(x)
    for in_axes in (None, 0):  # flax's Conv takes a batch or one example
        got = analog_call(chip, x, t=1.0, key=READ, in_axes=in_axes)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
        assert float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want)) < 1e-5


def test_an_nnx_cnn_is_exact_on_an_ideal_chip_and_close_on_a_noisy_one():
    model = CNN(nnx.Rngs(8))
    x = jax.random.normal(jax.random.key(9), (4, 8, 8, 2))
    assert sum(a.size for a in jax.tree.leaves(nnx.state(model, nnx.Param))) < 3000
    want = model(x)
    exact = to_analog(model, EXACT, key=CHIP)
    assert [w.path for w in analog_weights(exact)] == [
        ".conv1.kernel",
        ".conv2.kernel",
        ".head.kernel",
    ]
    np.testing.assert_allclose(analog_call(exact, x, t=1.0, key=READ), want, rtol=1e-4, atol=1e-5)
    got = analog_call(to_analog(model, A.spec_for("pcm"), key=CHIP), x, t=1.0, key=READ)
    error = float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want))
    assert 0.0 < error < 0.3


def test_the_same_chip_key_gives_the_same_chip_and_another_key_another():
    spec = A.spec_for("rram")
    model = CNN(nnx.Rngs(8))
    x = jax.random.normal(jax.random.key(9), (2, 8, 8, 2))
    a, b = (to_analog(model, spec, key=CHIP) for _ in range(2))
    for wa, wb in zip(analog_weights(a), analog_weights(b), strict=True):
        for u, v in zip(
            jax.tree.leaves((wa.identity, wa.state)),
            jax.tree.leaves((wb.identity, wb.state)),
            strict=True,
        ):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(
        analog_call(a, x, t=60.0, key=READ), analog_call(b, x, t=60.0, key=READ)
    )
    other = to_analog(model, spec, key=A.chip_key(A.root_key(0), 4))
    assert not np.allclose(
        analog_call(other, x, t=60.0, key=READ), analog_call(a, x, t=60.0, key=READ)
    )


def test_the_chip_is_a_copy_that_shares_no_state_with_the_model():
    model = Net(nnx.Rngs(0))
    chip = to_analog(model, EXACT, key=CHIP)
    assert isinstance(model.l1.kernel[...], jax.Array)
    assert chip.bn.mean is not model.bn.mean and chip.drop.rngs.count is not model.drop.rngs.count


@pytest.mark.slow  # 15 s; fleets by vmap of equinox models stay in CI
def test_fleets_by_vmap_over_chip_keys_match_chip_by_chip_under_jit():
    spec = A.spec_for("pcm")
    model = CNN(nnx.Rngs(8))
    x = jax.random.normal(jax.random.key(9), (2, 8, 8, 2))
    keys = jax.vmap(lambda i: A.chip_key(A.root_key(0), i))(jnp.arange(3))

    @jax.jit
    def run(key):
        return analog_call(to_analog(model, spec, key=key), x, t=86400.0, key=READ)

    fleet = jax.vmap(run)(keys)
    assert fleet.shape == (3, 2, 10)  # chips, examples, outputs
    np.testing.assert_allclose(fleet[1], run(keys[1]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(fleet[0], fleet[1])


def test_a_converted_module_passes_through_jax_jit_and_nnx_jit():
    model = MLP(nnx.Rngs(0))
    chip = to_analog(model, EXACT, key=CHIP)
    for jit in (jax.jit, nnx.jit):
        got = jit(lambda c, x: analog_call(c, x, t=1.0, key=READ))(chip, X)
        np.testing.assert_allclose(got, model(X), rtol=1e-4, atol=1e-5)


def test_gradients_wrt_the_input_and_the_weights():
    """The input gradient is the digital one but for each input row's largest |x|, which
    gets half of it, with equinox models too: under abs_max noise management the DAC's
    `quantize` clips x / s at exactly +-1, where jnp.clip's gradient is 0.5. A known defect,
    left for the in-situ training issue since fixing it moves every training figure; this
    test pins it so that the fix updates it."""
    layer = nnx.Linear(8, 5, rngs=nnx.Rngs(3))
    chip = to_analog(layer, EXACT, key=CHIP)
    g = jax.grad(lambda x: jnp.sum(analog_call(chip, x, t=1.0, key=READ) ** 2))(X)
    want = jax.grad(lambda x: jnp.sum(layer(x) ** 2))(X)
    peak = jnp.abs(X) == jnp.max(jnp.abs(X), axis=-1, keepdims=True)
    np.testing.assert_allclose(
        jnp.where(peak, 0.0, g), jnp.where(peak, 0.0, want), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(g[peak], 0.5 * want[peak], rtol=1e-4, atol=1e-5)

    model = CNN(nnx.Rngs(8))
    x = jax.random.normal(jax.random.key(9), (2, 8, 8, 2))
    chip = to_analog(model, EXACT, key=CHIP)
    g = jax.grad(lambda x: jnp.sum(analog_call(chip, x, t=1.0, key=READ) ** 2))(x)
    want = jax.grad(lambda x: jnp.sum(model(x) ** 2))(x)
    assert np.all(np.isfinite(g))
    cosine = float(jnp.vdot(g, want) / (jnp.linalg.norm(g) * jnp.linalg.norm(want)))
    assert cosine > 0.9

    # hardware-aware training: the loss of the model as a PCM chip computes it
    def loss(m):
        chip = to_analog(m, A.spec_for("pcm"), key=CHIP, method="published")
        return jnp.sum(analog_call(chip, x, t=1.0, key=READ) ** 2)

    grads = nnx.grad(loss)(model)
    leaves = jax.tree.leaves(grads)
    assert leaves and all(np.all(np.isfinite(g)) for g in leaves)
    assert float(jnp.abs(grads["conv1"]["kernel"][...]).sum()) > 0
    assert float(jnp.abs(grads["head"]["kernel"][...]).sum()) > 0


def test_eval_mode_batchnorm_and_dropout_run_digital_around_the_chip():
    model = Net(nnx.Rngs(0))
    model.eval()
    chip = to_analog(model, EXACT, key=CHIP)
    assert [w.path for w in analog_weights(chip)] == [".l1.kernel", ".l2.kernel"]
    np.testing.assert_allclose(
        analog_call(chip, X, t=1.0, key=READ), model(X), rtol=1e-4, atol=1e-5
    )


def test_training_mode_state_comes_back_when_the_function_returns_it():
    """BatchNorm's statistics and Dropout's RNG count are mutated inside analog_call on a copy
    of the model; a function that returns them gets them, as a digital step computes them."""
    model = Net(nnx.Rngs(0))
    model.train()
    chip = to_analog(model, EXACT, key=CHIP)
    mutable = nnx.Any(nnx.BatchStat, nnx.RngState)

    def step(m, x):
        return m(x), nnx.state(m, mutable)

    y, new = analog_call(step, chip, X, t=1.0, key=READ)
    digital = nnx.clone(model)
    np.testing.assert_allclose(y, digital(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new["bn"]["mean"][...], digital.bn.mean[...], rtol=1e-5, atol=1e-6)
    assert int(new["drop"]["rngs"]["count"][...]) == 1
    assert int(chip.drop.rngs.count[...]) == 0  # the chip itself is not mutated in place
    nnx.update(chip, new)
    assert int(chip.drop.rngs.count[...]) == 1


def test_the_split_state_route_converts_kernels_chosen_by_path():
    """nnx.split's State converts too (a Variable is named without `.value`), run through
    nnx.merge inside the function; its matrices are contracted over axis 0, as nnx.Linear
    uses them (a State no longer knows which kernels are convolutions)."""
    model = MLP(nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    analog = to_analog(state, EXACT, key=CHIP, where=lambda path, a: path.endswith("['kernel']"))
    assert [w.path for w in analog_weights(analog)] == [
        "['layers'][0]['kernel']",
        "['layers'][1]['kernel']",
    ]
    got = analog_call(lambda s, x: nnx.merge(graphdef, s)(x), analog, X, t=1.0, key=READ)
    np.testing.assert_allclose(got, model(X), rtol=1e-4, atol=1e-5)


def test_where_sees_nnx_paths_without_value_and_keeps_the_rest_digital():
    model = CNN(nnx.Rngs(8))
    seen = []
    chip = to_analog(
        model, EXACT, key=CHIP, where=lambda p, a: seen.append(p) or p != ".conv2.kernel"
    )
    assert seen == [".conv1.kernel", ".conv2.kernel", ".head.kernel"]  # biases are not layers'
    assert [w.path for w in analog_weights(chip)] == [".conv1.kernel", ".head.kernel"]
    assert isinstance(chip.conv2.kernel[...], jax.Array)


def test_bad_flax_models_and_calls_name_what_is_wrong():
    class Legacy(nnx.Module, pytree=False):
        def __init__(self):
            self.l = nnx.Linear(3, 2, rngs=nnx.Rngs(0))

    with pytest.raises(A.ParameterError, match="not a pytree"):
        to_analog(Legacy(), EXACT, key=CHIP)

    masked = nnx.Conv(2, 3, (3, 3), mask=jnp.ones((3, 3, 2, 3)), rngs=nnx.Rngs(0))
    with pytest.raises(A.ParameterError, match="an operation other than a matrix product"):
        analog_call(to_analog(masked, EXACT, key=CHIP), jnp.ones((1, 5, 5, 2)), t=1.0, key=READ)

    # the kernel used with another layout than flax's (here: OIHW dimension numbers)
    layer = to_analog(nnx.Conv(2, 3, (3, 3), rngs=nnx.Rngs(0)), EXACT, key=CHIP)
    with pytest.raises(A.ParameterError, match="kernel layout"):
        analog_call(
            lambda c, x: lax.conv_general_dilated(x, c.kernel[...], (1, 1), "SAME"),
            layer,
            jnp.ones((1, 3, 5, 5)),
            t=1.0,
            key=READ,
        )
