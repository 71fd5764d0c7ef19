"""The command line contract, on tiny sizes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from analogsim._cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def run_simulate(out: Path, seed: int = 0, *extra: str) -> xr.Dataset:
    argv = [
        "simulate",
        "--chips",
        "3",
        "--times",
        "1,86400",
        "--epochs",
        "3",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 0
    return xr.load_dataset(out / "simulate.nc")


def test_simulate_writes_labelled_dataset_and_figure(tmp_path, capsys):
    ds = run_simulate(tmp_path / "a")
    assert ds["accuracy"].dims == ("chip", "t")
    assert ds["accuracy"].shape == (3, 2)
    np.testing.assert_array_equal(ds["t"], [1.0, 86400.0])
    assert 0.0 <= float(ds["digital_accuracy"]) <= 1.0
    assert np.all((ds["accuracy"] >= 0) & (ds["accuracy"] <= 1))
    assert ds.attrs["device"] == "pcm" and "Nandakumar" in ds.attrs["device_citation"]
    assert ds.attrs["seed"] == 0 and ds.attrs["analogsim_version"]
    assert ds["t"].attrs["units"] == "s"
    assert (tmp_path / "a" / "simulate.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "digital accuracy" in out and "mean" in out


def test_simulate_same_seed_same_numbers_other_seed_other_chips(tmp_path):
    a = run_simulate(tmp_path / "a", 0)
    b = run_simulate(tmp_path / "b", 0)
    c = run_simulate(tmp_path / "c", 1, "--chunk-size", "2")
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a["accuracy"].values, c["accuracy"].values)


def test_device_characterization(tmp_path):
    assert main(["device", "rram", "--devices", "2000", "--out", str(tmp_path)]) == 0
    ds = xr.load_dataset(tmp_path / "device.nc")
    assert set(ds.dims) == {"g_target", "t", "g"}
    for name in ("prog_mean", "prog_std", "read_mean", "read_std"):
        assert ds[name].attrs["units"] == "uS"
    assert ds["read_std"].dims == ("g_target", "t")
    assert ds["prog_density"].dims == ("g_target", "g") and ds["g"].attrs["units"] == "uS"
    assert (tmp_path / "device.png").exists()


def test_devices_lists_presets(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name in ("ideal", "pcm", "rram"):
        assert name in out
    assert "Wan et al." in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["simulate", "--device", "nope"], "unknown device preset 'nope'"),
        (["simulate", "--chips", "0"], "--chips"),
        (["simulate", "--times", "1,-5", "--epochs", "1"], "--times must be >= 0"),
        (["simulate", "--variation", "-1", "--epochs", "1"], "variation must be in"),
        (["simulate", "--network", "vgg"], "--network"),
        (["device", "nope"], "known presets"),
        (
            ["simulate", "--program", "verify", "--verify-tolerance", "-1"],
            "tolerance must be in [0, 1000] uS",
        ),
        (
            ["simulate", "--program", "verify", "--verify-iterations", "-3"],
            "iterations must be",
        ),
        (["simulate", "--program", "magic"], "--program"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(argv, needle, capsys, tmp_path):
    """A bad setting fails before any work (the verify settings before digital training)."""
    assert main([*argv, "--out", str(tmp_path)] if argv[0] != "frobnicate" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_console_script_exit_status_and_no_traceback():
    env = {**os.environ, "ANALOGSIM_CACHE": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "analogsim", "simulate", "--bits", "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "analogsim: error: unrecognized arguments: --bits 3"


def test_pulsed_device_writes_pulse_response(tmp_path, capsys):
    assert main(["device", "gokmen_vlasov", "--out", str(tmp_path)]) == 0
    ds = xr.load_dataset(tmp_path / "pulse_response.nc")
    g = ds["conductance"]
    assert g.dims == ("device", "pulse") and g.attrs["units"] == "uS"
    up = int((ds["direction"] > 0).sum())
    # ~1250 states: a train of 1.2x that many up pulses takes every device to its upper bound
    assert np.all(g.values[:, up] > g.values[:, 0] + 5.0)
    assert np.all(g.values >= 0.0)
    assert (tmp_path / "pulse_response.png").exists()
    assert "gokmen_vlasov" in capsys.readouterr().out


def test_one_way_pcm_pulse_response_climbs_from_reset_with_up_pulses_only(tmp_path):
    assert main(["device", "pcm_pulsed", "--out", str(tmp_path)]) == 0
    ds = xr.load_dataset(tmp_path / "pulse_response.nc")
    assert np.all(ds["direction"].values[1:] == 1)  # no down pulses: PCM only SETs
    g = ds["conductance"].values
    assert np.all(g[:, 0] < 2.0)  # from the RESET level, near the amorphous floor
    assert np.all(g[:, -20:].mean(axis=1) > 12.0)  # ~73 nominal pulses climb the range


def tiny_task(path: Path, **override) -> Path:
    """A small task of the user's own: 12 features, 3 classes."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(0.0, 1.0, (3, 12))
    arrays = {}
    for split, n in (("train", 96), ("test", 48)):
        y = np.arange(n) % 3
        arrays[f"x_{split}"] = np.clip(centers[y] + 0.1 * rng.normal(size=(n, 12)), 0, 1)
        arrays[f"y_{split}"] = y
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_transfer_on_a_users_npz_writes_dataset_figure_and_table(tmp_path, capsys):
    data = tiny_task(tmp_path / "task.npz")
    argv = ["transfer", "--dataset", str(data), "--chips", "2", "--variation", "0,2"]
    argv += ["--strategies", "conductances,weights,digital", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    ds = xr.load_dataset(tmp_path / "out" / "transfer.nc")
    assert ds["source_accuracy"].dims == ("variation",)
    assert ds["transfer_loss"].dims == ("variation", "strategy", "chip")
    assert ds["transfer_loss"].shape == (2, 3, 2)
    assert list(ds["variation"].values) == [0.0, 2.0]
    assert ds.attrs["dataset"] == "task" and ds.attrs["device"] == "reram_es"
    assert np.all(ds["transfer_loss"].sel(strategy="digital").values == 0.0)
    assert (tmp_path / "out" / "transfer_loss.png").stat().st_size > 10_000
    umask = os.umask(0)
    os.umask(umask)
    for name in ("transfer.nc", "transfer_loss.png"):  # not private temporary files
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o666 & ~umask
    out = capsys.readouterr().out
    assert "transfer loss in accuracy points" in out and "conductances" in out


@pytest.mark.parametrize(
    "override,needle",
    [
        (dict(y_test=None), "lacks array(s) y_test"),
        (dict(y_train=np.zeros(5, int)), "need the same (non-zero) length"),
        (dict(y_train=np.full(96, 0.5)), "must hold integer class labels"),
        (dict(x_test=np.zeros((48, 5))), "examples have shape"),
    ],
)
def test_transfer_refuses_bad_npz_files(override, needle, tmp_path, capsys):
    data = tiny_task(tmp_path / "bad.npz", **override)
    assert main(["transfer", "--dataset", str(data), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--strategies", "conductances,telepathy"], "valid: conductances, weights, distill"),
        (["--variation", "0,-1"], "--variation must be >= 0"),
        (["--chips", "0"], "--chips must be >= 1"),
        (["--device", "pcm"], "cannot be trained in situ"),
        (["--dataset", "mnist"], "dataset must be one of digits, recall"),
        (["--dataset", "missing.npz"], "cannot read missing.npz"),
    ],
)
def test_transfer_bad_input_exits_2_with_one_line(argv, needle, capsys, tmp_path):
    assert main(["transfer", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
