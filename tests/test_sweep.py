"""Sweeps: one compiled program for a grid, the same chips at every point, resumable stores."""

import json

import numpy as np
import pytest
import xarray as xr
import zarr

import analogsim as A
import analogsim._sweep.simulate as S
from analogsim._cli.main import main
from analogsim._sweep.chunks import run_chunks
from analogsim._sweep.store import Layout, Store

NET = A.mlp((64, 16, 10))


@pytest.fixture(scope="module")
def setup():
    data = A.load_digits()
    params = A.train_digital(NET, data, key=A.root_key(0), epochs=2)
    return A.spec_for("pcm"), params, data


def run(setup, grid, **kw):
    spec, params, data = setup
    return S.sweep_simulate(spec, NET, params, data, grid, chips=3, **kw)


def finished(store):
    """Which chunks a sweep's store marks finished."""
    return xr.open_zarr(store)["chunk_done"].values


def files(folder):
    """Every file under `folder` and its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


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
    assert finished(tmp_path).tolist() == [True, True, False, False, False]  # 9 pairs by 2
    computed = []
    resumed = run(setup, grid, chunk_size=2, store=tmp_path, on_chunk=computed.append)
    assert finished(tmp_path).all()
    xr.testing.assert_identical(resumed, whole)


def test_the_store_opens_with_xarray_while_the_sweep_runs(setup, tmp_path):
    """After the first chunk (pairs 0 and 1: variation 0, chips 0 and 1) the store shows its
    values under the dataset's dims and coordinates, and nothing yet for the rest."""
    seen = []
    ds = run(
        setup,
        {"variation": [0.0, 1.0, 3.0]},
        chunk_size=2,
        store=tmp_path,
        on_chunk=lambda done: seen.append(xr.open_zarr(tmp_path).load()),
    )
    first = seen[0]
    assert first["accuracy"].dims == ("variation", "chip", "t")
    assert first["variation"].values.tolist() == [0.0, 1.0, 3.0]
    assert first["variation"].attrs["units"] == "1" and first["t"].attrs["units"] == "s"
    assert first["chunk_done"].values.tolist() == [True, False, False, False, False]
    acc = first["accuracy"].isel(t=0).values.ravel()
    np.testing.assert_array_equal(acc[:2], ds["accuracy"].values.ravel()[:2])
    assert np.isnan(acc[2:]).all()  # not run yet: missing
    third = seen[2]["accuracy"].isel(t=0).values.ravel()
    np.testing.assert_array_equal(third[:6], ds["accuracy"].values.ravel()[:6])
    assert np.isnan(third[6:]).all()
    np.testing.assert_array_equal(seen[-1]["accuracy"].isel(t=0), ds["accuracy"])


def test_a_chunk_written_without_its_mark_is_computed_again(setup, tmp_path, monkeypatch):
    """A crash after a chunk's values but before its mark: resuming computes that chunk again
    (and only it), over whatever the crash left, to the uninterrupted run's bits."""
    grid = {"variation": [0.0, 1.0, 3.0]}
    whole = run(setup, grid, chunk_size=2, store=tmp_path)
    zarr.open_array(store=str(tmp_path), path="chunk_done", mode="r+")[3] = False
    # chunk 3 holds pairs 6 and 7 (variation 3, chips 0 and 1): half-written garbage
    zarr.open_array(store=str(tmp_path), path="accuracy", mode="r+")[2, :2] = -1.0
    calls = []
    real = S._simulate_pairs
    monkeypatch.setattr(S, "_simulate_pairs", lambda *a: calls.append(1) or real(*a))
    resumed = run(setup, grid, chunk_size=2, store=tmp_path)
    assert len(calls) == 1
    xr.testing.assert_identical(resumed, whole)
    assert finished(tmp_path).all()
    stored = xr.open_zarr(tmp_path)["accuracy"].isel(t=0)
    np.testing.assert_array_equal(stored, whole["accuracy"])


