"""The chip-map figure: one layer of one chip's identity as images."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure


def plot_chip_map(ds: xr.Dataset) -> Figure:
    """One layer of one chip as images: read gain, stuck devices (G+ left, G- right), each
    device's own conductance range and I-V nonlinearity, its pulse step (pulsed) or drift rank,
    and the converters' gains along the rows and columns."""
    fig = Figure(figsize=(14, 7.6))
    axes = fig.subplots(2, 3).ravel()
    plus = {k: ds[k].sel(pair="G+").values for k in ("read_gain", "g_max", "iv_nonlinearity")}

    gain = plus["read_gain"]
    spread = max(float(np.abs(gain - 1).max()), 1e-6)
    _image(fig, axes[0], gain, "read gain, G+ devices", "RdBu_r", 1 - spread, 1 + spread)

    stuck = np.concatenate([ds["stuck"].sel(pair=p).values for p in ("G+", "G-")], axis=1)
    colors = matplotlib.colors.ListedColormap(["tab:blue", "whitesmoke", "tab:red"])
    axes[1].imshow(stuck, cmap=colors, vmin=-1.5, vmax=1.5, aspect="auto", interpolation="none")
    cols = ds.sizes["col"]
    axes[1].axvline(cols - 0.5, color="k", lw=1)
    on = float((ds["stuck"] > 0).mean()) * 100
    off = float((ds["stuck"] < 0).mean()) * 100
    axes[1].set_title(
        f"stuck devices: G+ | G-  (red on {on:.1f}%, blue off {off:.1f}%)", fontsize=9
    )
    axes[1].set_xlabel("column (G+ then G-)")
    axes[1].set_ylabel("row (input)")

    g = plus["g_max"]
    _image(fig, axes[2], g, "own g_max, G+ devices (uS)", "viridis", g.min(), g.max())
    k = plus["iv_nonlinearity"]
    _image(fig, axes[3], k, "I-V nonlinearity k, G+ devices", "PuOr", -1.0, 1.0)
    if "dw_up" in ds:
        step = ds["dw_up"].values
        _image(fig, axes[4], step, "up-pulse step, G+ devices", "magma", 0.0, step.max())
    else:
        z = ds["drift_z"].sel(pair="G+").values
        bound = max(float(np.abs(z).max()), 1e-6)
        _image(fig, axes[4], z, "drift rank, G+ devices (sigma)", "coolwarm", -bound, bound)

    ax = axes[5]
    ax.plot(ds["adc_gain"].values.T, color="tab:orange", lw=0.8)
    ax.plot(ds["dac_gain"].values.T, color="tab:green", lw=0.8)
    ax.plot([], [], color="tab:orange", label="ADC gain per column")
    ax.plot([], [], color="tab:green", label="DAC gain per row")
    ax.axhline(1, color="k", lw=0.6)
    ax.set_xlabel("column or row index")
    ax.set_ylabel("gain")
    ax.set_title("converters", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = ds.sizes["row"]
    fig.suptitle(
        f"Chip {ds.attrs.get('chip', '?')} of seed {ds.attrs.get('seed', '?')}, device "
        f"{ds.attrs.get('device', '?')}: layer {ds.attrs.get('layer', '?')} "
        f"({rows} x {cols} differential pairs)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def _image(fig: Figure, ax, values: np.ndarray, title: str, cmap: str, lo: float, hi: float):
    if lo == hi:  # no spread at all (variation 0): one colour, a readable colour bar
        lo, hi = lo - 0.5, hi + 0.5
    image = ax.imshow(values, cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="none")
    fig.colorbar(image, ax=ax)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column (output)")
    ax.set_ylabel("row (input)")
