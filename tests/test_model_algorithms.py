"""The Tiki-Taka family on a user's model (issue 27): each analog weight learns through its
own fast array (`with_model_fast_arrays`), `model_in_situ_step(..., algorithm=)` fires the
change there, and `train --model --mode in-situ --algorithm` trains and saves the chips."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr
from test_model_cli import user_files  # noqa: F401  (a fixture)
from test_model_in_situ import CHIP, X, Y, loss, mlp

import analogsim as A
from analogsim._cli.main import main
from analogsim._cli.models import load_factory
from analogsim._model.convert import analog_weights
from device_models import ParameterError, fold_in


def steps(chip, algorithm, n, x=X, y=Y, rate=0.1):
    opt = optax.sgd(rate)
    opt_state = opt.init(A.model_weights(chip))

    @eqx.filter_jit
    def step(chip, opt_state, xb, yb, key):
        return A.model_in_situ_step(
            loss, chip, opt, opt_state, xb, yb, fold_in(key, 0), key=fold_in(key, 1),
            algorithm=algorithm, batch=xb.shape[0],
        )  # fmt: skip

    fired = 0
    for i in range(n):
        s = slice((i * 32) % len(x), (i * 32) % len(x) + 32)
        chip, opt_state, _, f = step(chip, opt_state, x[s], y[s], jax.random.key(i))
        fired += int(f)
    return chip, fired


def test_fast_arrays_leave_the_weights_chip_alone():
    spec = A.spec_for("reram_es")
    held = A.to_analog(mlp(), spec, key=CHIP, method="in-situ")
    fast = A.with_model_fast_arrays(held, A.get_algorithm("agad"), key=CHIP)
    for before, after in zip(analog_weights(held), analog_weights(fast), strict=True):
        assert after.state.fast is not None and after.identity.fast is not None
        np.testing.assert_array_equal(before.state.devices.g, after.state.devices.g)
        np.testing.assert_array_equal(before.identity.devices.g_max, after.identity.devices.g_max)
        # the fast devices are others, drawn from the weight's own key
        assert not np.array_equal(after.identity.fast.devices.g_max, before.identity.devices.g_max)
    # stripped, it is the chip to_analog gave, leaf for leaf
    plain = A.without_model_fast_arrays(fast)
    assert jax.tree.structure(plain) == jax.tree.structure(held)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(held), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # 45 s: four compilations of a training step
def test_held_and_regenerated_fast_arrays_train_the_same():
    """A weight whose devices are drawn again at every product draws its fast array again
    too: two AGAD steps give the same bits as with everything held."""
    spec = A.spec_for("reram_es")
    agad = A.get_algorithm("agad")
    chips = [
        A.with_model_fast_arrays(
            A.to_analog(mlp(), spec, key=CHIP, method="in-situ", regenerate_identity=regenerate),
            agad,
            key=CHIP,
        )
        for regenerate in (False, True)
    ]
    (a, fired_a), (b, fired_b) = (steps(chip, agad, 2) for chip in chips)
    assert fired_a == fired_b > 0
    for wa, wb, w0 in zip(
        analog_weights(a), analog_weights(b), analog_weights(chips[0]), strict=True
    ):
        np.testing.assert_array_equal(wa.state.devices.g, wb.state.devices.g)
        np.testing.assert_array_equal(wa.state.fast.devices.g, wb.state.fast.devices.g)
        # the steps went to the fast arrays (AGAD writes no weight in its first period)
        assert not np.array_equal(wa.state.fast.devices.g, w0.state.fast.devices.g)


# 16 s; in CI, train --model --algorithm ttv2 learns a task to over 80% through fast arrays
@pytest.mark.slow
def test_a_model_learns_through_its_fast_arrays():
    """TTv2 on a 4-class problem: from chance to well above it, the weights moved only by
    the fast arrays' transfers."""
    spec = A.spec_for("reram_es")
    ttv2 = A.get_algorithm("ttv2")
    x = jax.random.normal(jax.random.key(7), (256, 8))
    y = jnp.argmax(x[:, :4] + 0.3 * x[:, 4:], axis=1)
    chip = A.with_model_fast_arrays(
        A.to_analog(mlp(1), spec, key=CHIP, method="in-situ"), ttv2, key=CHIP
    )

    def accuracy(chip):
        logits = A.analog_call(chip, x, t=1.0, key=jax.random.key(5), in_axes=0)
        return float(jnp.mean(jnp.argmax(logits, -1) == y))

    start = accuracy(chip)
    trained, fired = steps(chip, ttv2, 6 * 8, x, y, rate=0.2)
    assert start < 0.45 and accuracy(A.without_model_fast_arrays(trained)) > 0.7 and fired > 0


def test_bad_algorithm_use_on_a_model_is_refused():
    spec = A.spec_for("reram_es")
    chip = A.to_analog(mlp(), spec, key=CHIP, method="in-situ")
    with pytest.raises(ParameterError, match="with_model_fast_arrays"):
        steps(chip, A.get_algorithm("c-ttv2"), 1)
    with pytest.raises(ParameterError, match="learns without fast arrays"):
        A.with_model_fast_arrays(chip, A.get_algorithm("sgd"), key=CHIP)
    pcm = A.to_analog(mlp(), A.spec_for("pcm_pulsed"), key=CHIP, method="in-situ")
    with pytest.raises(ParameterError, match="applies to ecram, gokmen_vlasov"):
        A.with_model_fast_arrays(pcm, A.get_algorithm("ttv2"), key=CHIP)


def test_train_a_users_model_in_situ_by_an_algorithm(user_files, tmp_path, capsys):  # noqa: F811
    """The chips learn by TTv2 through fast arrays and are saved without them: each loads
    into the skeleton of a plain in-situ chip."""
    code, task = user_files
    argv = ["train", "--model", f"{code}:make", "--dataset", str(task), "--device", "reram_es"]
    # an algorithm trains in situ only: refused before anything is built
    assert main([*argv, "--algorithm", "agad", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "use --mode in-situ" in capsys.readouterr().err
    argv += ["--mode", "in-situ", "--algorithm", "ttv2", "--chips", "1", "--epochs", "1"]
    assert main([*argv, "--batch-size", "32", "--out", str(tmp_path / "t"), "--quiet"]) == 0
    assert "in-situ training by ttv2" in capsys.readouterr().out
    ds = xr.load_dataset(tmp_path / "t" / "train.nc")
    assert ds.attrs["algorithm"] == "ttv2" and ds.attrs["algorithm_fast_lr"] > 0
    assert np.all(ds["pulses"].values > 0) and np.all(ds["test_accuracy"].values > 0.8)
    data = A.load_npz(task, flatten=False)
    model = load_factory(f"{code}:make")(data, key=A.stream(A.root_key(0), "train", 0))
    key = A.chip_key(A.root_key(0), 0)
    spec = A.spec_for("reram_es")
    skeleton = eqx.filter_eval_shape(lambda: A.to_analog(model, spec, key=key, method="in-situ"))
    chip = A.load_model(tmp_path / "t" / "chips" / "chip-0.eqx", skeleton)
    start = A.to_analog(model, spec, key=key, method="in-situ")
    for trained, fresh in zip(analog_weights(chip), analog_weights(start), strict=True):
        assert trained.state.fast is None
        np.testing.assert_array_equal(trained.identity.devices.g_max, fresh.identity.devices.g_max)
        assert not np.array_equal(trained.state.devices.g, fresh.state.devices.g)


@pytest.mark.slow  # 1-2 min: chip A and two teaching strategies by AGAD on the digits
def test_a_models_transfer_learns_and_teaches_by_the_algorithm():
    from analogsim._transfer.model.transfer import transfer_model

    data = A.load_digits()
    model = eqx.nn.MLP(64, 10, 32, 1, key=A.stream(A.root_key(0), "train", 0))
    trained, _ = A.fit_model(model, data, key=A.root_key(0), epochs=10, batch_size=32,
                             learning_rate=3e-3)  # fmt: skip
    agad = A.get_algorithm("agad")
    ds = transfer_model(
        A.spec_for("reram_es"), model, data, chips=1, variation=[0.0],
        strategies=["weights", "distill", "finetune"], trained=trained, algorithm=agad,
        source_examples=500, distill_examples=300, finetune_examples=100,
        hardware_aware_examples=300, curve_points=2, learning_rate=0.1,
    )  # fmt: skip
    assert ds.attrs["algorithm"] == "agad" and ds.attrs["algorithm_chop_prob"] > 0
    assert int(ds["source_pulses"].values[0]) > 0
    assert float(ds["source_accuracy"].values[0]) > 0.5
    taught = ds["update_pulses"].sel(strategy=["distill", "finetune"]).values
    assert np.all(taught > 0) and np.all(np.isfinite(ds["target_accuracy"].values))
