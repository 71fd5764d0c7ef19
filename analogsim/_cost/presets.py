"""Cost models of published chips, and which one a hardware spec runs on by default.

Every number is cited, derived from cited figures (the derivation given), or an assumption
said as such. The published figures each preset is checked against are in `PUBLISHED`.
"""

from __future__ import annotations

import dataclasses

from device_models._checks import ParameterError

from .._chip.presets import nearest, preset_name
from .._chip.spec import HardwareSpec
from .chip_costs import CostModel

# Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm at 0.9 V, scaled to a node by
# C V^2 (energy ~ feature size x supply^2): an assumption, stated where it is used
HOROWITZ_NODE_NM, HOROWITZ_SUPPLY_V = 45.0, 0.9


def node_factor(node_nm: float, supply_v: float) -> float:
    """Energy of a digital operation at `node_nm` and `supply_v` relative to Horowitz's 45 nm
    at 0.9 V, taking energy as C V^2 with C proportional to the feature size."""
    return (node_nm / HOROWITZ_NODE_NM) * (supply_v / HOROWITZ_SUPPLY_V) ** 2


_F14 = node_factor(14.0, 0.8)  # 0.8 V: an assumed supply for 14 nm logic

HERMES = CostModel(
    name="hermes",
    source=(
        "IBM's 64-core PCM chip, 14 nm, 256 x 256 cores, 8-bit PWM inputs, 256 CCO ADCs a "
        "core (Le Gallo et al., Nat. Electron. 6:680, 2023; cores: Khaddam-Aljameh et al., "
        "IEEE JSSC 57:1027, 2022), one-phase read mode"
    ),
    node_nm=14.0,
    phases=1,
    reference_bits=8,
    # 8-bit PWM window: aihwkit's HERMES noise model reads for 512 ns in four phases
    read_time=128e-9,
    # one-phase MVM 64 cores x 2 x 256^2 ops / 63.1 TOPS = 133 ns (Le Gallo 2023), less
    # the 128 ns window
    readout_time=5e-9,
    # a row (source) line, 256 cells at 4 um pitch, ~0.2 pF, switched from an assumed
    # 0.8 V supply to V_read 0.2 V: C V_dd V_read (an estimate)
    dac_energy=0.03e-12,
    # Kull et al., IEEE JSSC 48:3049, 2013: 8-bit 1.2 GS/s SAR ADC at 3.1 mW, 2.6 pJ a
    # conversion, 10.1 fJ per step (32 nm; not scaled)
    adc_step_energy=3.1e-3 / 1.2e9 / 256,
    # fitted: the one-phase product's 13.43 nJ (2 x 256^2 ops / 9.76 TOPS/W) less the
    # itemized parts of `reference_mvm` (3.22 nJ: array 2.1, ADCs 0.66, SRAM 0.24, digital
    # 0.15), over its 133 ns: 10.21 nJ / 133 ns (checked in tests/test_cost.py)
    control_power=76.8e-3,
    # Horowitz 2014 fp16 add 0.4 pJ, fp16 multiply + add 1.5 pJ, 8 KB SRAM 10 pJ / 64 bits,
    # scaled to 14 nm
    op_energy=0.4e-12 * _F14,
    mac_energy=1.5e-12 * _F14,
    sram_bit_energy=10e-12 / 64 * _F14,
    # PCM programming: order of 10 pJ a pulse of ~100 ns (an assumption of the order of
    # published RESET/SET figures; write ~100 ns, Hindawi J. Nanomater. 2013 Table 4)
    write_energy=10e-12,
    write_time=100e-9,
    pulse_energy=10e-12,
    pulse_time=100e-9,
    # HERMES core: 1.59 TOPS/mm^2 at 2 x 256^2 ops / 133 ns = 0.986 TOPS -> 0.62 mm^2
    # (Khaddam-Aljameh 2022); half of it the array (an assumption)
    tile_area=(2 * 256**2 / 133e-9) / 1.59e12,
    array_fraction=0.5,
    tile_rows=256,
    tile_cols=256,
    tiles_per_chip=64,
)
COST_PRESETS: dict[str, CostModel] = {"hermes": HERMES}

# the cost model a spec built from a device preset runs on when none is named
DEFAULT_FOR_DEVICE = {"pcm": "hermes", "pcm_pulsed": "hermes"}


def get_cost_model(name: str, **overrides: object) -> CostModel:
    """The cost preset `name`, with `overrides` (field values, e.g. `phases=4`).

    Raises:
        ParameterError: an unknown preset (naming the nearest) or field.
    """
    if name not in COST_PRESETS:
        known = sorted(COST_PRESETS)
        raise ParameterError(
            f"unknown cost model {name!r}{nearest(str(name), known)}; known: {', '.join(known)}"
        )
    fields = {f.name for f in dataclasses.fields(CostModel)}
    for key in overrides:
        if key not in fields:
            raise ParameterError(f"unknown cost model field {key!r}{nearest(key, sorted(fields))}")
    return dataclasses.replace(COST_PRESETS[name], **overrides)


def cost_model_for(spec: HardwareSpec, chip: str | None = None, **overrides: object) -> CostModel:
    """The cost preset `chip` when named, else the one of the chip `spec`'s device preset comes
    from; with `overrides` (`get_cost_model`).

    Raises:
        ParameterError: no `chip` and the device has no cost model (naming it and the presets
            there are); an unknown `chip` or field.
    """
    if chip is not None:
        return get_cost_model(chip, **overrides)
    device = preset_name(spec)
    if device not in DEFAULT_FOR_DEVICE:
        raise ParameterError(
            f"hardware spec {device!r} has no cost model: name one "
            f"({', '.join(sorted(COST_PRESETS))}) to cost it on that chip's periphery"
        )
    return get_cost_model(DEFAULT_FOR_DEVICE[device], **overrides)
