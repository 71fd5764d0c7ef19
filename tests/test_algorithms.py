"""In-situ learning algorithms: Tiki-Taka v2, chopped TTv2 and AGAD beside plain pulsed SGD."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import TINY_NET, tiny_params

import analogsim as A
from analogsim._chip.presets import spec_for
from analogsim._cli.main import main
from analogsim._learn.algorithms import algorithm_presets, check_algorithm, get_algorithm
from analogsim._learn.device_update import apply_to_devices, tiki_taka_update
from analogsim._learn.in_situ import check_in_situ_spec, init_in_situ, opt_init_tree
from analogsim._learn.target_fit import soft_bounds_spec, target_weight_error
from analogsim._learn.tiki_taka import tiki_taka_layer
from device_models import ParameterError, SoftBounds


def test_symmetry_point_of_soft_bounds_is_the_closed_form():
    # dw_up (1 - w / w_max) = dw_down (1 - w / w_min) at
    # w = (up - down) / (up / w_max - down / w_min)
    response = SoftBounds(dw_min_dtod=0.05, up_down_dtod=0.2, w_min_dtod=0.2, w_max_dtod=0.2)
    ident = response.draw_identity((500,), key=jax.random.key(3))
    exact = (ident.dw_up - ident.dw_down) / (
        ident.dw_up / ident.w_max - ident.dw_down / ident.w_min
    )
    np.testing.assert_allclose(response.symmetry_point(ident), exact, atol=1e-5)
    assert float(jnp.std(exact)) > 0.05  # the devices' own imbalance moves it


def test_fast_arrays_leave_the_weights_devices_alone():
    spec = check_in_situ_spec(spec_for("reram_es"))
    key = jax.random.key(4)
    plain = A.make_chip(spec, TINY_NET.shapes, key=key)
    both = A.make_chip(spec, TINY_NET.shapes, key=key, fast_arrays=True)
    for a, b in zip(plain.layers, both.layers, strict=True):
        assert b.fast is not None and a.fast is None
        same = eqx.tree_at(lambda x: x.fast, b, None, is_leaf=lambda x: x is None)
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(same), strict=True):
            np.testing.assert_array_equal(u, v)
        assert not np.allclose(b.fast.pulses.dw_up, a.pulses.dw_up)  # its own devices


def _layer(name, device="idealized", **settings):
    spec = check_in_situ_spec(spec_for(device))
    algorithm = get_algorithm(name, **settings)
    chip, state = init_in_situ(
        spec, TINY_NET, tiny_params(), key=jax.random.key(1), algorithm=algorithm
    )
    return spec, algorithm, chip.layers[0], state.layers[0]


# one compiled step per (algorithm, reads): eager dispatch of a step's small ops is slower
_step = eqx.filter_jit(tiki_taka_layer)


def _weights(spec, layer_state):
    lo, hi = A._chip.mapping.conductance_span(spec)
    g = layer_state.devices.g
    return (g[0] - g[1]) * layer_state.scale / (hi - lo)


def test_ttv2_moves_the_weights_through_its_fast_array():
    spec, algorithm, layer, state = _layer("ttv2")
    w0 = _weights(spec, state)
    dw = jnp.full((8, 6), 0.02)
    for i in range(20):
        state, fired = _step(spec, algorithm, layer, state, dw, key=jax.random.key(i), reads=8)
    moved = _weights(spec, state) - w0
    # the weights climbed (SGD would have moved them by 0.4; C takes what A's reads allow)
    assert int(fired) > 0 and float(moved.mean()) > 0.01 and float((moved > 0).mean()) > 0.8
    assert int(state.fast.pointer) == 0 and int(state.fast.sweeps) == 20
    np.testing.assert_array_equal(state.fast.chopper, 1.0)  # ttv2 never chops


def test_c_ttv2_chops_each_row_it_reads():
    spec, algorithm, layer, state = _layer("c-ttv2", chop_prob=1.0)
    state, _ = _step(
        spec, algorithm, layer, state, jnp.zeros((8, 6)), key=jax.random.key(0), reads=3
    )
    np.testing.assert_array_equal(state.fast.chopper, [-1, -1, -1, 1, 1, 1, 1, 1])
    assert int(state.fast.pointer) == 3


def test_agad_writes_nothing_in_its_first_chopper_period():
    spec, algorithm, layer, state = _layer("agad", chop_prob=0.25)  # a period of 4 passes
    g0 = state.devices.g
    dw = jnp.full((8, 6), 0.05)
    for i in range(4):
        state, _ = _step(spec, algorithm, layer, state, dw, key=jax.random.key(i), reads=8)
    np.testing.assert_array_equal(state.devices.g, g0)  # only the fast array moved
    assert not np.allclose(state.fast.devices.g, 0.0)
    np.testing.assert_array_equal(state.fast.chopper, -1.0)  # flipped at the 4th pass


def test_the_optax_link_is_the_training_steps_update():
    spec = check_in_situ_spec(spec_for("reram_es"))
    algorithm = get_algorithm("c-ttv2", chop_prob=0.5)
    chip, state = init_in_situ(
        spec, TINY_NET, tiny_params(), key=jax.random.key(2), algorithm=algorithm
    )
    grads = jax.tree.map(lambda a: 0.3 * jnp.ones_like(a), opt_init_tree(state))
    opt = optax.chain(optax.sgd(0.1), tiki_taka_update(spec, chip, algorithm, batch=4))
    key = jax.random.key(9)

    @jax.jit
    def linked_step(state):
        changes, _ = opt.update(grads, opt.init(opt_init_tree(state)), state, key=key)
        return optax.apply_updates(state, changes)

    @jax.jit
    def direct_step(state):
        updates = jax.tree.map(lambda g: -0.1 * g, grads)
        keys = [jax.random.fold_in(key, i) for i in range(2)]
        return apply_to_devices(
            spec, chip, state, updates, keys=keys, algorithm=algorithm, batch=4
        )[0]

    linked, direct = linked_step(state), direct_step(state)
    for a, b in zip(jax.tree.leaves(linked), jax.tree.leaves(direct), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _small_digits():
    d = A.load_digits()
    return dataclasses.replace(
        d, x_train=d.x_train[:320], y_train=d.y_train[:320], x_test=d.x_test[:100],
        y_test=d.y_test[:100],
    )  # fmt: skip


@pytest.mark.slow  # 20 s; the fleet's vmap carries the fast arrays as it carries the weights
def test_a_chip_learns_the_same_whatever_the_fleet_size():
    data = _small_digits()
    net = A.mlp((64, 16, 10), name="small")
    small = dict(epochs=1, batch_size=64, algorithm=get_algorithm("agad"))
    spec = spec_for("reram_es")
    one = A._learn.train.train_in_situ(spec, net, data, chips=1, **small)
    two = A._learn.train.train_in_situ(spec, net, data, chips=2, **small)
    np.testing.assert_allclose(one["loss"][0], two["loss"][0], rtol=1e-5)
    np.testing.assert_allclose(
        one["state"].layers[0].fast.buffer[0], two["state"].layers[0].fast.buffer[0], atol=1e-5
    )


def test_reference_offset_hurts_ttv2_and_not_agad():
    """The paper's point (Rasch et al. 2024, Fig. 4 B and D): TTv2 reads its fast array
    against a reference at the symmetry point and inherits that reference's error; AGAD
    builds its reference from the array's own recent reads."""
    spec = soft_bounds_spec(200)
    fit = dict(rows=4, cols=4, steps=1500, batch=4, chips=2)
    ttv2 = [
        target_weight_error(spec, get_algorithm("ttv2", reference_offset=s), **fit).mean()
        for s in (0.0, 0.8)
    ]
    agad = target_weight_error(spec, get_algorithm("agad"), **fit).mean()  # no reference
    assert ttv2[1] > 1.5 * ttv2[0]
    assert agad < ttv2[1]


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: get_algorithm("ttv3"), "unknown algorithm 'ttv3'"),
        (lambda: get_algorithm("agda"), "did you mean 'agad'"),
        (lambda: get_algorithm("c-ttv2", chop_prob=1.5), "chop_prob"),
        (lambda: get_algorithm("agad", chop_prob=0.0), "chop_prob"),
        (lambda: get_algorithm("ttv2", fast_lr=-1.0), "fast_lr"),
        (lambda: get_algorithm("ttv2", transfer_every=0), "transfer_every"),
        (lambda: get_algorithm("ttv2", chop_prob=0.1), "has no use for chop_prob; .* c-ttv2, agad"),
        (lambda: get_algorithm("agad", reference_offset=0.2), "has no use for reference_offset"),
        (lambda: get_algorithm("sgd", fast_lr=2.0), "'sgd' has no use for fast_lr"),
        (
            lambda: check_algorithm(spec_for("pcm_pulsed"), get_algorithm("ttv2")),
            "applies to ecram, gokmen_vlasov, idealized, reram_es",
        ),
        (
            lambda: check_algorithm(
                dataclasses.replace(spec_for("reram_es"), pulse_update="mixed-precision"),
                get_algorithm("agad"),
            ),
            "mixed-precision",
        ),
    ],
)
def test_bad_algorithm_input(call, needle):
    with pytest.raises(ParameterError, match=needle.replace("(", r"\(")):
        call()


