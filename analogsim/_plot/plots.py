"""Figures drawn from the datasets the experiments return (a saved dataset plots again)."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

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


MAX_CHIP_LINES = 100  # a 10,000-chip fleet is its bands, not 10,000 lines


def _time_axis(ax, t: np.ndarray) -> None:
    ax.set_xscale("log")
    lo, hi = float(np.min(t)), float(np.max(t))
    ticks = [(v, s) for v, s in _TIME_TICKS if lo / 1.5 <= v <= hi * 1.5]
    if ticks:
        ax.set_xticks([v for v, _ in ticks], [s for _, s in ticks])
    ax.set_xlabel("time since programming")


def _title(ds: xr.Dataset, what: str) -> str:
    parts = [what, f"device {ds.attrs.get('device', '?')}"]
    if "network" in ds.attrs:
        parts.append(f"network {ds.attrs['network']}")
    if "seed" in ds.attrs:
        parts.append(f"seed {ds.attrs['seed']}")
    return ", ".join(parts)


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
    _time_axis(ax, t_plot)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(_title(ds, "Accuracy after programming"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_device(ds: xr.Dataset) -> Figure:
    """A device's characterization: programming error vs target, the conductance histogram of
    each programmed level (after the write and at the last time), and drift of each level."""
    g = ds["g_target"].values
    t = ds["t"].values
    hist = "prog_density" in ds  # datasets written before the histograms existed have none
    fig = Figure(figsize=(15 if hist else 10, 4))
    axes = fig.subplots(1, 3 if hist else 2)
    ax1, ax2 = axes[0], axes[-1]
    ax1.plot(g, ds["prog_std"].values, "o-", label="std after one write")
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
    _time_axis(ax2, t)
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
    ax.plot([], [], "k-", lw=1, label="after the write")
    ax.plot([], [], "k--", lw=1, label=f"read {last} later")
    ax.set_xlabel("conductance (uS)")
    ax.set_ylabel("density (1/uS)")
    ax.set_title("Conductance per programmed level", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


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
    fig.suptitle(_title(ds, f"{mode} training"), fontsize=10)
    fig.tight_layout()
    return fig


_STRATEGY_STYLE = {
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
    hardware-aware source chip, digital network) and what the target chips reach."""
    return _transfer_lines(ds, "variation", "")


def _x_label(ds: xr.Dataset, name: str) -> str:
    if name == "variation":
        return "device-to-device variation (x preset nominal)"
    return _axis_label(ds, name)


def _transfer_lines(ds: xr.Dataset, x: str, fixed: str) -> Figure:
    """`plot_transfer` against any one swept parameter `x` (others fixed, named in `fixed`)."""
    v = ds[x].values
    strategies = [str(s) for s in ds["strategy"].values]
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for name in strategies:
        color, marker = _STRATEGY_STYLE.get(name, ("tab:gray", "."))
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
    ax2.set_title(_title(ds, "Accuracy") + fixed, fontsize=10)
    ax2.legend(fontsize=8, loc="lower left")
    for ax in (ax1, ax2):
        if x == "variation":
            ax.axvline(1, color="gray", lw=0.8, ls="--")
        ax.set_xlabel(_x_label(ds, x))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _axis_label(ds: xr.Dataset, name: str) -> str:
    unit = ds[name].attrs.get("units", "1")
    return name if unit == "1" else f"{name} ({unit})"


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
    ax.set_xlabel(_x_label(ds, a))
    ax.set_ylabel(_x_label(ds, b))
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
    title = _title(ds, what) + fixed
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
            _time_axis(ax, x)
        else:
            ax.set_xlabel(_x_label(ds, a))
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _transfer_sweep(ds: xr.Dataset, swept: list[str], fixed: str) -> Figure:
    if len(swept) == 1:
        return _transfer_lines(ds, swept[0], fixed)
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
    fig.suptitle(_title(ds, f"Transfer loss, median of {chips} target chips") + fixed, fontsize=11)
    fig.tight_layout()
    return fig


def plot_dataset(ds: xr.Dataset) -> Figure:
    """The natural figure of any dataset analogsim writes (by its `experiment` attribute)."""
    from .chip_map import plot_chip_map

    plots = {
        "chip": plot_chip_map,
        "simulate": plot_accuracy_vs_time,
        "train": plot_learning_curve,
        "transfer": plot_transfer,
        "sweep": plot_sweep,
        "device": plot_device,
        "pulse_response": plot_pulse_response,
    }
    experiment = ds.attrs.get("experiment")
    if experiment not in plots:
        raise ValueError(
            f"not a dataset analogsim wrote (experiment attribute {experiment!r}); "
            f"known: {', '.join(plots)}"
        )
    return plots[experiment](ds)
