"""The transfer figure: transfer loss per strategy against the variation (or any swept value)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .axes import figure_title, x_label

STRATEGY_STYLE = {
    "conductances": ("tab:red", "o"),
    "weights": ("tab:orange", "s"),
    "distill": ("tab:green", "^"),
    "finetune": ("tab:purple", "D"),
    "hardware-aware": ("tab:blue", "v"),
    "digital": ("k", "x"),
}


def plot_transfer(ds: xr.Dataset) -> Figure:
    """The weight-transfer experiment. Left: transfer loss (source minus target accuracy,
    points) vs the variation multiplier, one line per strategy (median over target chips) with
    its interquartile band; right: what each strategy copies from (in-situ source chip,
    hardware-aware source chip, digital network) and what the target chips reach. (A model's
    experiment adds teaching curves: `plot_teaching`, and `plot_dataset` draws both.)"""
    return transfer_lines(ds, "variation", "")


def transfer_lines(ds: xr.Dataset, x: str, fixed: str, *, fig: Any = None) -> Figure:
    """`plot_transfer` against any one swept parameter `x` (others fixed, named in `fixed`),
    drawn into `fig` (a figure or subfigure; a new figure when None)."""
    v = ds[x].values
    strategies = [str(s) for s in ds["strategy"].values]
    own = fig is None
    if own:
        fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for name in strategies:
        color, marker = STRATEGY_STYLE.get(name, ("tab:gray", "."))
        loss = ds["transfer_loss"].sel(strategy=name).transpose(x, "chip").values * 100
        q = np.percentile(loss, [25, 50, 75], axis=1)
        ax1.fill_between(v, q[0], q[2], color=color, alpha=0.18, lw=0)
        ax1.plot(v, q[1], marker=marker, color=color, lw=1.8, label=name)
        acc = ds["target_accuracy"].sel(strategy=name).transpose(x, "chip").values
        ax2.plot(v, np.median(acc, axis=1) * 100, marker=marker, color=color, lw=1.2, ls=":")
    ax1.axhline(0, color="k", lw=0.8)
    chips = ds.sizes["chip"]
    ax1.set_title(f"Transfer loss: median and interquartile of {chips} target chips", fontsize=10)
    ax1.set_ylabel("transfer loss (accuracy points)")
    ax1.legend(fontsize=8, title="strategy", title_fontsize=8)
    ax2.plot(v, ds["source_accuracy"].values * 100, "o-", color="k", lw=2, label="source (in situ)")
    src = ds["strategy_source_accuracy"]
    if "hardware-aware" in strategies:
        hwa = src.sel(strategy="hardware-aware").values * 100
        ax2.plot(v, hwa, "v-", color="tab:blue", lw=2, label="source (hardware-aware)")
    if "digital" in strategies:
        ax2.plot(v, src.sel(strategy="digital").values * 100, "k--", lw=1, label="digital")
    ax2.plot([], [], "k:", label="targets (median), colours as left")
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_title(figure_title(ds, "Accuracy") + fixed, fontsize=10)
    ax2.legend(fontsize=8, loc="lower left")
    for ax in (ax1, ax2):
        if x == "variation":
            ax.axvline(1, color="gray", lw=0.8, ls="--")
        ax.set_xlabel(x_label(ds, x))
        ax.grid(alpha=0.3)
    if own:
        fig.tight_layout()
    return fig
