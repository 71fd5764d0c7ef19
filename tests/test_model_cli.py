"""`--model NAME|FILE.py:FACTORY` and `--dataset` on the command line (issue 24): a user's own
model file on a user's own `.npz`, saved and reloaded, rerun only when the user names the
file again, and each bad input a one-line error."""

import textwrap

import numpy as np
import pytest
import xarray as xr

from analogsim._cli.main import main
from analogsim._cli.models import load_factory

FACTORIES = textwrap.dedent(
    """
    import math

    import equinox as eqx
    import jax


    class Net(eqx.Module):
        hidden: eqx.nn.Linear
        out: eqx.nn.Linear

        def __call__(self, x):
            return self.out(jax.nn.relu(self.hidden(x.reshape(-1))))


    def make(data, *, key):
        k1, k2 = jax.random.split(key)
        n = math.prod(data.input_shape)
        return Net(eqx.nn.Linear(n, 16, key=k1), eqx.nn.Linear(16, data.classes, key=k2))


    def not_a_model(data, *, key):
        return 42


    def broken(data, *, key):
        raise RuntimeError("boom\\nsecond line")
    """
)


def tiny_images(path, n=3500, **override):
    """Images (4, 4, 2) of noise in [0, 0.5]; class 1 has its channel 0 brighter by 0.5 (a
    task a few steps learn, so the tests train briefly)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = (0.5 * rng.random((n, 4, 4, 2))).astype(np.float32)
    x[..., 0] += 0.5 * y[:, None, None]
    arrays = dict(x_train=x[:-500], y_train=y[:-500], x_test=x[-500:], y_test=y[-500:])
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.fixture
def user_files(tmp_path):
    code = tmp_path / "my_model.py"
    code.write_text(FACTORIES)
    return code, tiny_images(tmp_path / "task.npz")


def simulate(out, *extra):
    argv = ["simulate", "--chips", "2", "--times", "1,86400", "--out", str(out), "--quiet"]
    return main([*argv, *extra])


def test_a_users_model_file_runs_saves_reloads_and_reruns_only_when_named(
    user_files, tmp_path, capsys
):
    code, task = user_files
    model = f"{code}:make"
    assert simulate(tmp_path / "a", "--model", model, "--dataset", str(task), "--epochs", "6") == 0
    ds = xr.load_dataset(tmp_path / "a" / "simulate.nc")
    assert ds["accuracy"].dims == ("chip", "t") and ds["accuracy"].shape == (2, 2)
    assert ds.attrs["network"] == model and ds.attrs["dataset"] == "task"
    assert float(ds["digital_accuracy"]) > 0.9  # the rule is learnable
    assert np.all(ds["accuracy"].values > 0.8)
    assert (tmp_path / "a" / "model.eqx").is_file() and (tmp_path / "a" / "model.json").is_file()
    out = capsys.readouterr().out
    assert "my_model.py:make (task) on 2 pcm chips" in out

    # the saved model, reloaded, is the same model on the same chips, also with their devices
    # drawn again at every product instead of held
    weights = str(tmp_path / "a" / "model.eqx")
    argv = ["--model", model, "--dataset", str(task), "--weights", weights, "--regenerate-identity"]
    assert simulate(tmp_path / "b", *argv) == 0
    b = xr.load_dataset(tmp_path / "b" / "simulate.nc")
    np.testing.assert_array_equal(b["accuracy"], ds["accuracy"])

    # a record that names code is refused, unless the user names the same file
    nc = str(tmp_path / "a" / "simulate.nc")
    capsys.readouterr()
    assert main(["rerun", nc, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "experiment.model" in err and "never runs" in err and len(err.splitlines()) == 1
    other = tmp_path / "other.py"
    other.write_text(FACTORIES)
    assert main(["rerun", nc, "--model", f"{other}:make", "--out", str(tmp_path / "r")]) == 2
    assert main(["rerun", nc, "--model", model, "--out", str(tmp_path / "r")]) == 0
    again = xr.load_dataset(tmp_path / "r" / "simulate.nc")
    np.testing.assert_array_equal(again["accuracy"], ds["accuracy"])


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--model", "{code}:nowhere", "--dataset", "{task}"], "has no function nowhere"),
        (["--model", "missing.py:make", "--dataset", "{task}"], "no file missing.py"),
        (["--model", "{code}:not_a_model", "--dataset", "{task}"], "returned int, not a model"),
        (["--model", "{code}:broken", "--dataset", "{task}"], "RuntimeError: boom"),
        (["--model", "{code}:make"], "give its task with --dataset"),
        (["--model", "gpt5"], "unknown model 'gpt5'; shipped models: transformer, resnet"),
        (["--dataset", "{task}"], "--dataset is for --model"),
        (["--regenerate-identity"], "--regenerate-identity is for --model"),
        (["--model", "{code}:make", "--dataset", "{bad}"], "lacks array(s) y_test"),
        (["--model", "transformer", "--dataset", "{task}"], "takes token sequences"),
        (["--model", "{code}:make", "--dataset", "{task}", "--weights", "{code}"], "does not hold"),
    ],
)
def test_bad_models_and_tasks_exit_2_with_one_line(user_files, tmp_path, capsys, argv, needle):
    code, task = user_files
    bad = tiny_images(tmp_path / "bad.npz", y_test=None)
    argv = [a.format(code=code, task=task, bad=bad) for a in argv]
    assert simulate(tmp_path / "o", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow  # 22 s; train --model in situ and simulate --model stay in CI
def test_train_a_users_model_hardware_aware_then_simulate_it(user_files, tmp_path):
    code, task = user_files
    model = f"{code}:make"
    argv = ["train", "--model", model, "--dataset", str(task), "--device", "rram"]
    argv += [
        "--chips",
        "2",
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--out",
        str(tmp_path / "t"),
        "--quiet",
    ]
    assert main(argv) == 0
    ds = xr.load_dataset(tmp_path / "t" / "train.nc")
    assert ds.attrs["training_mode"] == "hardware-aware" and ds.attrs["network"] == model
    assert ds["loss"].dims == ("chip", "epoch") and ds["loss"].shape == (2, 3)
    assert float(ds["loss"][0, -1]) < float(ds["loss"][0, 0])
    assert np.all(ds["test_accuracy"].values > 0.8)
    # the trained model is a saved model: simulate reads it back
    weights = str(tmp_path / "t" / "model.eqx")
    argv = ["--model", model, "--dataset", str(task), "--weights", weights, "--device", "rram"]
    assert simulate(tmp_path / "s", *argv) == 0


# 18 s; test_model_algorithms trains, saves and reloads a chip the same way by TTv2, in CI
@pytest.mark.slow
def test_train_a_users_model_in_situ_saves_each_chip(user_files, tmp_path, capsys):
    """Each chip learns the task on itself from the same start (pulses, then measured on
    itself); every trained chip saves as a converted model that loads into a skeleton."""
    import equinox as eqx

    import analogsim as A
    from analogsim._model.convert import analog_weights

    code, task = user_files
    argv = ["train", "--model", f"{code}:make", "--dataset", str(task), "--mode", "in-situ"]
    argv += ["--device", "reram_es", "--chips", "2", "--epochs", "2", "--batch-size", "32"]
    assert main([*argv, "--out", str(tmp_path / "t"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "in-situ training" in out and "pulses" in out
    ds = xr.load_dataset(tmp_path / "t" / "train.nc")
    assert ds.attrs["training_mode"] == "in-situ" and ds["pulses"].dims == ("chip",)
    assert np.all(ds["pulses"].values > 0) and ds["loss"].shape == (2, 2)
    assert np.all(ds["test_accuracy"].values > 0.8)
    saved = tmp_path / "t" / "chips" / "chip-1.eqx"
    assert saved.is_file() and saved.with_suffix(".json").is_file()
    # the saved chip is chip 1's trained state: a skeleton of that chip reads it back
    data = A.load_npz(task, flatten=False)
    model = load_factory(f"{code}:make")(data, key=A.stream(A.root_key(0), "train", 0))
    spec = A.spec_for("reram_es")
    skeleton = eqx.filter_eval_shape(
        lambda: A.to_analog(model, spec, key=A.chip_key(A.root_key(0), 1), method="in-situ")
    )
    chip = A.load_model(saved, skeleton)
    start = A.to_analog(model, spec, key=A.chip_key(A.root_key(0), 1), method="in-situ")
    for trained, fresh in zip(analog_weights(chip), analog_weights(start), strict=True):
        np.testing.assert_array_equal(trained.identity.devices.g_max, fresh.identity.devices.g_max)
        assert not np.array_equal(trained.state.devices.g, fresh.state.devices.g)


def test_sweep_a_users_model_over_variation(user_files, tmp_path, capsys):
    code, task = user_files
    argv = ["sweep", "simulate", "--model", f"{code}:make", "--dataset", str(task)]
    argv += ["--param", "variation=0,3", "--param", "t=1,86400", "--chips", "2"]
    assert main([*argv, "--epochs", "6", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    ds = xr.load_dataset(tmp_path / "s" / "sweep.nc")
    assert ds["accuracy"].dims == ("variation", "t", "chip")
    assert ds.attrs["network"] == f"{code}:make" and ds.attrs["dataset"] == "task"
    assert "median test accuracy" in capsys.readouterr().out
    # chip i is chip i of simulate: variation 0 at t = 1 s is simulate's run of that spec
    one = ["--model", f"{code}:make", "--dataset", str(task), "--epochs", "6"]
    assert simulate(tmp_path / "a", *one, "--variation", "0", "--times", "1,86400") == 0
    sim = xr.load_dataset(tmp_path / "a" / "simulate.nc")
    np.testing.assert_array_equal(ds["accuracy"].sel(variation=0.0).T, sim["accuracy"])
    assert main(["sweep", "train", "--model", f"{code}:make", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("table", ["hardware", "experiment"])
def test_a_crafted_record_naming_code_in_any_table_is_refused(tmp_path, capsys, table):
    ds = xr.Dataset({"accuracy": ("chip", np.zeros(2))})
    ds.attrs["analogsim_command"] = "simulate"
    ds.attrs["analogsim_config"] = f'[{table}]\nmodel = "evil.py:make"\n'
    ds.to_netcdf(tmp_path / "crafted.nc")
    assert main(["rerun", str(tmp_path / "crafted.nc"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{table}.model 'evil.py:make' is Python code" in err and len(err.splitlines()) == 1
