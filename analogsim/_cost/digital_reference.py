"""The digital reference: the same network's arithmetic and memory traffic on a digital
processor, from published per-operation energies.

Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm at
0.9 V: 8-bit add 0.03 pJ, 32-bit add 0.1 pJ, 8-bit multiply 0.2 pJ, 32-bit multiply 3.1 pJ;
fp16 add 0.4 pJ, fp32 add 0.9 pJ, fp16 multiply 1.1 pJ, fp32 multiply 3.7 pJ; a 64-bit read
of an 8 KB SRAM 10 pJ; of DRAM 1.3-2.6 nJ.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from device_models._checks import ParameterError

# ISSCC 2014, 45 nm, picojoules
HOROWITZ_PJ = {
    "int8 add": 0.03,
    "int32 add": 0.1,
    "int8 mult": 0.2,
    "int32 mult": 3.1,
    "fp16 add": 0.4,
    "fp32 add": 0.9,
    "fp16 mult": 1.1,
    "fp32 mult": 3.7,
    "sram 8KB read 64 bits": 10.0,
    "dram read 64 bits": 1300.0,  # the low end of 1.3-2.6 nJ: the reference digital's favour
}

Precision = Literal["int8", "fp16", "fp32"]
WeightMemory = Literal["dram", "sram"]


class DigitalCosts(NamedTuple):
    """Energies of the digital reference at one precision, joules.

    Attributes:
        mac: one multiply-accumulate (int8: 8-bit multiply, 32-bit accumulate).
        op: one other arithmetic operation (an add at the accumulator's width).
        bits: bits of one weight or activation.
        sram_bit, weight_bit: one bit of an activation from SRAM; one bit of a weight from
            the weight memory.
    """

    mac: float
    op: float
    bits: int
    sram_bit: float
    weight_bit: float


def digital_costs(precision: Precision = "int8", weights: WeightMemory = "dram") -> DigitalCosts:
    """Horowitz's energies for a digital processor computing at `precision` whose weights
    come from `weights` ("dram": fetched from off-chip memory for every batch; "sram": held
    in an 8 KB-class on-chip SRAM, the most favourable case).

    Raises:
        ParameterError: an unknown precision or weight memory.
    """
    table = {
        "int8": ("int8 mult", "int32 add", 8),
        "fp16": ("fp16 mult", "fp16 add", 16),
        "fp32": ("fp32 mult", "fp32 add", 32),
    }
    if precision not in table:
        raise ParameterError(
            f"digital precision must be one of {', '.join(table)}; got {precision!r}"
        )
    if weights not in ("dram", "sram"):
        raise ParameterError(f"weight memory must be dram or sram; got {weights!r}")
    mult, add, bits = table[precision]
    pj = 1e-12
    sram_bit = HOROWITZ_PJ["sram 8KB read 64 bits"] / 64 * pj
    weight_bit = HOROWITZ_PJ["dram read 64 bits"] / 64 * pj if weights == "dram" else sram_bit
    return DigitalCosts(
        mac=(HOROWITZ_PJ[mult] + HOROWITZ_PJ[add]) * pj,
        op=HOROWITZ_PJ[add] * pj,
        bits=bits,
        sram_bit=sram_bit,
        weight_bit=weight_bit,
    )
