"""The device figures: a preset's programmed and read statistics, and its pulse response."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .axes import time_axis


def plot_device(ds: xr.Dataset) -> Figure:
    """A device's characterization: programming error vs target, the conductance histogram of
    each programmed level (after the write and at the last time), and drift of each level."""
    g = ds["g_target"].values
    t = ds["t"].values
    hist = "prog_density" in ds  # datasets written before the histograms existed have none
    fig = Figure(figsize=(15 if hist else 10, 4))
    axes = fig.subplots(1, 3 if hist else 2)
    ax1, ax2 = axes[0], axes[-1]
    procedure = ds.attrs.get("procedure", "open-loop")  # older datasets: one open-loop write
    after = "one write" if procedure == "open-loop" else "programming as published"
    working = " (working devices)" if "stuck_on_fraction" in ds else ""
    ax1.plot(g, ds["prog_std"].values, "o-", label=f"std after {after}{working}")
    ax1.plot(g, ds["prog_mean"].values - g, "s--", label="mean error (mean - target)")
    ax1.axhline(0, color="k", lw=0.8)
    ax1.set_xlabel("target conductance (uS)")
    ax1.set_ylabel("conductance (uS)")
    ax1.set_title("Programming error", fontsize=10)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    cmap = matplotlib.colormaps["viridis"]
    shown = g[1:] if len(g) > 1 else g
    for i, level in enumerate(shown):
        j = int(np.argmin(np.abs(g - level)))
        color = cmap(i / max(len(shown) - 1, 1))
        m = ds["read_mean"].values[j]
        s = ds["read_std"].values[j]
        ax2.plot(t, m, "o-", color=color, ms=3, label=f"{level:.1f} uS")
        ax2.fill_between(t, m - s, m + s, color=color, alpha=0.15)
    time_axis(ax2, t)
    ax2.set_ylabel("read conductance (uS), mean +- std")
    ax2.set_title("Drift and read noise", fontsize=10)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7, ncol=2, title="target", title_fontsize=7)
    if hist:
        _level_histograms(axes[1], ds, shown, cmap)
    n = ds.attrs.get("devices_per_point", "?")
    fig.suptitle(f"Device {ds.attrs.get('device', '?')}: {n} devices per point", fontsize=11)
    fig.tight_layout()
    return fig


def _level_histograms(ax, ds: xr.Dataset, shown: np.ndarray, cmap) -> None:
    """One conductance density per programmed level: after the write (solid, filled) and at
    the last read time (dashed)."""
    g = ds["g"].values
    targets = ds["g_target"].values
    for i, level in enumerate(shown):
        j = int(np.argmin(np.abs(targets - level)))
        color = cmap(i / max(len(shown) - 1, 1))
        prog = ds["prog_density"].values[j]
        ax.fill_between(g, prog, color=color, alpha=0.25, lw=0)
        ax.plot(g, prog, color=color, lw=1)
        ax.plot(g, ds["read_density"].values[j], color=color, lw=1, ls="--")
    last = _fmt_seconds(float(ds["t"].values[-1]))
    ax.plot([], [], "k-", lw=1, label="programmed")
    ax.plot([], [], "k--", lw=1, label=f"read {last} later")
    _mark_stuck(ax, ds)
    ax.set_xlabel("conductance (uS)")
    ax.set_ylabel("density (1/uS)")
    ax.set_title("Conductance per programmed level", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _mark_stuck(ax, ds: xr.Dataset) -> None:
    """Stuck devices apart from the working devices' densities: a line where they sit, with
    their share of all devices (datasets written before stuck devices were counted: none)."""
    for kind, color in (("on", "tab:red"), ("off", "tab:gray")):
        name = f"stuck_{kind}_fraction"
        if name not in ds:
            continue
        fraction = float(ds[name].values.mean())
        where = ds[f"stuck_{kind}_g"].values
        if fraction == 0.0 or not np.isfinite(where).any():
            continue
        ax.axvline(float(np.nanmean(where)), color=color, lw=1.5, ls=":")
        ax.plot(
            [], [], color=color, lw=1.5, ls=":", label=f"stuck {kind}: {fraction:.2%} of devices"
        )


def _fmt_seconds(t: float) -> str:
    """A time as people say it: 1 year, 30 days, 1 h, 20 s."""
    for value, name in [(31536000.0, "year"), (86400.0, "day"), (3600.0, "h"), (60.0, "min")]:
        if t >= value:
            n = t / value
            plural = "s" if name in ("year", "day") and n != 1 else ""
            return f"{n:g} {name}{plural}"
    return f"{t:g} s"


def plot_pulse_response(ds: xr.Dataset) -> Figure:
    """Conductance vs pulse number for several devices of one chip, up then down."""
    g = ds["conductance"].values
    pulse = ds["pulse"].values
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    for i, row in enumerate(g):
        ax.plot(pulse, row, lw=0.8, color=cmap(i % 10), label=f"device {i}" if i < 10 else None)
    turn = int(np.argmax(ds["direction"].values < 0))
    if turn > 0:
        ax.axvline(pulse[turn], color="k", ls=":", lw=1)
        ax.text(pulse[turn], ax.get_ylim()[1], " down pulses", va="top", fontsize=8)
        ax.text(pulse[0], ax.get_ylim()[1], " up pulses", va="top", fontsize=8)
    ax.set_xlabel("pulse number")
    ax.set_ylabel("conductance (uS)")
    ax.set_title(
        f"Pulse response, {ds.attrs.get('device', '?')}: {g.shape[0]} devices of one chip",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
