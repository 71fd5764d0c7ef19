"""`weights`: measure A's effective weights through its read-out, and program each target to
match them through its own read-out (program-and-verify against the target's measurement)."""

from __future__ import annotations

from ..run import Run, Strategy, Targets


def run(run: Run, at: Targets) -> None:
    states, cycles, writes = at.copied
    run.record(
        at, "weights", at.chips_b, states, run.source[at.vi], read_cycles=cycles + at.w_cycles
    )
    run.cost(at, "weights", device_writes=writes)
    run.bar.update(1)


STRATEGY = Strategy(run)
