"""`finetune`: the `weights` copy, then in-situ training on a small labelled budget."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.keys import stream
from ..._nn.digital import cross_entropy
from ..run import Run, Strategy, Targets


def run(run: Run, at: Targets) -> None:
    s = run.settings
    state, cycles, writes = at.copied
    run.cost(at, "finetune", read_cycles=cycles + at.w_cycles, device_writes=writes)
    n = run.data.x_train.shape[0]
    pick = np.asarray(jax.random.permutation(stream(run.root, "transfer", 3, 0), n))
    pick = pick[: s.finetune_examples]
    x, y = jnp.asarray(run.data.x_train[pick]), jnp.asarray(run.data.y_train[pick])
    state = run.teach(
        at, "finetune", state, x, y, s.finetune_epochs, 3, cross_entropy, s.batch_size
    )
    run.record(at, "finetune", at.chips_b, state, run.source[at.vi], labels=len(pick))


STRATEGY = Strategy(run, steps=lambda settings: settings.finetune_epochs)
