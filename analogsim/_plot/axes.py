"""What every figure shares: time axes, titles and axis labels in words and units.

Figures are built without pyplot: no global state, no backend switch, and they display in
notebooks and save from scripts alike.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

# Figures are built without pyplot: no global state, no backend switch, and they display
# in notebooks and save from scripts alike.

_TIME_TICKS = [
    (1.0, "1 s"),
    (60.0, "1 min"),
    (3600.0, "1 h"),
    (86400.0, "1 day"),
    (2592000.0, "1 month"),
    (31536000.0, "1 year"),
    (315360000.0, "10 years"),
]


def time_axis(ax, t: np.ndarray) -> None:
    ax.set_xscale("log")
    lo, hi = float(np.min(t)), float(np.max(t))
    ticks = [(v, s) for v, s in _TIME_TICKS if lo / 1.5 <= v <= hi * 1.5]
    if ticks:
        ax.set_xticks([v for v, _ in ticks], [s for _, s in ticks])
    ax.set_xlabel("time since programming")


def figure_title(ds: xr.Dataset, what: str) -> str:
    parts = [what, f"device {ds.attrs.get('device', '?')}"]
    if "network" in ds.attrs:
        parts.append(f"network {ds.attrs['network']}")
    if "seed" in ds.attrs:
        parts.append(f"seed {ds.attrs['seed']}")
    return ", ".join(parts)


def axis_label(ds: xr.Dataset, name: str) -> str:
    unit = ds[name].attrs.get("units", "1")
    return name if unit == "1" else f"{name} ({unit})"


def x_label(ds: xr.Dataset, name: str) -> str:
    if name == "variation":
        return "device-to-device variation (x preset nominal)"
    return axis_label(ds, name)
