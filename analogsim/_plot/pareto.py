"""The cost figure: test accuracy against energy per inference over a grid of chip settings,
with the Pareto front (no other point is both more accurate and cheaper)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

_MARKERS = "osD^v<>ph*"


def pareto_front(energy: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both counts (lower energy, higher
    accuracy), in order of energy."""
    order = np.lexsort((-accuracy, energy))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.array(front, dtype=int)


def plot_pareto(ds: xr.Dataset) -> Figure:
    """Mean test accuracy against energy per inference, one marker a point of the grid
    (colour: ADC bits, marker: device, size: tile), error bars the spread over chips, the
    Pareto front joined, and the digital reference's energy and accuracy marked."""
    energy = ds["energy_per_inference"].values
    acc = ds["accuracy"].values * 100
    spread = ds["accuracy_std"].values * 100 if "accuracy_std" in ds else None
    bits = ds["adc_bits"].values
    devices = [str(d) for d in ds["device"].values]
    tiles = ds["tile"].values
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    colors = {b: c for b, c in zip(sorted(set(bits)), _palette(len(set(bits))), strict=True)}
    markers = {d: _MARKERS[i % len(_MARKERS)] for i, d in enumerate(dict.fromkeys(devices))}
    sizes = {t: 30 + 50 * i for i, t in enumerate(sorted(set(tiles)))}
    for i in range(len(energy)):
        if spread is not None:
            ax.errorbar(
                energy[i],
                acc[i],
                yerr=spread[i],
                color=colors[bits[i]],
                lw=0.8,
                alpha=0.6,
                zorder=1,
            )
        ax.scatter(
            energy[i],
            acc[i],
            s=sizes[tiles[i]],
            marker=markers[devices[i]],
            color=colors[bits[i]],
            edgecolor="k",
            linewidth=0.5,
            zorder=3,
        )
    front = pareto_front(energy, acc)
    ax.plot(energy[front], acc[front], "k--", lw=1, zorder=2, label="Pareto front")
    for b, c in colors.items():
        ax.scatter([], [], color=c, label=f"{b}-bit ADC")
    for d, m in markers.items():
        ax.scatter([], [], marker=m, color="0.6", edgecolor="k", label=d)
    for t, s in sizes.items():
        ax.scatter([], [], s=s, marker="o", color="none", edgecolor="k", label=f"tile {t}")
    if "digital_accuracy" in ds:
        ax.axhline(
            float(np.ravel(ds["digital_accuracy"].values)[0]) * 100,
            color="k",
            ls=":",
            lw=1,
            label="digital accuracy",
        )
    if "digital_reference" in ds:
        ax.axvline(
            float(np.median(ds["digital_reference"].values)),
            color="tab:red",
            ls=":",
            lw=1,
            label=f"digital energy ({ds.attrs.get('precision', '?')})",
        )
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (J)")
    ax.set_ylabel("test accuracy (%), mean over chips")
    ax.set_title(
        f"Accuracy against energy, {ds.attrs.get('cost_model', '?')} cost model", fontsize=10
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best", ncols=2)
    fig.tight_layout()
    return fig


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.1, 0.9, n)]
