"""`hardware-aware`: weights trained off-chip against this variation's chip statistics, then
written with program-and-verify (no pulses) onto A's and each target's devices."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from ..._chip.spec import HardwareSpec
from ..._core.keys import stream
from ..._fleet.fleet import take
from ..._fleet.mesh import to_host
from ..._learn.hardware_aware import train_hardware_aware_sweep
from ..copy import verify_read_cycles
from ..fleet import draw_fleet, fleet_program
from ..run import Run, Strategy, Targets


def run(run: Run, at: Targets) -> None:
    v = run.variation[at.vi]
    spec = deploy_spec(run.spec, v)
    if "hardware-aware" not in run.memo:  # all variation values at once, in one batched run
        run.memo["hardware-aware"] = train_hardware_aware_sweep(
            spec,
            run.net,
            run.data,
            run.variation,
            key=stream(run.root, "transfer", 4),
            epochs=run.settings.hardware_aware_epochs,
        )[0]
    params = take(run.memo["hardware-aware"], at.vi)
    # A and the targets as one fleet (A first): one compiled program for all of them
    keys = jnp.concatenate([run.key_a[None], run.keys_b])
    chips = draw_fleet(spec, run.net.shapes, keys, jnp.full((run.chips + 1,), v), run.mesh)
    states, writes = fleet_program(spec, chips, params, keys, run.mesh)
    acc = to_host(run.accuracy(chips, states, keys, spec))
    si = run.strategies.index("hardware-aware")
    run.target[at.vi, si] = acc[1:]
    run.strategy_source[at.vi, si] = acc[0]
    writes = to_host(writes)[1:]
    rows = sum(r for r, _ in run.net.shapes)
    run.cost(at, "hardware-aware", device_writes=writes, read_cycles=verify_read_cycles(rows))
    run.bar.update(1)


def deploy_spec(spec: HardwareSpec, variation: float) -> HardwareSpec:
    """The spec for weights deployed by programming rather than pulses: the same devices and
    periphery, no pulse response (so each G+ device spans its full range), drift
    compensation as in `spec`'s deployments (on), at `variation`."""
    return dataclasses.replace(
        spec, pulse_response=None, drift_compensation=True, variation=jnp.float32(variation)
    )


STRATEGY = Strategy(run)
