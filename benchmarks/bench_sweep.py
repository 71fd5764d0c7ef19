"""Speed of a sweep against one vmapped call over as many chips.

    python benchmarks/bench_sweep.py [--repeats 5] [--json FILE]

Case `sweep7x64`: a 7-value sweep of `variation` x 64 PCM chips of `simulate` (digits MLP
64-128-10, read at 1 s) through `sweep_simulate`, against one `fleet_accuracy` call over
448 chips at a fixed variation. Both are timed after their first (compiling) call, run
alternately, and the medians compared. Also counts the traces of the sweep's program.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from _record import write_record

import analogsim as A
import analogsim._sweep.simulate as S
from analogsim._fleet.fleet import fleet_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    spec, net, data = A.spec_for("pcm"), A.mlp(), A.load_digits()
    params = A.train_digital(net, data, key=A.root_key(0), epochs=20)
    grid = {"variation": [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]}
    x, y = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    times = jnp.asarray([1.0], jnp.float32)
    indices = jnp.arange(448, dtype=jnp.uint32)

    traces = []
    real = S.chip_accuracy
    S.chip_accuracy = lambda *a, **k: traces.append(1) or real(*a, **k)

    def sweep() -> None:
        S.sweep_simulate(spec, net, params, data, grid, chips=64)

    def one_call() -> None:
        jax.block_until_ready(
            fleet_accuracy(spec, net, params, A.root_key(0), indices, times, x, y)
        )

    sweep(), one_call()  # compile
    compiled_traces = len(traces)
    a, b = [], []
    for _ in range(args.repeats):
        for fn, out in ((sweep, a), (one_call, b)):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    result = {
        "sweep7x64_s": statistics.median(a),
        "fleet448_s": statistics.median(b),
        "ratio": statistics.median(a) / statistics.median(b),
        "sweep_traces": compiled_traces,
        "repeats": args.repeats,
    }
    print(
        f"sweep 7 x 64: {result['sweep7x64_s']:.2f} s, one call over 448 chips: "
        f"{result['fleet448_s']:.2f} s, ratio {result['ratio']:.2f} (goal <= 1.5); "
        f"the sweep's program traced {compiled_traces} time(s)"
    )
    if args.json:
        write_record(args.json, "bench_sweep", result)


if __name__ == "__main__":
    main()
