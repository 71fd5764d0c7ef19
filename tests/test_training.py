"""Learning on a chip: in-situ training, pulsed updates, hardware-aware training."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr
from helpers import TINY_NET, tiny_params

import analogsim as A
from analogsim._chip.presets import spec_for
from analogsim._chip.update import nominal_pulse_step, pulse_counts
from analogsim._cli.main import main
from analogsim._learn.in_situ import (
    check_in_situ_spec,
    chip_gradients,
    in_situ_step,
    opt_init_tree,
    step_output_noise,
    step_rounding_draws,
)
from analogsim._learn.in_situ_fleet import TrainingError, in_situ_epoch, init_fleet
from analogsim._learn.train import train, train_in_situ
from analogsim._nn.networks import matmul_rows


def test_stochastic_rounding_is_unbiased():
    x = jnp.full((200_000,), 2.3)
    n = pulse_counts(x, jnp.float32(1.0), key=jax.random.key(7), max_pulses=31)
    assert set(np.unique(np.asarray(n))) == {2, 3}
    sigma = np.sqrt(0.3 * 0.7 / x.size)
    assert abs(float(n.mean()) - 2.3) < 5 * sigma
    capped = pulse_counts(
        jnp.array([100.0, -100.0]), jnp.float32(1.0), key=jax.random.key(0), max_pulses=31
    )
    np.testing.assert_array_equal(capped, [31, -31])


def test_pulsed_update_moves_each_device_its_own_way():
    spec = spec_for("gokmen_vlasov")
    chip = A.make_chip(spec, [(50, 40)], key=jax.random.key(0))
    layer = chip.layers[0]
    g = jnp.full((2, 50, 40), 12.5)
    step = nominal_pulse_step(spec.pulse_response)
    new, n, refreshed = A._chip.update.pulsed_update(
        spec, layer, g, jnp.full((50, 40), 5 * step), key=jax.random.key(1)
    )
    assert int(n) == 5 * 50 * 40 and int(refreshed) == 0  # 5 pulses asked of every device
    moved = np.asarray(new - g)
    np.testing.assert_array_equal(moved[1], 0.0)  # G- is the fixed reference
    assert moved[0].mean() > 0 and moved[0].std() / moved[0].mean() > 0.2  # 30% d2d, 30% c2c


@pytest.fixture(scope="module")
def digits():
    return A.load_digits()


def test_in_situ_on_gokmen_vlasov_learns_and_each_chip_ends_its_own(digits):
    out = train_in_situ(spec_for("gokmen_vlasov"), A.mlp(), digits, chips=2, epochs=3)
    acc = out["test_accuracy"]
    assert np.all(acc >= 0.90), acc
    loss = out["loss"]
    assert np.all(loss[:, -1] < 0.5 * loss[:, 0])
    g0, g1 = (np.asarray(out["state"].layers[0].devices.g[i, 0]) for i in range(2))
    # same start, same data, same order: the chips' own devices make them differ
    assert np.mean(np.abs(g0 - g1)) > 0.1


def test_in_situ_on_idealized_matches_digital_training(digits):
    net = A.mlp()
    digital = train(spec_for("pcm"), net, digits, mode="digital", chips=1, epochs=60)
    ds = train(spec_for("idealized"), net, digits, mode="in-situ", chips=1, epochs=5)
    gap = float(digital["test_accuracy"][0] - ds["test_accuracy"][0])
    print(
        f"digital {float(digital['test_accuracy'][0]):.4f}, in situ "
        f"{float(ds['test_accuracy'][0]):.4f}"
    )
    assert gap <= 0.02


def test_nan_stops_training_naming_layer_and_step(digits):
    with pytest.raises(TrainingError, match=r"layer \d+.* at step \d+"):
        train_in_situ(
            spec_for("gokmen_vlasov"),
            A.mlp((64, 10)),
            digits,
            chips=1,
            epochs=2,
            learning_rate=1e38,
        )


@pytest.mark.parametrize("layer", [0, 1])
def test_a_non_finite_conductance_fails_its_own_layer(layer, key):
    """A NaN or infinite device fails its own layer in the step that reads it, even where
    its row's input is 0 and the ADC clips an infinite current to full scale."""
    spec, net = spec_for("gokmen_vlasov"), A.mlp((8, 6, 3))
    params = A.init_params(net, key=key)
    chip, state = A.init_in_situ(spec, net, params, key=key)
    x = jnp.zeros((4, 8)).at[:, 1:].set(0.5)  # row 0 of layer 0 sees input 0
    opt, y = optax.sgd(0.1), jnp.zeros(4, jnp.int32)
    run = eqx.filter_jit(in_situ_step)  # compiled: 16 s to 9 s
    layer_ok = lambda s: run(spec, net, chip, s, opt, opt.init(opt_init_tree(s)), x, y, key=key)[-1]
    for bad in (jnp.nan, jnp.inf):
        g = state.layers[layer].devices.g.at[0, 0, 0].set(bad)
        broken = eqx.tree_at(lambda s: s.layers[layer].devices.g, state, g)
        assert not bool(layer_ok(broken)[layer]), (layer, bad)
    assert bool(jnp.all(layer_ok(state)))


