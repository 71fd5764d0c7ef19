"""Every experiment's dataset: named variables and coordinates, their units and long names,
and the provenance attributes (`provenance_attrs`), built in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from .provenance import provenance_attrs

# name -> (units, long_name); either may be None (then that attribute is not set)
Labels = Mapping[str, tuple[str | None, str | None]]


def experiment_dataset(
    data_vars: Mapping[str, Any],
    coords: Mapping[str, Any] | None = None,
    *,
    labels: Labels | None = None,
    spec: Any = None,
    experiment: str,
    **provenance: Any,
) -> xr.Dataset:
    """The dataset of one experiment run.

    Args:
        data_vars, coords: as for `xarray.Dataset` (name -> (dims, values) or an array).
        labels: name -> (units, long_name) of any variable or coordinate; names the dataset
            does not hold are skipped, so one table serves datasets with optional variables.
        spec: the hardware spec the run used (device, citation and the spec as JSON go in the
            attributes), or None.
        experiment, provenance: the `experiment` attribute, then the run's settings (seed,
            network, ...), in this order, after the package version and the spec's
            (`provenance_attrs`: bools become ints, lists and dicts JSON).

    Returns:
        The dataset, labelled, with the provenance attributes.
    """
    ds = xr.Dataset(data_vars, coords=coords)
    label(ds, labels or {})
    ds.attrs.update(provenance_attrs(spec, experiment=experiment, **provenance))
    return ds


def label(ds: xr.Dataset, labels: Labels) -> xr.Dataset:
    """Set `units` and `long_name` of the variables and coordinates of `labels` that `ds`
    holds (in place; returned)."""
    for name, (units, long_name) in labels.items():
        if name in ds.variables:
            ds[name].attrs.update(attributes(units, long_name))
    return ds


def attributes(units: str | None, long_name: str | None) -> dict[str, str]:
    """The attributes of one label: `units` then `long_name`, each only if given."""
    attrs = {}
    if units is not None:
        attrs["units"] = units
    if long_name is not None:
        attrs["long_name"] = long_name
    return attrs
