"""`conductances`: read A's conductances and write them onto each target, device by device."""

from __future__ import annotations

from ..fleet import fleet_write_conductances
from ..run import Run, Strategy, Targets


def run(run: Run, at: Targets) -> None:
    states, cycles, writes = fleet_write_conductances(
        run.spec, at.chips_b, at.g, at.state_a, run.keys_b, run.mesh
    )
    run.record(
        at, "conductances", at.chips_b, states, run.source[at.vi], read_cycles=cycles + at.g_cycles
    )
    run.cost(at, "conductances", device_writes=writes)
    run.bar.update(1)


STRATEGY = Strategy(run)
