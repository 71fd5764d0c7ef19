"""The published figures each cost preset is checked against, and the product that checks
them: a full tile's matrix-vector multiply as the chips' papers quote it."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax

from .._chip.presets import spec_for
from .._chip.spec import HardwareSpec
from .._model.convert import to_analog
from .chip_costs import CostModel
from .estimate import cost
from .presets import get_cost_model


class Published(NamedTuple):
    """One chip's reported figures for 8-bit matrix-vector multiplies at full utilization.

    Attributes:
        chip: what was measured; source: where it is reported.
        preset: the cost preset and its overrides that model it.
        tiles: tiles computing at once (the chip's cores).
        tops, tops_per_watt, tops_per_mm2: the reported figures (None: not reported).
        fitted: the figures the preset was fitted to (the others are predictions).
    """

    chip: str
    source: str
    preset: str
    overrides: dict[str, Any]
    tiles: int
    tops: float | None
    tops_per_watt: float | None
    tops_per_mm2: float | None
    fitted: tuple[str, ...]


PUBLISHED = (
    Published(
        "IBM 64-core PCM chip, one-phase mode",
        "Le Gallo et al., Nat. Electron. 6:680, 2023",
        "hermes",
        {},
        64,
        63.1,
        9.76,
        None,
        ("tops", "tops_per_watt"),
    ),
    Published(
        "IBM 64-core PCM chip, four-phase mode",
        "Le Gallo et al., Nat. Electron. 6:680, 2023",
        "hermes",
        {"phases": 4},
        64,
        16.1,
        2.48,
        None,
        (),
    ),
    Published(
        "HERMES core (single-core test chip)",
        "Khaddam-Aljameh et al., IEEE JSSC 57:1027, 2022",
        "hermes",
        {},
        1,
        None,
        10.5,
        1.59,
        ("tops_per_mm2",),
    ),
)


def reference_spec(costs: CostModel) -> HardwareSpec:
    """The spec the presets are checked on: IBM's PCM devices read by 8-bit PWM inputs
    into 8-bit ADCs, tiles of the cost model's size."""
    return spec_for(
        "pcm",
        input_encoding="pwm",
        dac_bits=8,
        adc_bits=8,
        tile_rows=costs.tile_rows,
        tile_cols=costs.tile_cols,
    )


def reference_mvm(costs: CostModel, *, vectors: int = 64, seed: int = 0) -> dict[str, float]:
    """One full tile of random weights (uniform in +-1, written open-loop) reading `vectors`
    random inputs (uniform in +-1), costed by `cost`: {"energy": J a product, "time": s a
    product, "ops": 2 x rows x cols, "tops_per_watt", "tops_per_mm2" (one tile)}."""
    spec = reference_spec(costs)
    keys = jax.random.split(jax.random.key(seed), 3)
    layer = eqx.nn.Linear(costs.tile_rows, costs.tile_cols, use_bias=False, key=keys[0])
    w = jax.random.uniform(keys[1], layer.weight.shape, minval=-1.0, maxval=1.0)
    layer = eqx.tree_at(lambda m: m.weight, layer, w)
    x = jax.random.uniform(keys[2], (vectors, costs.tile_rows), minval=-1.0, maxval=1.0)
    chip = to_analog(layer, spec, key=keys[0], method="open-loop")
    ds = cost(spec, chip, x, key=keys[0], cost_model=costs)
    energy = float(ds["energy"].sel(layer=ds.layer[0]).sum())
    time = 1.0 / float(ds["throughput"])
    ops = 2.0 * costs.tile_rows * costs.tile_cols
    return {
        "energy": energy,
        "time": time,
        "ops": ops,
        "tops_per_watt": ops / energy / 1e12,
        "tops_per_mm2": ops / time / float(ds["area"]) / 1e12,
    }


def published_table() -> list[dict[str, Any]]:
    """Each published figure beside the model's: rows of {"chip", "source", "figure",
    "published", "modelled", "ratio" (modelled / published), "fitted"}."""
    rows, products = [], {}
    for entry in PUBLISHED:
        # the 64-core chip's one-phase mode and its core are the same cost model: one product
        which = (entry.preset, tuple(sorted(entry.overrides.items())))
        if which not in products:
            products[which] = reference_mvm(get_cost_model(entry.preset, **entry.overrides))
        mvm = products[which]
        modelled = {
            "tops": entry.tiles * mvm["ops"] / mvm["time"] / 1e12,
            "tops_per_watt": mvm["tops_per_watt"],
            "tops_per_mm2": mvm["tops_per_mm2"],
        }
        for figure in ("tops", "tops_per_watt", "tops_per_mm2"):
            published = getattr(entry, figure)
            if published is None:
                continue
            rows.append(
                {
                    "chip": entry.chip,
                    "source": entry.source,
                    "figure": figure,
                    "published": published,
                    "modelled": modelled[figure],
                    "ratio": modelled[figure] / published,
                    "fitted": figure in entry.fitted,
                }
            )
    return rows
