"""What moving a chip's knowledge costs: the transfer experiment's counts (read cycles,
device writes, update pulses, bits copied) in joules and seconds on the target chip."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._chip.mapping import conductance_span
from .._chip.spec import HardwareSpec
from .._core.dataset import label
from .chip_costs import CostModel
from .digital_reference import digital_costs
from .estimate import layer_energy, mvm_time


def read_cycle_energy(spec: HardwareSpec, costs: CostModel) -> float:
    """One input vector on one array of a full tile, J: its row drivers, its column
    converters, its share of the tile's control, and its devices at mid-span conductance
    driven at full scale (an upper estimate: real inputs and weights are mostly smaller)."""
    rows, cols = spec.tile_rows, spec.tile_cols
    g_lo, g_hi = conductance_span(spec)
    load = rows * cols * float(g_lo + g_hi) / 2  # one array's devices at full scale, uS
    parts = layer_energy(spec, costs, (rows, cols), 1, load)
    # a product reads both arrays of its pairs in one go: half the tile's converters and
    # control are this array's
    return float(parts["array"] + (parts["dac"] + parts["adc"] + parts["control"]) / 2)


def with_strategy_cost(ds: xr.Dataset, spec: HardwareSpec, costs: CostModel) -> xr.Dataset:
    """A transfer dataset with `strategy_energy` (J) and `strategy_time` (s) over its
    (variation, strategy, chip) counts, priced on `costs`: read cycles at
    `read_cycle_energy` and half a tile product's time each; device writes and update
    pulses at the cost model's energies, a tile row's columns at once; the digital control's
    `bits_moved` (when the dataset has it) read from DRAM at Horowitz's energy."""
    e_cycle = read_cycle_energy(spec, costs)
    t_cycle = float(mvm_time(spec, costs)) / 2
    parallel = spec.tile_cols
    energy = (
        ds["read_cycles"] * e_cycle
        + ds["device_writes"] * float(costs.write_energy)
        + ds["update_pulses"] * float(costs.pulse_energy)
    )
    time = (
        ds["read_cycles"] * t_cycle
        + ds["device_writes"] * float(costs.write_time) / parallel
        + ds["update_pulses"] * float(costs.pulse_time) / parallel
    )
    if "bits_moved" in ds and "digital" in ds["strategy"].values:
        bits = float(ds["bits_moved"].sel(strategy="digital"))
        digital = bits * digital_costs("int8", "dram").weight_bit
        is_digital = ds["strategy"] == "digital"
        energy = xr.where(is_digital, digital, energy)
        time = xr.where(is_digital, 0.0, time)
    ds = ds.assign(strategy_energy=energy.astype(np.float64), strategy_time=time.astype(np.float64))
    label(
        ds,
        {
            "strategy_energy": ("J", "energy the strategy spends on chip A and the target"),
            "strategy_time": ("s", "time the strategy takes, one tile at a time"),
        },
    )
    ds.attrs.update(
        strategy_cost_model=costs.name,
        read_cycle_energy=e_cycle,
    )
    return ds


def strategy_summary(ds: xr.Dataset) -> list[tuple[str, float, float]]:
    """(strategy, median energy J, median time s) at the largest variation value."""
    v = ds["variation"].values[-1]
    rows: list[tuple[str, Any, Any]] = []
    for s in ds["strategy"].values:
        e = float(ds["strategy_energy"].sel(strategy=s, variation=v).median())
        t = float(ds["strategy_time"].sel(strategy=s, variation=v).median())
        rows.append((str(s), e, t))
    return rows
