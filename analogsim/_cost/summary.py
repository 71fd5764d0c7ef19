"""A cost dataset's summary: the variables other experiments' datasets carry beside their
accuracy (`analogsim simulate`), so accuracy and cost are read from one file."""

from __future__ import annotations

from typing import Any

import xarray as xr

from .._core.dataset import label

SUMMARY = (
    "energy_per_inference",
    "latency",
    "throughput",
    "area",
    "chips_needed",
    "digital_reference",
    "digital_ratio",
    "tops_per_watt",
)


def cost_summary(costs: xr.Dataset) -> dict[str, Any]:
    """{name: variable} of a `cost` dataset's totals: the `SUMMARY` scalars, and
    `energy_by_component` (component) summed over layers; each keeps its units."""
    out = {name: costs[name] for name in SUMMARY}
    out["energy_by_component"] = costs["energy"].sum("layer")
    return out


def with_cost(ds: xr.Dataset, costs: xr.Dataset) -> xr.Dataset:
    """`ds` with `cost_summary(costs)` and the cost model's name and source attributes."""
    ds = ds.assign(cost_summary(costs))
    label(ds, {"energy_by_component": ("J", "energy per inference, by component")})
    ds.attrs.update(
        cost_model=costs.attrs["cost_model"],
        cost_model_source=costs.attrs["cost_model_source"],
        cost_batch=costs.attrs["batch"],
        cost_t=costs.attrs["t"],
        components=costs.attrs["components"],
    )
    return ds
