"""The transfer strategies as compiled programs over a fleet of target chips.

Each function is module-level and compiled once per shape; spec numbers (the variation
multiplier among them) are traced, so a variation sweep reuses every program. Each takes the
`mesh` its chips are split over (`fleet_vmap`; None: one device). The source
chip is measured once; each target chip is then written from that one measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
from jax.sharding import Mesh
from jaxtyping import Array

from .._chip.forward import apply_analog
from .._chip.identity import ChipIdentity, make_chip
from .._chip.program import program_chip_counted
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState
from .._core.keys import stream
from .._fleet.mesh import fleet_vmap
from .._nn.networks import Network
from .copy import measure_conductances, measure_weights, write_conductances, write_weights


@eqx.filter_jit
def draw_fleet(
    spec: HardwareSpec,
    shapes: Sequence[tuple[int, int]],
    keys: Array,
    variation: Array,
    mesh: Mesh | None = None,
) -> ChipIdentity:
    """The identities of chips `keys` (chips,) at variation multipliers `variation` (chips,),
    drawn as `init_in_situ` draws them (from `stream(key, "identity")`)."""
    one = lambda k, v: make_chip(
        dataclasses.replace(spec, variation=v), shapes, key=stream(k, "identity")
    )
    return fleet_vmap(one, mesh)(keys, variation)


@eqx.filter_jit
def measure_source(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    x: Array,
    key: Array,
    *,
    reads: int,
    probes: int,
) -> tuple[list[Array], Array, list[Array], Array, Array]:
    """Everything the strategies measure on the source chip, once.

    Returns:
        (conductances per layer (2, rows, cols) uS, their read cycles, effective weights per
        layer (rows, cols), their read cycles, the source's logits on `x`), from
        `stream(key, "transfer", 0 | 1 | 2)` respectively.
    """
    g, g_cycles = measure_conductances(
        spec, chip, state, key=stream(key, "transfer", 0), reads=reads
    )
    w, w_cycles = measure_weights(spec, chip, state, key=stream(key, "transfer", 1), probes=probes)
    logits = apply_analog(spec, net, chip, state, x, t=1.0, key=stream(key, "transfer", 2))
    return g, g_cycles, w, w_cycles, logits


@eqx.filter_jit
def fleet_write_conductances(
    spec: HardwareSpec,
    chips: ChipIdentity,
    conductances: list[Array],
    digital: ChipState,
    keys: Array,
    mesh: Mesh | None = None,
) -> tuple[ChipState, Array, Array]:
    """`write_conductances` on every chip (leading axis), chip c from `stream(keys[c],
    "transfer", 0)`; returns (states, read cycles (chips,), device writes (chips,))."""
    one = lambda chip, k: write_conductances(
        spec, chip, conductances, digital, key=stream(k, "transfer", 0)
    )
    return fleet_vmap(one, mesh)(chips, keys)


@eqx.filter_jit
def fleet_write_weights(
    spec: HardwareSpec,
    chips: ChipIdentity,
    weights: list[Array],
    digital: ChipState,
    keys: Array,
    *,
    probes: int,
    mesh: Mesh | None = None,
) -> tuple[ChipState, Array, Array]:
    """`write_weights` on every chip, chip c from `stream(keys[c], "transfer", 1)`."""
    one = lambda chip, k: write_weights(
        spec, chip, weights, digital, key=stream(k, "transfer", 1), probes=probes
    )
    return fleet_vmap(one, mesh)(chips, keys)


@eqx.filter_jit
def fleet_program(
    spec: HardwareSpec,
    chips: ChipIdentity,
    params: Sequence[dict[str, Array]],
    keys: Array,
    mesh: Mesh | None = None,
) -> tuple[ChipState, Array]:
    """Program-and-verify the same digital weights onto every chip, chip c from
    `stream(keys[c], "transfer", 4)`; returns (states, device writes (chips,))."""
    one = lambda chip, k: program_chip_counted(
        spec, chip, params, key=stream(k, "transfer", 4), method="verify"
    )
    return fleet_vmap(one, mesh)(chips, keys)
