"""Sweeps: one compiled program for a grid, the same chips at every point, resumable stores."""

import json

import numpy as np
import pytest
import xarray as xr

import analogsim as A
import analogsim._sweep.simulate as S
from analogsim._cli.main import main

NET = A.mlp((64, 16, 10))


@pytest.fixture(scope="module")
def setup():
    data = A.load_digits()
    params = A.train_digital(NET, data, key=A.root_key(0), epochs=2)
    return A.spec_for("pcm"), params, data


def run(setup, grid, **kw):
    spec, params, data = setup
    return S.sweep_simulate(spec, NET, params, data, grid, chips=3, **kw)


def test_parse_values():
    assert A.internal.parse_values("1,2.5,4") == [1.0, 2.5, 4.0]
    assert A.internal.parse_values("0:1:5") == [0.0, 0.25, 0.5, 0.75, 1.0]
    for bad in ("", "a,b", "0:1", "0:1:0", "1:2:x", "nan"):
        with pytest.raises(A.ParameterError, match="malformed values"):
            A.internal.parse_values(bad)


def test_sweep_point_equals_simulate_of_that_spec(setup):
    spec, params, data = setup
    ds = run(setup, {"variation": [0.5, 2.0], "t": [1.0, 86400.0]})
    assert ds["accuracy"].dims == ("variation", "t", "chip")
    assert ds["t"].attrs["units"] == "s" and ds.attrs["experiment"] == "sweep"
    sim = A.simulate(
        A.HardwareSpec(variation=2.0), NET, params, data, chips=3, times=[1.0, 86400.0]
    )
    got = ds["accuracy"].sel(variation=2.0).transpose("chip", "t").values
    # the sweep traces the value (float32) where simulate bakes it in: one test image at most
    np.testing.assert_allclose(got, sim["accuracy"].values, atol=1.01 / 450)


def test_a_grid_compiles_once_and_chunking_does_not_change_numbers(setup, monkeypatch):
    traces = []
    real = S.chip_accuracy
    monkeypatch.setattr(S, "chip_accuracy", lambda *a, **k: traces.append(1) or real(*a, **k))
    grid = {"read_noise_scale": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
    small = run(setup, grid, chunk_size=4)  # 21 pairs in 6 calls of one shape
    assert len(traces) == 1  # traced once for the whole grid, not once per value or chunk
    whole = run(setup, grid, chunk_size=21)
    np.testing.assert_array_equal(small["accuracy"].values, whole["accuracy"].values)
    # more read noise, lower accuracy (common random numbers make the trend clean)
    med = small["accuracy"].median("chip").values
    assert med[0] > med[-1]


def test_shape_settings_loop_in_python(setup):
    ds = run(setup, {"adc_bits": [3, 8], "output_noise": [0.0, 0.5]})
    assert ds["accuracy"].dims == ("adc_bits", "output_noise", "chip")
    assert ds["adc_bits"].attrs["units"] == "bit"
    med = ds["accuracy"].median("chip")
    assert float(med.sel(adc_bits=8, output_noise=0.0)) > float(
        med.sel(adc_bits=3, output_noise=0.5)
    )


def test_interrupted_sweep_resumes_to_the_same_dataset(setup, tmp_path):
    grid = {"variation": [0.0, 1.0, 3.0]}
    whole = run(setup, grid, chunk_size=2)

    def stop(done):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(setup, grid, chunk_size=2, store=tmp_path, on_chunk=stop)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 2
    computed = []
    resumed = run(setup, grid, chunk_size=2, store=tmp_path, on_chunk=computed.append)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 5  # 9 pairs in chunks of 2
    xr.testing.assert_identical(resumed, whole)


def test_a_store_of_another_sweep_is_refused_and_left_alone(setup, tmp_path):
    run(setup, {"variation": [0.0, 1.0]}, chunk_size=2, store=tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(A.StoreMismatchError, match="differs in grid"):
        run(setup, {"variation": [0.0, 2.0]}, chunk_size=2, store=tmp_path)
    with pytest.raises(A.StoreMismatchError, match="seed"):
        run(setup, {"variation": [0.0, 1.0]}, chunk_size=2, store=tmp_path, seed=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert json.loads((tmp_path / "manifest.json").read_text())["grid"] == {"variation": [0.0, 1.0]}


def test_unknown_names_and_empty_grids_are_refused(setup):
    with pytest.raises(A.ParameterError, match="sweepable: .*read_noise_scale"):
        run(setup, {"bogus_resistance": [1.0]})
    with pytest.raises(A.ParameterError, match="grid is empty"):
        run(setup, {})
    with pytest.raises(A.ParameterError, match="no values"):
        run(setup, {"variation": []})
    with pytest.raises(A.ParameterError, match="whole numbers"):
        run(setup, {"adc_bits": [4.5]})


def test_cli_sweep_writes_dataset_and_figure_and_plot_redraws_it(tmp_path, capsys):
    argv = ["sweep", "simulate", "--param", "variation=0:2:3", "--chips", "2", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    ds = xr.load_dataset(tmp_path / "sweep.nc", engine="scipy")
    assert ds["accuracy"].dims == ("variation", "chip") and ds.sizes["variation"] == 3
    assert (tmp_path / "sweep.png").exists() and (tmp_path / "sweep.chunks/manifest.json").exists()
    assert "median test accuracy" in capsys.readouterr().out
    # the same command again resumes from the store: same numbers
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    again = xr.load_dataset(tmp_path / "sweep.nc", engine="scipy")
    np.testing.assert_array_equal(again["accuracy"].values, ds["accuracy"].values)
    assert main(["plot", str(tmp_path / "sweep.nc"), "--out", str(tmp_path / "p.svg")]) == 0
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["sweep", "simulate", "--param", "nope=1,2"], "sweepable: "),
        (["sweep", "simulate", "--param", "variation=1:2"], "malformed values"),
        (["sweep", "simulate", "--param", "variation"], "NAME=VALUES"),
        (["sweep", "simulate"], "grid is empty"),
        (["sweep", "frobnicate", "--param", "variation=1"], "unknown experiment"),
        (["plot", "missing.nc"], "cannot read missing.nc"),
    ],
)
def test_bad_sweep_and_plot_input_exits_2(argv, needle, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / ("x.png" if argv[0] == "plot" else ""))]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


@pytest.mark.slow  # the API test above covers the refusal; this adds the exit status
def test_cli_refuses_a_mismatched_store_with_exit_2(tmp_path, capsys):
    base = ["sweep", "simulate", "--chips", "2", "--epochs", "1", "--quiet", "--out", str(tmp_path)]
    assert main([*base, "--param", "variation=0,1"]) == 0
    chunks = sorted((tmp_path / "sweep.chunks").iterdir())
    assert main([*base, "--param", "variation=0,3"]) == 2
    assert "holds chunks of another sweep" in capsys.readouterr().err
    assert sorted((tmp_path / "sweep.chunks").iterdir()) == chunks


@pytest.mark.slow  # a circuit solve per tile and read: about a minute on 2 cores
def test_wire_resistance_sweeps_from_ideal_wires(setup):
    """A spec with ideal wires (None) sweeps its wire resistance; 0 ohm is the ideal read."""
    ds = run(setup, {"wire_resistance": [0.0, 20.0]}, chunk_size=6)
    ideal = run(setup, {"variation": [1.0]})
    assert ds["wire_resistance"].attrs["units"] == "ohm"
    np.testing.assert_allclose(
        ds["accuracy"].sel(wire_resistance=0.0), ideal["accuracy"].sel(variation=1.0), atol=0.01
    )
