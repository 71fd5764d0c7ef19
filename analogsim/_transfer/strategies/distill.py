"""`distill`: each target learns in situ from A's outputs (soft targets, no labels), starting
from the `weights` copy or from scratch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..._learn.distill import distill_loss, soft_targets
from ..._learn.in_situ_fleet import init_fleet
from ..run import Run, Strategy, Targets


def run(run: Run, at: Targets) -> None:
    s = run.settings
    if s.distill_start == "weights":
        state, cycles, writes = at.copied
        run.cost(at, "distill", read_cycles=cycles + at.w_cycles, device_writes=writes)
    else:
        _, state = init_fleet(run.spec, run.net, run.params0, run.keys_b, at.v, run.members)
        writes = 2 * sum(np.prod(shape) for shape in run.net.shapes)
        run.cost(at, "distill", device_writes=writes)
    temperature = jnp.float32(s.temperature)
    targets = soft_targets(at.logits, temperature)
    x = jnp.asarray(run.data.x_train[: s.distill_examples])
    loss = jax.tree_util.Partial(distill_loss, temperature=temperature)
    state = run.teach(
        at, "distill", state, x, targets, s.distill_epochs, 2, loss, s.distill_batch_size
    )
    # the teacher's outputs: each input once through both arrays of every source layer
    run.record(at, "distill", at.chips_b, state, run.source[at.vi])
    run.cost(at, "distill", read_cycles=x.shape[0] * 2 * len(run.net.shapes))


STRATEGY = Strategy(run, steps=lambda settings: settings.distill_epochs)
