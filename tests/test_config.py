"""Configuration files, the configuration every dataset keeps, `rerun`, and a sweep killed
mid-run (issue 8)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import zarr

from analogsim._cli.main import main

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[hardware]
device = "pcm"
read_noise_scale = 2.0
adc_bits = 6

[experiment]
chips = 3
times = [1, 86400]
epochs = 2
seed = 2
"""


def test_config_flags_override_and_rerun_reproduces_bit_for_bit(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(CONFIG)
    argv = ["simulate", "--config", str(config), "--chips", "2", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    ds = xr.load_dataset(tmp_path / "a" / "simulate.nc")
    assert ds["accuracy"].shape == (2, 2)  # --chips 2 overrides the file's 3
    assert ds.attrs["seed"] == 2 and ds.attrs["analogsim_command"] == "simulate"
    spec = ds.attrs["hardware_spec"]
    assert '"adc_bits": 6' in spec and '"read_noise_scale": 2.0' in spec
    recorded = ds.attrs["analogsim_config"]
    assert "chips = 2" in recorded and "adc_bits = 6" in recorded and "seed = 2" in recorded
    assert main(["rerun", str(tmp_path / "a" / "simulate.nc"), "--out", str(tmp_path / "b")]) == 0
    again = xr.load_dataset(tmp_path / "b" / "simulate.nc")
    xr.testing.assert_identical(again, ds)
    assert "rerunning: analogsim simulate" in capsys.readouterr().out


def test_device_characterization_reruns_identically(tmp_path):
    assert main(["device", "rram", "--devices", "2000", "--out", str(tmp_path / "a")]) == 0
    assert main(["rerun", str(tmp_path / "a" / "device.nc"), "--out", str(tmp_path / "b")]) == 0
    a = xr.load_dataset(tmp_path / "a" / "device.nc")
    b = xr.load_dataset(tmp_path / "b" / "device.nc")
    xr.testing.assert_identical(a, b)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[experiment]\nchip = 3\n", "unknown experiment setting 'chip' (did you mean 'chips'?)"),
        ("[hardware]\nread_noise_scal = 2\n", "unknown hardware key 'read_noise_scal' (did you"),
        ("[hardwre]\ndevice = 'pcm'\n", "unknown table [hardwre] (did you mean 'hardware'?)"),
        ("[experiment]\nchips = 'many'\n", "experiment.chips: expected an integer, got 'many'"),
        ("[experiment]\nchips = 0\n", "experiment.chips: must be >= 1, got 0"),
        ("[hardware]\nstuck_on_prob = 2.0\n", "stuck_on_prob must be in [0, 1]; got 2.0"),
        ("[hardware]\nadc_bits = 30\n", "adc_bits must be an integer in [1, 24]"),
        ("[hardware]\ndevice = 'pcx'\n", "did you mean 'pcm'"),
        (
            "[experiment]\nprogram = 'closed'\n",
            "program must be one of published, open-loop, verify",
        ),
        ("[experiment]\nseed = \"__import__('os').system('x')\"\n", "experiment.seed: not a"),
        ("[grid]\nvariation = [0, 1]\n", "[grid] is for sweeps"),
        ("[experiment\nchips = 3\n", "not valid TOML"),
    ],
)
def test_bad_config_files_exit_2_naming_the_key(tmp_path, capsys, text, needle):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["simulate", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_device_characterization_refuses_hardware_values(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[hardware]\nread_noise_scale = 2.0\n")
    assert main(["device", "pcm", "--config", str(config), "--out", str(tmp_path)]) == 2
    assert "do not apply" in capsys.readouterr().err


def test_rerun_refuses_files_without_a_record(tmp_path, capsys):
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(tmp_path / "x.nc", engine="scipy")
    assert main(["rerun", str(tmp_path / "x.nc")]) == 2
    assert "records no analogsim configuration" in capsys.readouterr().err
    assert main(["rerun", str(tmp_path / "missing.nc")]) == 2


GOOD_CONFIG = '[hardware]\ndevice = "pcm"\n\n[experiment]\nchips = 2\n'


@pytest.mark.parametrize(
    "command,config,needle",
    [
        (
            "simulate --coordinator 127.0.0.1:9 --num-processes 2 --process-id 1",
            GOOD_CONFIG,
            "a record never carries options",
        ),
        ("simulate --weights /tmp/x.npz", GOOD_CONFIG, "a record never carries options"),
        ("rerun", GOOD_CONFIG, "is not a command analogsim records"),
        ("python", GOOD_CONFIG, "is not a command analogsim records"),
        ("sweep os", GOOD_CONFIG, "sweeps are of simulate, train or transfer"),
        ("device ../../evil", GOOD_CONFIG, "is not a device preset"),
        ("simulate", '[experiment]\ncoordinator = "127.0.0.1:9"\n', "experiment.coordinator"),
        ("simulate", "[experiment]\nnum-processes = 2\n", "experiment.num-processes"),
        ("simulate", "[experiment]\ndevices = 8\n", "experiment.devices"),
        ("simulate", '[experiment]\nout = "/etc"\n', "experiment.out"),
        ("simulate", "[evil]\nx = 1\n", "[evil] is not a table analogsim writes"),
        ("simulate", "not toml = = 1", "analogsim_config is not valid TOML"),
    ],
)
def test_rerun_treats_the_record_as_untrusted(
    command, config, needle, tmp_path, capsys, monkeypatch
):
    """A dataset is data, never a program: an edited record is refused, naming the field,
    before anything runs (no process group is joined, no option of the record is parsed)."""
    import analogsim._fleet.distributed as distributed

    def joined(*args, **kwargs):
        raise AssertionError("rerun joined a process group from a dataset's record")

    monkeypatch.setattr(distributed, "initialize_distributed", joined)
    path = tmp_path / "crafted.nc"
    attrs = {"analogsim_command": command, "analogsim_config": config}
    xr.Dataset({"a": ("x", [1.0])}, attrs=attrs).to_netcdf(path, engine="scipy")
    assert main(["rerun", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and str(path) in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # 27 s: three sweeps and a subprocess; in-process resume is tested in CI
def test_a_sweep_killed_mid_run_resumes_to_the_uninterrupted_dataset_and_reruns(tmp_path):
    sweep = ["sweep", "simulate", "--param", "variation=0:2:8", "--chips", "3"]
    sweep += ["--chunk-size", "3", "--epochs", "2", "--quiet"]
    env = {**os.environ, "ANALOGSIM_CACHE": str(tmp_path / "cache")}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "analogsim", *sweep, "--out", str(killed)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    chunks = killed / "sweep.chunks"
    deadline = time.monotonic() + 300
    while not finished(chunks) and time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = finished(chunks)
    assert 1 <= done < 8, done  # killed mid-run: some chunks, not all
    assert not list(killed.glob("*.nc"))  # no complete-looking result
    assert main([*sweep, "--out", str(killed)]) == 0  # resumes
    assert main([*sweep, "--out", str(tmp_path / "whole")]) == 0
    a = xr.load_dataset(killed / "sweep.nc")
    b = xr.load_dataset(tmp_path / "whole" / "sweep.nc")
    xr.testing.assert_identical(a, b)
    # and the dataset's own record runs the sweep again, bit for bit
    assert main(["rerun", str(killed / "sweep.nc"), "--out", str(tmp_path / "again")]) == 0
    again = xr.load_dataset(tmp_path / "again" / "sweep.nc")
    xr.testing.assert_identical(again, a)


def finished(store: Path) -> int:
    """How many chunks a sweep's store marks finished (0 before it has its marks)."""
    if not (store / "chunk_done" / "zarr.json").exists():
        return 0
    return int(zarr.open_array(store=str(store), path="chunk_done", mode="r")[:].sum())
