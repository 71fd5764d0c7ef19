"""The training figure: learning curves of a fleet of chips."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .axes import figure_title


def plot_learning_curve(ds: xr.Dataset) -> Figure:
    """Training loss per epoch (one line per chip) and the final test accuracy per chip."""
    loss = ds["loss"].transpose("chip", "epoch").values
    epoch = ds["epoch"].values
    acc = ds["test_accuracy"].values * 100
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    for i, row in enumerate(loss):
        ax1.plot(epoch, row, "o-", ms=3, lw=1, alpha=0.8, label=f"chip {i}" if i < 8 else None)
    ax1.set_yscale("log")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax1.grid(alpha=0.3)
    if loss.shape[0] <= 8:
        ax1.legend(fontsize=7)
    ax2.bar(np.arange(len(acc)), acc, color="tab:blue")
    ax2.set_ylim(max(0.0, acc.min() - 5), 100)
    ax2.set_xlabel("chip")
    ax2.set_ylabel("test accuracy (%)")
    ax2.grid(alpha=0.3, axis="y")
    mode = ds.attrs.get("training_mode", "?")
    fig.suptitle(figure_title(ds, f"{mode} training"), fontsize=10)
    fig.tight_layout()
    return fig
