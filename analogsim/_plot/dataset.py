"""The natural figure of any dataset analogsim writes, chosen by its experiment."""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .chip_map import plot_chip_map
from .device import plot_device, plot_pulse_response
from .simulate import plot_accuracy_vs_time
from .sweep import plot_sweep
from .teaching import transfer_figure
from .train import plot_learning_curve


def plot_dataset(ds: xr.Dataset) -> Figure:
    """The natural figure of any dataset analogsim writes (by its `experiment` attribute)."""
    plots = {
        "chip": plot_chip_map,
        "simulate": plot_accuracy_vs_time,
        "train": plot_learning_curve,
        "transfer": transfer_figure,
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
