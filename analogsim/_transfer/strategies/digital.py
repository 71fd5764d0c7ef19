"""`digital`: the control. Float weights trained once, copied bit for bit to every replica:
the transfer loss is exactly 0."""

from __future__ import annotations

import jax
import numpy as np

from ..._core.keys import stream
from ..._nn.digital import accuracy, train_digital
from ..._nn.networks import apply_digital
from ..run import Run, Strategy, Targets


def run(run: Run, at: Targets) -> None:
    if "digital" not in run.memo:
        params = train_digital(run.net, run.data, key=stream(run.root, "transfer", 5))
        replicas = [jax.tree.map(np.copy, params) for _ in range(run.chips)]
        for replica in replicas:
            for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(replica), strict=True):
                if not np.array_equal(a, b):
                    raise AssertionError("a digital replica differs from its source")
        source = float(accuracy(apply_digital(run.net, params, run.x_test), run.y_test))
        target = np.array(
            [accuracy(apply_digital(run.net, r, run.x_test), run.y_test) for r in replicas],
            np.float32,
        )
        run.memo["digital"] = (source, target)
    source, target = run.memo["digital"]
    si = run.strategies.index("digital")
    run.target[at.vi, si] = target
    run.strategy_source[at.vi, si] = source
    run.bar.update(1)


STRATEGY = Strategy(run)
