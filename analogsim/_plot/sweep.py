"""The sweep figures: accuracy or transfer loss against the swept parameters."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .axes import figure_title, time_axis, x_label
from .transfer import transfer_lines


def _heat_map(
    fig: Figure,
    ax,
    ds: xr.Dataset,
    med: xr.DataArray,
    a: str,
    b: str,
    what: str,
    limits: tuple[float, float] | None = None,
):
    """`med` (dims `a`, `b`) as an annotated heat map: `a` across, `b` up; `limits` fixes the
    colour scale (shared between panels)."""
    values = med.transpose(b, a).values
    lo, hi = limits or (float(np.nanmin(values)), float(np.nanmax(values)))
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", vmin=lo, vmax=hi)
    ax.set_xticks(range(ds.sizes[a]), [f"{v:g}" for v in ds[a].values])
    ax.set_yticks(range(ds.sizes[b]), [f"{v:g}" for v in ds[b].values])
    for (i, j), v in np.ndenumerate(values):
        light = (v - lo) > 0.5 * (hi - lo)  # viridis is light at the top of its range
        color = "k" if light else "w"
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xlabel(x_label(ds, a))
    ax.set_ylabel(x_label(ds, b))
    fig.colorbar(image, ax=ax, label=what)


def _fixed(ds: xr.Dataset, names: list[str]) -> str:
    """'; a = 1 uS, ...': the swept parameters a figure shows only at their first value."""
    parts = []
    for n in names:
        unit = ds[n].attrs.get("units", "1")
        parts.append(f"{n} = {float(ds[n][0]):g}" + ("" if unit == "1" else f" {unit}"))
    return "; " + ", ".join(parts) if parts else ""


def plot_sweep(ds: xr.Dataset) -> Figure:
    """A sweep against its swept parameters. simulate and train: test accuracy, one parameter
    as a line (median over chips) with interquartile and min-max bands, two as a heat map of
    the median; transfer: transfer loss per strategy, one parameter as lines with bands (as
    `plot_transfer`), two as one heat map per strategy. Parameters beyond two are shown at
    their first value (named in the title); a swept time is on a log axis."""
    swept = [n for n in json.loads(ds.attrs.get("swept", "[]")) if n in ds.dims]
    first = {n: 0 for n in swept[2:]}
    fixed = _fixed(ds, list(first))
    if "transfer_loss" in ds:
        return _transfer_sweep(ds.isel(first), swept[:2], fixed)
    name = "accuracy" if "accuracy" in ds else "test_accuracy"
    acc = ds[name].isel(first) * 100
    what = "Sweep of " + ds.attrs.get("swept_experiment", "?")
    if ds.attrs.get("swept_experiment") == "train":
        what += f" (in situ, {ds.attrs.get('epochs', '?')} epochs)"
    title = figure_title(ds, what) + fixed
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    if len(swept) >= 2:
        what = f"median test accuracy over {ds.sizes['chip']} chips (%)"
        _heat_map(fig, ax, ds, acc.median("chip"), swept[0], swept[1], what)
    else:
        (a,) = swept
        v = ds[a].values
        x = np.maximum(v, 1e-3) if a == "t" else v
        rows = acc.transpose("chip", a).values
        q = np.percentile(rows, [0, 25, 50, 75, 100], axis=0)
        ax.fill_between(x, q[0], q[4], color="tab:blue", alpha=0.12, label="min-max over chips")
        ax.fill_between(x, q[1], q[3], color="tab:blue", alpha=0.3, label="interquartile")
        ax.plot(x, q[2], "o-", color="tab:blue", lw=2, label=f"median of {rows.shape[0]} chips")
        if "digital_accuracy" in ds:
            ax.axhline(float(ds["digital_accuracy"]) * 100, color="k", ls="--", label="digital")
        if a == "t":
            time_axis(ax, x)
        else:
            ax.set_xlabel(x_label(ds, a))
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _transfer_sweep(ds: xr.Dataset, swept: list[str], fixed: str) -> Figure:
    if len(swept) == 1:
        return transfer_lines(ds, swept[0], fixed)
    a, b = swept
    strategies = [str(s) for s in ds["strategy"].values if s != "digital"] or ["digital"]
    cols = min(3, len(strategies))
    rows = -(-len(strategies) // cols)
    fig = Figure(figsize=(5.2 * cols, 4.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    chips = ds.sizes["chip"]
    med = ds["transfer_loss"].median("chip") * 100
    shown = med.sel(strategy=strategies).values
    limits = (float(np.nanmin(shown)), float(np.nanmax(shown)))  # one scale for all panels
    for ax, name in zip(axes, strategies, strict=False):
        what = "transfer loss (points)"
        _heat_map(fig, ax, ds, med.sel(strategy=name), a, b, what, limits)
        ax.set_title(name, fontsize=10)
    for ax in axes[len(strategies) :]:
        ax.set_visible(False)
    fig.suptitle(
        figure_title(ds, f"Transfer loss, median of {chips} target chips") + fixed, fontsize=11
    )
    fig.tight_layout()
    return fig