def test_a_store_of_another_sweep_is_refused_and_left_alone(setup, tmp_path):
    run(setup, {"variation": [0.0, 1.0]}, chunk_size=2, store=tmp_path)
    before = files(tmp_path)
    with pytest.raises(A.StoreMismatchError, match="differs in grid"):
        run(setup, {"variation": [0.0, 2.0]}, chunk_size=2, store=tmp_path)
    with pytest.raises(A.StoreMismatchError, match="seed"):
        run(setup, {"variation": [0.0, 1.0]}, chunk_size=2, store=tmp_path, seed=1)
    assert files(tmp_path) == before  # every byte of every file
    assert json.loads((tmp_path / "manifest.json").read_text())["grid"] == {"variation": [0.0, 1.0]}
    # a store of analogsim before the zarr store (.npz chunks), and a folder of other files
    old = tmp_path / "old"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["store_format"]
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps(manifest))
    (old / "chunk-0000-000000.npz").write_bytes(b"PK")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not a sweep")
    for folder, needle in [(old, "differs in store_format"), (mine, "no sweep manifest")]:
        kept = files(folder)
        with pytest.raises(A.StoreMismatchError, match=needle):
            run(setup, {"variation": [0.0, 1.0]}, chunk_size=2, store=folder)
        assert files(folder) == kept


def test_the_store_keeps_chunks_that_split_rows_and_grids_without_cells(tmp_path):
    """The store alone, no JAX: chunks that start and end mid-row of a 3-d grid, resumed, and
    a grid of one cell (a transfer sweep without looped parameters)."""
    rng = np.random.default_rng(0)
    cells = {"a": [0.0, 1.0], "b": [1.0, 2.0, 3.0], "chip": np.arange(4)}
    spans = [(s, min(s + 5, 24)) for s in range(0, 24, 5)]
    layout = Layout(cells, spans, {"x": ("t",), "n": ()}, {"t": [1.0, 2.0]})
    values = {"x": rng.random((24, 2), np.float32), "n": rng.integers(0, 9, 24, np.int64)}
    compute = lambda k, bar: {name: v[slice(*spans[k])] for name, v in values.items()}
    kw = dict(steps=[1] * 5, progress=False, desc="", unit="chunk")

    def stop(done):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_chunks(layout, compute, store=Store(tmp_path, {}, layout), on_chunk=stop, **kw)
    assert np.isnan(xr.open_zarr(tmp_path)["x"].values.reshape(24, 2)[15:]).all()
    fail = lambda k, bar: pytest.fail(f"chunk {k} is finished") if k < 3 else compute(k, bar)
    out = run_chunks(layout, fail, store=Store(tmp_path, {}, layout), **kw)
    for name, v in values.items():
        np.testing.assert_array_equal(out[name], v.reshape(2, 3, 4, *v.shape[1:]))
        np.testing.assert_array_equal(xr.open_zarr(tmp_path)[name], out[name])
    one = Layout({}, [(0, 1)], {"x": ("t",)}, {"t": [1.0, 2.0]})
    for _ in range(2):
        store = Store(tmp_path / "one", {}, one)
        out = run_chunks(one, lambda k, bar: {"x": values["x"][:1]}, store=store, **kw)
        np.testing.assert_array_equal(out["x"], values["x"][0])
    assert xr.open_zarr(tmp_path / "one")["x"].dims == ("t",)


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
    ds = xr.load_dataset(tmp_path / "sweep.nc")
    assert ds["accuracy"].dims == ("variation", "chip") and ds.sizes["variation"] == 3
    assert (tmp_path / "sweep.png").exists() and (tmp_path / "sweep.chunks/manifest.json").exists()
    assert "median test accuracy" in capsys.readouterr().out
    # the same command again resumes from the store: same numbers
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    again = xr.load_dataset(tmp_path / "sweep.nc")
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