def test_every_preset_takes_sgd_and_two_way_ones_take_tiki_taka():
    assert "pcm_pulsed" in algorithm_presets("sgd")
    assert "pcm_pulsed" not in algorithm_presets("agad") and "reram_es" in algorithm_presets("agad")


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--device", "pcm_pulsed", "--algorithm", "ttv2"], "does not apply"),
        (["train", "--algorithm", "ttv3"], "--algorithm"),
        (["train", "--algorithm", "agad", "--chop-prob", "2"], "chop_prob"),
        (["train", "--algorithm", "agad", "--mode", "digital"], "--mode in-situ"),
    ],
)
def test_bad_algorithm_command_lines(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


@pytest.mark.slow  # 11 s of compiling for a pass-through; the train command's path is in CI
def test_sweep_train_takes_an_algorithm():
    data = _small_digits()
    net = A.mlp((64, 16, 10), name="small")
    ds = A.sweep_train(
        spec_for("reram_es"), net, data, {"learning_rate": [0.1, 0.2]}, chips=1, epochs=1,
        batch_size=64, algorithm=get_algorithm("ttv2"),
    )  # fmt: skip
    assert ds.attrs["algorithm"] == "ttv2" and ds["test_accuracy"].shape == (2, 1)


@pytest.mark.slow  # 25 s of compiling; `transfer --algorithm`'s refusals are tested in CI
def test_transfer_teaches_by_the_algorithm():
    data = _small_digits()
    net = A.mlp((64, 16, 10), name="small")
    spec = spec_for("reram_es")
    out = A.transfer(
        spec, net, data, chips=1, variation=(1.0,), strategies=("finetune",), epochs=1,
        finetune_epochs=1, probes=1, reads=1, algorithm=get_algorithm("agad", chop_prob=0.5),
    )  # fmt: skip
    assert out.attrs["algorithm"] == "agad" and out.attrs["algorithm_chop_prob"] == 0.5
    assert float(out["update_pulses"].sum()) > 0  # the target was taught through A
    swept = A.sweep_transfer(
        spec, net, data, {"finetune_examples": [50]}, chips=1, strategies=("finetune",),
        epochs=1, finetune_epochs=1, probes=1, reads=1, algorithm=get_algorithm("ttv2"),
    )  # fmt: skip
    assert swept.attrs["algorithm"] == "ttv2"


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["sweep", "simulate", "--param", "read_noise_scale=0,1", "--algorithm", "agad"],
         "--algorithm is for sweeps of train and transfer"),
        (["sweep", "train", "--param", "learning_rate=0.1", "--device", "pcm_pulsed",
          "--algorithm", "c-ttv2"], "does not apply"),
        (["transfer", "--model", "transformer", "--algorithm", "ttv2", "--device", "pcm_pulsed"],
         "does not apply"),
        (["train", "--model", "transformer", "--algorithm", "agad"], "use --mode in-situ"),
    ],
)  # fmt: skip
def test_algorithm_refused_where_it_does_not_apply(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
