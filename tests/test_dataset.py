"""Datasets: one helper labels them and records provenance; netCDF-4 keeps every number and
type; the netCDF-3 files of earlier versions still read."""

import numpy as np
import pytest
import xarray as xr

import analogsim as A
from analogsim._core.dataset import experiment_dataset
from analogsim._core.provenance import read_dataset


def small(**provenance):
    return experiment_dataset(
        {
            "accuracy": (("chip",), np.array([0.5, 0.25])),
            "pulses": (("chip",), np.array([2**40, 7], np.int64)),
        },
        {"chip": np.arange(2), "strategy": ["copy"]},
        labels={
            "accuracy": ("1", "test accuracy"),
            "chip": (None, "chip index"),
            "absent": ("s", "not in this dataset: skipped"),
        },
        experiment="demo",
        **provenance,
    )


def test_experiment_dataset_labels_variables_and_records_provenance():
    ds = small(seed=3, verify=True, shapes=[(64, 16)])
    assert list(ds["accuracy"].attrs.items()) == [("units", "1"), ("long_name", "test accuracy")]
    assert ds["chip"].attrs == {"long_name": "chip index"} and "absent" not in ds
    assert list(ds.attrs) == ["analogsim_version", "experiment", "seed", "verify", "shapes"]
    assert ds.attrs["verify"] == 1 and ds.attrs["shapes"] == "[[64, 16]]"


def test_a_written_dataset_reads_back_identical_with_64_bit_numbers(tmp_path):
    ds = small(seed=3_000_000_000)  # a seed netCDF-3 cannot hold
    back = read_dataset(A.write_dataset(ds, tmp_path / "d.nc"))
    xr.testing.assert_identical(back, ds)
    assert {k: back[k].dtype for k in back.variables} == {k: ds[k].dtype for k in ds.variables}
    assert back.attrs["seed"] == 3_000_000_000 and list(back.attrs) == list(ds.attrs)
    assert xr.load_dataset(tmp_path / "d.nc")["pulses"].values[0] == 2**40  # plain xarray too


def test_netcdf3_files_of_earlier_versions_still_read(tmp_path):
    old = small(seed=3).drop_vars("pulses")
    old.to_netcdf(tmp_path / "old.nc", engine="scipy")
    back = read_dataset(tmp_path / "old.nc")
    np.testing.assert_array_equal(back["accuracy"], old["accuracy"])
    assert back.attrs["seed"] == 3 and back["chip"].attrs["long_name"] == "chip index"
    (tmp_path / "bad.nc").write_text("not netCDF")
    with pytest.raises(ValueError, match="not a netCDF file"):
        read_dataset(tmp_path / "bad.nc")
