"""Sweeps of train and transfer, the chip identity map and the per-level histograms."""

import dataclasses
import logging

import jax
import numpy as np
import pytest
import xarray as xr

import analogsim as A
from analogsim._chip.sweepable import with_values
from analogsim._cli.main import main

NET = A.mlp((64, 16, 10))


@pytest.fixture(scope="module")
def small():
    """A 320-example training set (20 steps of 16): training sweeps stay cheap."""
    data = A.load_digits()
    return dataclasses.replace(data, x_train=data.x_train[:320], y_train=data.y_train[:320])


@pytest.fixture(scope="module")
def trained(small):
    grid = {"dw_min": [0.001, 0.004], "learning_rate": [0.05, 0.3]}
    spec = A.spec_for("gokmen_vlasov")
    return A.sweep_train(spec, NET, small, grid, chips=2, epochs=2, chunk_size=8)


def test_train_sweep_is_labelled_and_each_point_learns_with_its_own_numbers(trained):
    ds = trained
    assert ds["test_accuracy"].dims == ("dw_min", "learning_rate", "chip")
    assert ds["loss"].dims == ("dw_min", "learning_rate", "chip", "epoch")
    assert ds.attrs["swept_experiment"] == "train" and ds["dw_min"].attrs["units"] == "1"
    assert np.isfinite(ds["loss"]).all() and (ds["pulses"] > 0).all()
    # every point differs: the parameter reaches the devices and the optimizer per pair
    points = ds["loss"].isel(epoch=0, chip=0).values.ravel()
    assert len(set(points.tolist())) == 4
    # a larger pulse step at the same learning rate fires fewer pulses for the same changes
    pulses = ds["pulses"].sel(learning_rate=0.3).mean("chip")
    assert float(pulses.sel(dw_min=0.004)) < float(pulses.sel(dw_min=0.001))


def test_train_sweep_point_matches_training_that_spec(trained, small):
    """Chip i at a point is chip i of `train_in_situ` with that spec: same start, data order
    and pulses. vmapped batches of other widths round differently, and a last-bit difference
    that flips one converter level or pulse sends the two runs on their own paths: the first
    epoch agrees closely, the second only as two runs of the same chip do."""
    spec = with_values(A.spec_for("gokmen_vlasov"), {"dw_min": 0.004})
    ref = A.train_in_situ(spec, NET, small, chips=2, epochs=2, learning_rate=0.3)
    got = trained["loss"].sel(dw_min=0.004, learning_rate=0.3).values
    np.testing.assert_allclose(got[:, 0], ref["loss"][:, 0], rtol=1e-2)
    np.testing.assert_allclose(got[:, 1], ref["loss"][:, 1], rtol=0.08)
    np.testing.assert_allclose(
        trained["test_accuracy"].sel(dw_min=0.004, learning_rate=0.3),
        ref["test_accuracy"],
        atol=0.06,
    )
    # losses this loose cannot tell the point from its neighbour; pulse counts can
    pulses = lambda dw: trained["pulses"].sel(dw_min=dw, learning_rate=0.3).values
    np.testing.assert_allclose(pulses(0.004), ref["pulses"], rtol=0.05)
    assert np.all(np.abs(pulses(0.001) / ref["pulses"] - 1) > 0.5)


@pytest.mark.slow  # the engine's chunking is covered by the simulate sweep tests
def test_train_sweep_results_do_not_depend_on_chunking(trained, small, tmp_path):
    grid = {"dw_min": [0.001, 0.004], "learning_rate": [0.05, 0.3]}
    spec = A.spec_for("gokmen_vlasov")
    chunked = A.sweep_train(
        spec, NET, small, grid, chips=2, epochs=2, chunk_size=3, store=tmp_path / "s"
    )
    np.testing.assert_allclose(chunked["loss"], trained["loss"], rtol=1e-4)
    done = xr.open_zarr(tmp_path / "s")["chunk_done"].values
    assert done.tolist() == [True] * 3  # 8 pairs in chunks of 3


def test_train_sweep_bad_input(small):
    spec = A.spec_for("gokmen_vlasov")
    with pytest.raises(A.ParameterError, match="no pulsed-update model"):
        A.sweep_train(A.spec_for("pcm"), NET, small, {"variation": [1.0]})
    with pytest.raises(A.ParameterError, match="learning_rate"):
        A.sweep_train(spec, NET, small, {"learning_rate": [0.1, 0.0]})
    with pytest.raises(A.ParameterError, match="dw_min_dtod"):
        A.sweep_train(spec, NET, small, {"dw_min_dtod": [-1.0]})
    with pytest.raises(A.ParameterError, match="sweepable: .*learning_rate"):
        A.sweep_train(spec, NET, small, {"t": [1.0]})


XF = dict(chips=2, epochs=1, strategies=["conductances"], seed=0)


