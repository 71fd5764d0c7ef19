"""The teaching figure of a model's transfer experiment: what a target chip reaches as it is
taught, against the examples taught and against the bits moved, beside the copies."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure

from .transfer import STRATEGY_STYLE, transfer_lines

TEACHER_STYLE = {"distill": "-", "finetune": "--"}


def plot_teaching(ds: xr.Dataset) -> Figure:
    """The teaching curves of `transfer_model` (raises ValueError without `distill` or
    `finetune` among its strategies). Left: target accuracy (median over chips,
    interquartile band for `distill`) against the examples taught, one line per teacher and
    variation value, with the `digital` copy and each variation's `conductances` copy as
    reference lines. Right: the same against the
    information moved (bits, `taught_bits`), with every copy as a point at its own bits."""
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    draw_teaching(ds, fig)
    return fig


def transfer_figure(ds: xr.Dataset) -> Figure:
    """A transfer dataset's whole figure (`plot_dataset`'s): `plot_transfer`'s panels, and
    below them `plot_teaching`'s when the run recorded teaching curves."""
    if "taught_accuracy" not in ds or ds.sizes["teacher"] == 0:
        return transfer_lines(ds, "variation", "")
    fig = Figure(figsize=(11, 8.8), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    transfer_lines(ds, "variation", "", fig=top)
    draw_teaching(ds, bottom)
    return fig


def draw_teaching(ds: xr.Dataset, fig: Any) -> None:
    """`plot_teaching`'s panels, drawn into `fig` (a figure or subfigure)."""
    if "taught_accuracy" not in ds or ds.sizes["teacher"] == 0:
        raise ValueError("no teaching curves: the run had neither distill nor finetune")
    ax1, ax2 = fig.subplots(1, 2)
    variation = ds["variation"].values
    colors = colormaps["viridis"](np.linspace(0.0, 0.85, len(variation)))
    strategies = [str(s) for s in ds["strategy"].values]
    for vi, v in enumerate(variation):
        color = colors[vi]
        for ti, teacher in enumerate(str(t) for t in ds["teacher"].values):
            acc = ds["taught_accuracy"].values[vi, ti] * 100  # (point, chip)
            q = np.nanpercentile(acc, [25, 50, 75], axis=1)
            examples = ds["examples_taught"].values[ti]
            bits = ds["taught_bits"].values[ti]
            style = TEACHER_STYLE.get(teacher, ":")
            label = f"{teacher}, variation {v:g}"
            for ax, x in ((ax1, examples), (ax2, bits)):
                ax.plot(x, q[1], style, color=color, lw=1.8, marker=".", label=label)
                if teacher == "distill":
                    ax.fill_between(x, q[0], q[2], color=color, alpha=0.15, lw=0)
        if "conductances" in strategies:
            copied = ds["target_accuracy"].sel(strategy="conductances").values[vi]
            ax1.axhline(np.median(copied) * 100, color=color, lw=1, ls=":")
        for name in strategies:
            if name in TEACHER_STYLE:
                continue
            c, marker = STRATEGY_STYLE.get(name, ("tab:gray", "."))
            acc = np.median(ds["target_accuracy"].sel(strategy=name).values[vi]) * 100
            bits = float(ds["bits_moved"].sel(strategy=name))
            ax2.plot([bits], [acc], marker=marker, ms=8, mfc=color, mec=c, mew=1.5, ls="none")
    if "digital" in strategies:
        digital = float(np.median(ds["target_accuracy"].sel(strategy="digital").values)) * 100
        ax1.axhline(digital, color="k", lw=1.2, ls="--", label="digital copy (all at once)")
    ax1.plot([], [], "k:", lw=1, label="conductance copy (colour: variation)")
    for name in strategies:
        if name not in TEACHER_STYLE:
            c, marker = STRATEGY_STYLE.get(name, ("tab:gray", "."))
            ax2.plot(
                [], [], marker=marker, mec=c, mfc="w", mew=1.5, ls="none", label=f"{name} copy"
            )
    taught = ds["examples_taught"].values
    ax1.set_xscale("symlog", linthresh=max(1, int(taught[taught > 0].min(initial=1))))
    ax1.set_xlabel("examples taught to the target")
    ax2.set_xscale("log")
    every = np.concatenate([ds["taught_bits"].values.ravel(), ds["bits_moved"].values])
    ax2.set_xlim(every.min() / 2, every.max() * 2)  # the copies cluster within a decade
    ax2.set_xlabel("information moved from chip A (bits)")
    chips = ds.sizes["chip"]
    ax1.set_title(f"Teaching a target chip: median of {chips} chips", fontsize=10)
    ax2.set_title("Accuracy against the bits moved", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_ylabel("target test accuracy (%)")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=7, loc="lower right")
    ax2.legend(fontsize=7, loc="lower right")
