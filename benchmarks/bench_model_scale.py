"""How large a model a chip holds here: a 100M-weight transformer programmed on one chip and
run forward; a 25M-weight one with its devices' identity held or regenerated; and a fleet of
8 chips of it held at once.

    python benchmarks/bench_model_scale.py [--width 1024] [--depth 8] [--small-depth 2]
        [--tokens 512] [--json FILE]

Each case runs in a child process of its own, so its peak resident memory (ru_maxrss) is its
own, with XLA's CPU flag `--xla_cpu_enable_concurrency_optimized_scheduler=false` as the
command line sets it. A case builds the shipped decoder-only transformer (`A.transformer`,
16 heads, sequences of 128 tokens from a vocabulary of 256), programs it with `A.to_analog`
(PCM, program-and-verify, 10 rounds) and runs `A.analog_call` at t = 1 day on `--tokens`
tokens, twice (the first call compiles), then reports:

  program_s    to_analog's wall time (its per-shape compilations included), all chips;
  forward_s    the second forward's wall time, all chips;
  chip_bytes   the bytes of the chips' arrays (identity, state, the digital numbers beside
               them and the model's digital parameters), from the arrays themselves;
  peak_mib     the process's peak resident memory.

Cases: one chip of the `--width` x `--depth` model (identity held); one chip of the
`--width` x `--small-depth` model, its identity held, then regenerated at every product
(`regenerate_identity=True`); 8 chips of that model programmed one after the other and held
together, read one after the other by one compiled forward.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

LENGTH, VOCAB = 128, 256


def case(width: int, depth: int, chips: int, regenerate: bool, tokens: int) -> dict:
    """One case in this process: program `chips` chips, run two forwards, measure."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import analogsim as A

    heads = 16 if width % 16 == 0 else 8
    model = A.transformer(
        vocab=VOCAB, length=LENGTH, classes=VOCAB, width=width, depth=depth, heads=heads,
        key=jax.random.key(0),
    )  # fmt: skip
    weights = sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    spec = A.spec_for("pcm")
    keys = jax.vmap(lambda i: A.chip_key(A.root_key(0), i))(jnp.arange(chips))
    batch = max(1, tokens // LENGTH)
    x = jax.random.randint(jax.random.key(1), (batch, LENGTH), 0, VOCAB)

    def program(k):
        return A.to_analog(model, spec, key=k, regenerate_identity=regenerate)

    def read(chip):
        return A.analog_call(chip, x, t=86400.0, key=jax.random.key(2), in_axes=0)

    forward = eqx.filter_jit(read)
    start = time.perf_counter()
    fleet = [program(k) for k in keys]
    jax.block_until_ready(fleet)
    program_s = time.perf_counter() - start
    jax.block_until_ready(forward(fleet[0]))
    start = time.perf_counter()
    y = jax.block_until_ready([forward(chip) for chip in fleet])
    forward_s = time.perf_counter() - start
    arrays = jax.tree.leaves(eqx.filter(fleet, eqx.is_array))
    return {
        "width": width,
        "depth": depth,
        "chips": chips,
        "regenerate_identity": regenerate,
        "weights": weights,
        "tokens": batch * LENGTH,
        "program_s": program_s,
        "forward_s": forward_s,
        "chip_bytes": sum(a.nbytes for a in arrays),
        "finite": all(bool(jnp.all(jnp.isfinite(v))) for v in y),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_child(*settings) -> dict:
    """`case(*settings)` in a fresh process; its result, or the reason it failed."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import bench_model_scale as b; "
        "print(json.dumps(b.case(*json.loads(sys.argv[2]))))"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    # as the command line runs (analogsim/_cli/main.py): XLA:CPU's concurrency-optimized
    # scheduler would hold every weight's read at once
    env["XLA_FLAGS"] = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
    done = subprocess.run(
        [sys.executable, "-c", code, here, json.dumps(settings)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        return {"settings": settings, "failed": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--small-depth", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from _record import write_record  # benchmarks/ (the script's own directory)

    cases = [
        (args.width, args.depth, 1, False),
        (args.width, args.small_depth, 1, False),
        (args.width, args.small_depth, 1, True),
        (args.width, args.small_depth, 8, False),
    ]
    rows = []
    for width, depth, chips, regenerate in cases:
        row = in_child(width, depth, chips, regenerate, args.tokens)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        write_record(args.json, "bench_model_scale", rows)


if __name__ == "__main__":
    main()