@pytest.mark.slow  # heavy (20-30 s); its path is also covered by faster tests
def test_transfer_sweep_point_is_the_transfer_of_that_spec_and_resumes(small, tmp_path, caplog):
    spec = A.spec_for("reram_es")
    grid = {"stuck_on_prob": [0.0, 0.05]}
    compiled = []  # XLA compilations so far, after each point

    def count(_):
        compiled.append(sum("Finished XLA compilation" in r.getMessage() for r in caplog.records))

    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        ds = A.sweep_transfer(spec, NET, small, grid, store=tmp_path, on_chunk=count, **XF)
    assert compiled[0] > 0 and compiled[1] == compiled[0]  # the second point reuses them all
    assert ds["transfer_loss"].dims == ("stuck_on_prob", "strategy", "chip")
    assert float(ds["variation"]) == 1.0 and ds.attrs["swept_experiment"] == "transfer"
    ref = A.transfer(
        with_values(spec, {"stuck_on_prob": 0.05}),
        NET,
        small,
        variation=[1.0],
        **XF,
    )
    np.testing.assert_array_equal(
        ds["transfer_loss"].sel(stuck_on_prob=0.05).values, ref["transfer_loss"].values[0]
    )
    # rerun against the store: nothing recomputed, the same dataset
    again = A.sweep_transfer(spec, NET, small, grid, store=tmp_path, **XF)
    xr.testing.assert_identical(again, ds)
    with pytest.raises(A.StoreMismatchError, match="strategies"):
        A.sweep_transfer(
            spec, NET, small, grid, store=tmp_path, **{**XF, "strategies": ["weights"]}
        )


def test_transfer_sweep_bad_input(small):
    spec = A.spec_for("reram_es")
    with pytest.raises(A.ParameterError, match="whole numbers"):
        A.sweep_transfer(spec, NET, small, {"finetune_examples": [10.5]}, **XF)
    with pytest.raises(A.ParameterError, match="temperature must be > 0"):
        A.sweep_transfer(spec, NET, small, {"temperature": [2.0, -1.0]}, **XF)
    with pytest.raises(A.ParameterError, match="unknown transfer setting"):
        A.sweep_transfer(spec, NET, small, {"variation": [1.0]}, bogus=1, **XF)
    with pytest.raises(A.ParameterError, match="stuck_on_prob"):
        A.sweep_transfer(spec, NET, small, {"stuck_on_prob": [2.0]}, **XF)


def test_chip_map_is_the_fleet_chip_and_shows_its_stuck_devices():
    spec = A.spec_for("rram")
    ds = A.chip_map(spec, A.mlp().shapes, seed=0, chip=5, layer=0)
    chip = A.make_chip(spec, A.mlp().shapes, key=A.stream(A.chip_key(A.root_key(0), 5), "identity"))
    np.testing.assert_array_equal(ds["read_gain"].values, chip.layers[0].devices.read_gain)
    stuck = ds["stuck"].values
    devices = stuck.size
    # the rram preset's stuck rates (1% on, 2% off) within a few sigma of 16384 devices
    assert abs((stuck > 0).sum() / devices - 0.01) < 0.004
    assert abs((stuck < 0).sum() / devices - 0.02) < 0.005
    flat = A.chip_map(dataclasses.replace(spec, variation=0.0), A.mlp().shapes, chip=5)
    assert (flat["stuck"] == 0).all() and np.allclose(flat["read_gain"], 1.0)


def test_level_histograms_are_densities_around_each_target():
    ds = A.characterize_device(A.spec_for("pcm").device, levels=3, devices=2000, times=[20.0])
    width = float(ds["g"][1] - ds["g"][0])
    np.testing.assert_allclose(ds["prog_density"].sum("g") * width, 1.0, atol=0.02)
    peaks = ds["g"].values[ds["prog_density"].argmax("g").values]
    np.testing.assert_allclose(peaks, ds["g_target"].values, atol=2.5)


def test_cli_sweep_train_and_chip_write_dataset_and_figure(tmp_path, capsys):
    argv = ["sweep", "train", "--param", "learning_rate=0.1,0.2", "--chips", "1", "--epochs", "1"]
    assert main([*argv, "--network", "mlp", "--out", str(tmp_path), "--quiet"]) == 0
    ds = xr.load_dataset(tmp_path / "sweep.nc")
    assert ds["test_accuracy"].dims == ("learning_rate", "chip")
    assert (tmp_path / "sweep.png").exists()
    assert "median test accuracy" in capsys.readouterr().out
    assert main(["chip", "--device", "reram_es", "--chip", "2", "--out", str(tmp_path)]) == 0
    assert "stuck on" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "chip.nc"), "--out", str(tmp_path / "c.svg")]) == 0


@pytest.mark.slow  # a whole transfer per point; the API tests above cover the numbers
def test_cli_sweep_transfer_two_parameters(tmp_path, capsys):
    argv = ["sweep", "transfer", "--param", "variation=0,1", "--param", "stuck_on_prob=0,0.02"]
    argv += ["--chips", "1", "--epochs", "1", "--strategies", "conductances,weights"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    ds = xr.load_dataset(tmp_path / "sweep.nc")
    assert ds["transfer_loss"].dims == ("variation", "stuck_on_prob", "strategy", "chip")
    assert "median transfer loss" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["sweep", "train", "--device", "pcm", "--param", "variation=1"], "no pulsed-update"),
        (["sweep", "train", "--param", "t=1"], "sweepable: "),
        (["sweep", "transfer", "--param", "epochs=1.5"], "whole numbers"),
        (["sweep", "transfer", "--param", "variation=1", "--strategies", "x"], "strategy"),
        (["sweep", "simulate", "--param", "variation=1", "--param", "variation=2"], "twice"),
        (["sweep", "simulate", "--param", "stuck_off_prob=0.5,1.5"], "stuck_off_prob"),
        (["chip", "--layer", "5"], "layer must be in"),
    ],
)
def test_bad_experiment_sweep_input_exits_2(argv, needle, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "sweep.chunks").exists()
