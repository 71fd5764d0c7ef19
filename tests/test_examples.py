"""Every script in examples/ runs its quick form as a new user would: from an empty folder,
by its path, writing what it promises under the folder it creates (issue 22)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path, devices: int = 1) -> str:
    """Run examples/`name` in `cwd` and return what it printed; fail with its stderr.

    The subprocess sees `devices` CPU devices (not the 8 that conftest forces on this
    process, which would pad a 2-chip fleet to 8) and compiles at XLA's level 0, as the other
    subprocess tests do. A DeprecationWarning raised by the example's own code (an old name
    of the API) is an error: a user running it would see the warning.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "ANALOGSIM_DEVICES")}
    env["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
    if devices > 1:  # the fleet is split over every device JAX sees
        env["XLA_FLAGS"] += f" --xla_force_host_platform_device_count={devices}"
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:__main__", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def only(folder: Path) -> list[str]:
    """The names in `folder` (what a run left in the user's folder)."""
    return sorted(p.name for p in folder.iterdir())


def figure(path: Path) -> None:
    assert path.stat().st_size > 10_000, f"{path} is too small to be a figure"


@pytest.mark.slow  # ~40 s here: digital training, then a fleet compile; `simulate` is in test_cli
def test_simulate_network(tmp_path):
    stdout = run_example("simulate_network.py", "--chips", "2", "--epochs", "2", cwd=tmp_path)
    assert "digital test accuracy" in stdout and "mean accuracy over chips" in stdout
    assert only(tmp_path) == ["out"] and only(tmp_path / "out") == ["example.png"]
    figure(tmp_path / "out" / "example.png")


@pytest.mark.slow  # ~18 s here: multi-device fleets are checked in test_sharding
def test_fleet_yield_over_4_devices(tmp_path):
    stdout = run_example("fleet_yield.py", "--chips", "30", cwd=tmp_path, devices=4)
    assert "30 PCM chips" in stdout and "within 1 pt" in stdout
    ds = xr.load_dataset(tmp_path / "out" / "fleet.nc")
    assert ds["accuracy"].dims == ("chip", "t") and ds["accuracy"].shape == (30, 2)
    np.testing.assert_array_equal(ds["t"], [1.0, 31536000.0])
    assert np.all((ds["accuracy"] > 0.5) & (ds["accuracy"] <= 1.0))
    figure(tmp_path / "out" / "fleet_yield.png")


@pytest.mark.slow  # ~19 s here: the sweep path is checked in test_sweep
def test_sweep_variation_into_a_nested_out_folder(tmp_path):
    stdout = run_example("sweep_variation.py", "--chips", "4", "--out", "runs/a", cwd=tmp_path)
    assert "median test accuracy" in stdout and "worst chip" in stdout
    out = tmp_path / "runs" / "a"
    assert only(tmp_path) == ["runs"]
    ds = xr.load_dataset(out / "sweep.nc")
    acc = ds["accuracy"]
    assert set(acc.dims) == {"stuck_off_prob", "read_noise_scale", "t", "chip"}
    assert acc.sizes == {"stuck_off_prob": 4, "read_noise_scale": 5, "t": 1, "chip": 4}
    # what the sweep is about: stuck devices and read noise together cost accuracy
    median = acc.median("chip").sel(t=86400.0)
    assert float(median.sel(stuck_off_prob=0.1, read_noise_scale=4.0)) < float(
        median.sel(stuck_off_prob=0.0, read_noise_scale=0.0)
    )
    assert (out / "sweep_chunks_4" / "manifest.json").is_file()
    figure(out / "sweep.png")


@pytest.mark.slow  # ~85 s here: compiling in situ, fleet, hardware-aware, optax and Tiki-Taka runs
def test_in_situ_training(tmp_path):
    stdout = run_example("in_situ_training.py", "--epochs", "1", "--chips", "2", cwd=tmp_path)
    lines = ("one chip, in situ", "2 chips, in situ", "hardware-aware", "own optax loop")
    for line in (*lines, "reram_es by agad", "one AGAD step by your own loop"):
        assert line in stdout, stdout
    assert only(tmp_path) == []  # it writes nothing


@pytest.mark.slow  # ~3 minutes here however small: every strategy compiles its programs
def test_weight_transfer(tmp_path):
    stdout = run_example("weight_transfer.py", "--epochs", "1", "--chips", "2", cwd=tmp_path)
    for name in ("chip A", "conductances", "weights", "distill", "finetune", "hardware-aware"):
        assert name in stdout, stdout
    assert only(tmp_path) == []  # it writes nothing


@pytest.mark.slow  # ~2 minutes here even with --quick: compiling the wired read dominates
def test_ir_drop(tmp_path):
    stdout = run_example("ir_drop.py", "--quick", cwd=tmp_path)
    assert "mean shortfall" in stdout and "median test accuracy" in stdout
    ds = xr.load_dataset(tmp_path / "out" / "ir_drop.nc")
    acc = ds["accuracy"]
    assert acc.sizes == {"tile_rows": 1, "wire_resistance": 2, "chip": 2}
    np.testing.assert_array_equal(ds["wire_resistance"], [0.0, 10.0])
    assert np.all((acc > 0.5) & (acc <= 1.0))
    figure(tmp_path / "out" / "ir_drop.png")


@pytest.mark.slow  # ~25 s here: digital training, then programming and reading compile
def test_your_model(tmp_path):
    stdout = run_example("your_model.py", "--chips", "2", "--epochs", "2", cwd=tmp_path)
    assert "digital test accuracy" in stdout and "2 PCM chips" in stdout
    assert "1 year" in stdout


@pytest.mark.slow  # ~20 s here: the in-situ step and the copies' programming compile
def test_your_model_in_situ(tmp_path):
    stdout = run_example("your_model_in_situ.py", "--epochs", "2", "--copies", "2", cwd=tmp_path)
    assert "epoch  2:" in stdout and "pulses fired" in stdout
    assert "its weights on 2 other chips" in stdout
    assert only(tmp_path) == []


@pytest.mark.slow  # ~1.5 minutes with --quick: digital training and three compiled steps
def test_transformer_transfer(tmp_path):
    stdout = run_example("transformer_transfer.py", "--quick", cwd=tmp_path)
    for line in ("chip A, as written", "after learning on itself", "A's weights copied",
                 "taught by A on 1000 unlabelled inputs"):  # fmt: skip
        assert line in stdout, stdout
    assert only(tmp_path) == []
