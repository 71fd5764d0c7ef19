"""A chip's cost model: the energy, time and area of each event the simulation counts."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import ArrayLike

from device_models._checks import check_int_range, check_nonnegative, check_range

# the energy components of one inference, in the order tables print them
COMPONENTS = {
    "array": "crossbar read: every device's g V^2 for its read time, from the conductances and "
    "the voltages actually applied",
    "dac": "row drivers (input DACs or pulse-width generators), one per row per column tile",
    "adc": "column converters, one conversion per column per row tile per phase",
    "control": "each tile's clocking, sequencing and leakage while it computes",
    "periphery": "digital operations beside the arrays: input scaling, weight scale, bias, "
    "drift compensation, sums of row tiles",
    "memory": "activations read from and written to SRAM, partial sums moved between tiles",
    "digital": "the model's own digital operations outside its analog weights (activations, "
    "norms, attention, residual sums)",
}


ENERGIES = (
    "dac_energy",
    "adc_step_energy",
    "op_energy",
    "mac_energy",
    "sram_bit_energy",
    "write_energy",
    "pulse_energy",
)
TIMES = ("read_time", "readout_time", "write_time", "pulse_time")


class CostModel(eqx.Module):
    """Energy, time and area of each event on one kind of chip, every number cited in the
    preset that sets it (`get_cost_model`). Energies in joules, times in seconds, areas in
    square millimetres; the numbers are traced leaves (sweepable), `phases` and the names
    are static.

    Attributes:
        name: the preset's name; source: what it models, with its citations (static).
        node_nm: the CMOS process node, nanometres (static; informational).
        phases: read phases per product (static): 4 computes each sign of input and weight
            in its own phase (IBM's high-precision mode), 1 all at once.
        reference_bits: the input resolution `read_time` is quoted at (static).
        read_time: full-scale read (integration or pulse-width window) of one phase at
            `reference_bits`, s. Under PWM encoding it doubles with each input bit.
        readout_time: time a phase needs beyond its read window (conversion tail, latching), s.
        dac_energy: one row driven for one phase, J.
        adc_step_energy: ADC energy per conversion step, J: a conversion at b bits costs
            `adc_step_energy * 2**b` (the Walden figure of merit's scaling).
        control_power: one tile's power while it computes, beyond its arrays and converters,
            W (clocking, sequencing, leakage); a tile of another size draws it in proportion
            to its area. A tile draws it whatever share of its rows and columns a layer
            uses: a layer that fills a tile poorly pays for the whole tile.
        op_energy: one digital operation (an add or a multiply at 16 bits) at the node, J.
        mac_energy: one digital multiply-accumulate at 16 bits at the node, J.
        sram_bit_energy: one bit read from or written to local SRAM or moved between tiles, J.
        write_energy: one programming pulse on one device, J; write_time: its duration, s.
        pulse_energy: one in-situ update pulse on one device, J; pulse_time: its duration, s.
        tile_area: one tile of `tile_rows` x `tile_cols` with its converters, mm^2; other
            tile sizes scale the array part with rows x cols and the converters with the
            columns (`array_fraction` of the tile is the array).
        tile_rows, tile_cols: the tile size `tile_area` is quoted at (static).
        array_fraction: share of `tile_area` that is the array itself (0..1).
        tiles_per_chip: tiles one chip holds (static); a model that needs more spans chips.
    """

    name: str = eqx.field(static=True)
    source: str = eqx.field(static=True)
    node_nm: float = eqx.field(static=True)
    phases: int = eqx.field(static=True)
    reference_bits: int = eqx.field(static=True)
    read_time: ArrayLike
    readout_time: ArrayLike
    dac_energy: ArrayLike
    adc_step_energy: ArrayLike
    control_power: ArrayLike
    op_energy: ArrayLike
    mac_energy: ArrayLike
    sram_bit_energy: ArrayLike
    write_energy: ArrayLike
    write_time: ArrayLike
    pulse_energy: ArrayLike
    pulse_time: ArrayLike
    tile_area: ArrayLike
    array_fraction: ArrayLike
    tile_rows: int = eqx.field(static=True)
    tile_cols: int = eqx.field(static=True)
    tiles_per_chip: int = eqx.field(static=True)

    def __check_init__(self) -> None:
        check_int_range("phases", self.phases, 1, 16)
        check_int_range("reference_bits", self.reference_bits, 1, 24)
        check_int_range("tile_rows", self.tile_rows, 1, 1 << 16)
        check_int_range("tile_cols", self.tile_cols, 1, 1 << 16)
        check_int_range("tiles_per_chip", self.tiles_per_chip, 1, 1 << 24)
        for name in ENERGIES:
            check_nonnegative(name, getattr(self, name), unit="J")
        for name in TIMES:
            check_nonnegative(name, getattr(self, name), unit="s")
        check_nonnegative("control_power", self.control_power, unit="W")
        check_nonnegative("tile_area", self.tile_area, unit="mm^2")
        check_range("array_fraction", self.array_fraction, 0.0, 1.0)