def test_output_noise_drawn_ahead_is_the_noise_a_step_draws(key):
    """In-situ epochs draw each block's output noise before its steps (`step_output_noise`);
    a step given those draws must compute exactly what it computes drawing them itself."""
    # a convolution's matrix multiply takes one input vector per example and position
    assert matmul_rows(A.cnn(), 16) == [16 * 64, 16 * 16, 16]
    spec, net = spec_for("gokmen_vlasov", tile_rows=5, tile_cols=4), A.mlp((8, 6, 3))
    params = A.init_params(net, key=key)
    chip, state = A.init_in_situ(spec, net, params, key=key)
    x = jax.random.uniform(jax.random.key(1), (3, *net.input_shape))
    y = jnp.array([0, 2, 1])
    grads = eqx.filter_jit(chip_gradients)  # compiled: faster than op by op here
    drawn = step_output_noise(spec, net, chip, 3, key=key)
    own = grads(spec, net, chip, state, x, y, key=key)
    ahead = grads(spec, net, chip, state, x, y, key=key, output_noise=drawn)
    for a, b in zip(jax.tree.leaves(own), jax.tree.leaves(ahead), strict=True):
        np.testing.assert_array_equal(a, b)
    other = step_output_noise(spec, net, chip, 3, key=jax.random.key(7))
    moved = grads(spec, net, chip, state, x, y, key=key, output_noise=other)
    assert float(jnp.abs(moved[1] - own[1])) > 0  # the draws are used


def test_rounding_drawn_ahead_is_the_rounding_a_step_draws(key):
    """In-situ epochs also draw the pulse counts' rounding uniforms ahead
    (`step_rounding_draws`); a step given them must fire exactly the pulses it fires drawing
    them itself, and other draws must fire others."""
    spec, net = spec_for("gokmen_vlasov"), A.mlp((8, 6, 3))
    params = A.init_params(net, key=key)
    chip, state = A.init_in_situ(spec, net, params, key=key)
    x = jax.random.uniform(jax.random.key(1), (3, *net.input_shape))
    y, opt = jnp.array([0, 2, 1]), optax.sgd(0.5)
    run = eqx.filter_jit(in_situ_step)
    step = lambda **kw: run(spec, net, chip, state, opt, opt.init(opt_init_tree(state)), x, y, **kw)
    own = step(key=key)
    ahead = step(key=key, rounding=step_rounding_draws(spec, chip, key=key))
    for a, b in zip(jax.tree.leaves(own), jax.tree.leaves(ahead), strict=True):
        np.testing.assert_array_equal(a, b)
    other = step(key=key, rounding=step_rounding_draws(spec, chip, key=jax.random.key(7)))
    moved = other[0].layers[0].devices.g - own[0].layers[0].devices.g
    assert float(jnp.max(jnp.abs(moved))) > 0  # the draws are used
    mixed = spec_for("gokmen_vlasov", pulse_update="mixed-precision")
    assert step_rounding_draws(mixed, chip, key=key) is None  # it rounds no counts


