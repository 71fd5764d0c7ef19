"""The simulate figure: accuracy against time since programming, over a fleet of chips."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .axes import figure_title, time_axis

MAX_CHIP_LINES = 100  # a 10,000-chip fleet is its bands, not 10,000 lines


def plot_accuracy_vs_time(ds: xr.Dataset) -> Figure:
    """Accuracy vs time since programming: median over chips, interquartile and min-max bands,
    each chip as a thin line (the first `MAX_CHIP_LINES`; the bands hold them all), and the
    digital accuracy for reference."""
    acc = ds["accuracy"].transpose("chip", "t").values * 100
    t = ds["t"].values
    t_plot = np.maximum(t, 1e-3)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for row in acc[:MAX_CHIP_LINES]:
        ax.plot(t_plot, row, color="tab:blue", alpha=0.15, lw=0.8)
    q = np.percentile(acc, [0, 25, 50, 75, 100], axis=0)
    ax.fill_between(t_plot, q[0], q[4], color="tab:blue", alpha=0.12, label="min-max over chips")
    ax.fill_between(t_plot, q[1], q[3], color="tab:blue", alpha=0.3, label="interquartile")
    ax.plot(t_plot, q[2], "o-", color="tab:blue", lw=2, label=f"median of {acc.shape[0]} chips")
    if "digital_accuracy" in ds:
        ax.axhline(float(ds["digital_accuracy"]) * 100, color="k", ls="--", lw=1.2, label="digital")
    time_axis(ax, t_plot)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(figure_title(ds, "Accuracy after programming"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig
