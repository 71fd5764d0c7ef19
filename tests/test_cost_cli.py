"""`analogsim cost` and the energy `simulate` and `transfer` add to their datasets."""

from __future__ import annotations

import pytest
import xarray as xr

from analogsim._cli.main import main


def test_cost_prints_the_presets_against_their_published_figures(capsys):
    assert main(["cost", "--published"]) == 0
    out = capsys.readouterr().out
    assert "IBM 64-core PCM chip, four-phase mode" in out and "predicted" in out
    assert "Le Gallo et al., Nat. Electron. 6:680, 2023" in out


def test_cost_of_a_network_per_layer(tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["cost", "--epochs", "1", "--batch", "8", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert ".layers[0].weight" in text and "the digital reference" in text
    ds = xr.open_dataset(out / "cost.nc")
    assert ds["energy"].attrs["units"] == "J" and ds.attrs["cost_model"] == "hermes"
    assert float(ds["energy_per_inference"]) > 0 and float(ds["area"]) > 0


@pytest.mark.slow  # ~9 s: two points costed and simulated; the converter energy by hand is in CI
def test_cost_over_a_grid_draws_the_pareto_front(tmp_path):
    grid = tmp_path / "grid"
    argv = ["cost", "--epochs", "1", "--batch", "8", "--adc-bits", "3,8", "--chips", "1"]
    assert main([*argv, "--out", str(grid), "--quiet"]) == 0
    ds = xr.open_dataset(grid / "cost.nc")
    assert ds.sizes["point"] == 2 and (grid / "cost_pareto.png").exists()
    # fewer ADC bits: less converter energy
    e = ds["energy_by_component"].sel(component="adc").values
    assert e[0] < e[1]


def test_simulate_adds_energy_and_a_device_without_cost_model_says_so(tmp_path, capsys):
    argv = ["simulate", "--chips", "2", "--times", "1", "--epochs", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "pcm")]) == 0
    ds = xr.open_dataset(tmp_path / "pcm" / "simulate.nc")
    assert float(ds["energy_per_inference"]) > 0
    assert set(ds["energy_by_component"].component.values) >= {"array", "adc", "digital"}
    assert main([*argv, "--device", "rram", "--out", str(tmp_path / "rram")]) == 0
    assert "'rram' has no cost model" in capsys.readouterr().out


def test_cost_bad_input_exits_2_with_one_line(capsys):
    assert main(["cost", "--device", "rram", "--epochs", "1", "--quiet"]) == 2
    assert "'rram' has no cost model" in capsys.readouterr().err
    assert main(["cost", "--chip", "hermez", "--epochs", "1", "--quiet"]) == 2
    assert "unknown cost model 'hermez' (did you mean 'hermes'?)" in capsys.readouterr().err