def test_digital_mode_replicas_lose_nothing(digits):
    ds = train(spec_for("pcm"), A.mlp(), digits, mode="digital", chips=3, epochs=5)
    acc = ds["test_accuracy"].values
    assert acc[0] == acc[1] == acc[2]  # bit-for-bit copies


def test_hardware_aware_training_runs_through_chips(digits):
    ds = train(spec_for("pcm"), A.mlp(), digits, mode="hardware-aware", chips=2, epochs=3)
    assert ds["loss"].dims == ("chip", "epoch")
    assert np.all(ds["test_accuracy"].values > 0.8)


def test_bad_training_input(digits):
    with pytest.raises(A.ParameterError, match="cannot be trained in situ"):
        train(spec_for("pcm"), A.mlp(), digits, mode="in-situ")
    with pytest.raises(A.ParameterError, match="mode must be one of"):
        train(spec_for("pcm"), A.mlp(), digits, mode="magic")
    with pytest.raises(A.ParameterError, match="learning_rate"):
        train_in_situ(spec_for("idealized"), A.mlp(), digits, learning_rate=0.0)
    with pytest.raises(A.ParameterError, match="epochs"):
        train_in_situ(spec_for("idealized"), A.mlp(), digits, epochs=0)
    with pytest.raises(A.ParameterError, match="dw_min"):
        A.HardwareSpec(
            pulse_response=A.ParameterError and __import__("device_models").ConstantStep(dw_min=0.0)
        )
    with pytest.raises(A.ParameterError, match="unknown device preset"):
        spec_for("nope")


def test_train_command(tmp_path, capsys):
    argv = ["train", "--chips", "2", "--epochs", "1", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    ds = xr.load_dataset(tmp_path / "train.nc")
    assert ds["test_accuracy"].dims == ("chip",)
    assert ds["loss"].dims == ("chip", "epoch")
    assert ds.attrs["device"] == "gokmen_vlasov" and ds.attrs["training_mode"] == "in-situ"
    assert (tmp_path / "train.png").exists()
    assert "mean test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--device", "pcm"], "cannot be trained in situ"),
        (["train", "--lr", "0"], "--lr"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--mode", "analog"], "--mode"),
    ],
)
def test_bad_train_command_lines(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_fleet_epoch_does_not_copy_its_drawn_ahead_noise():
    """A fleet epoch draws a block's noise chip by chip and its steps take it step by step;
    XLA must not write the block's draws out once more, transposed (6% of a 16-chip step)."""
    spec = check_in_situ_spec(spec_for("gokmen_vlasov"))
    keys = jax.vmap(lambda i: A.chip_key(A.root_key(0), i))(jnp.arange(4, dtype=jnp.uint32))
    chip, state = init_fleet(spec, TINY_NET, tiny_params(), keys)
    x, y = jnp.zeros((64, 8)), jnp.zeros((64,), jnp.int32)

    def epoch(state):
        rate = jnp.float32(0.1)
        first = jnp.int32(0)
        shuffle = jax.random.key(1)
        return in_situ_epoch(
            spec, TINY_NET, chip, state, x, y, keys, shuffle, first, rate, batch_size=4
        )

    hlo = jax.jit(epoch).lower(state).compile().as_text()
    # 64 examples at batch 4: one block of 16 steps, whose rounding draws for layer 0 (8x6)
    # are made as (4 chips, 16 steps, 8, 6)
    assert re.search(r"= f32\[4,16,8,6\]", hlo)
    assert not re.search(r"%\S*copy\S* = f32\[(16,4|4,16),", hlo)
