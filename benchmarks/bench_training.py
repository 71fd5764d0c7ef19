"""Speed of in-situ training against plain digital SGD, and of a fleet against one chip.

    python benchmarks/bench_training.py [--epochs 5] [--json FILE]

Cases (seconds per epoch of the digits MLP 64-128-10 at batch 16, 84 steps an epoch):
  in_situ_epoch   one gokmen_vlasov chip in the loop (analog forward, gradients through the
                  chip, pulsed updates) vs the same network's plain digital SGD epoch in JAX.
  fleet32_epoch   32 chips trained together in one vmapped run, split over one JAX CPU
                  device per core (`use_cpu_cores`, as `analogsim train` runs), vs one chip
                  on one device.
Epoch times are medians over the epochs after the first (which compiles).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import analogsim as A
from analogsim._train import spec_for, train_in_situ
from analogsim._train_digital import cross_entropy

A.use_cpu_cores()  # one JAX device per core, before JAX starts


def _in_situ_epoch(chips: int, epochs: int) -> float:
    """Median seconds per epoch after the first (which includes compilation). One chip runs
    on one device; a fleet is split over all of them (one per CPU core)."""
    spec, net, data = spec_for("gokmen_vlasov"), A.mlp(), A.load_digits()
    devices = 1 if chips == 1 else None
    out = train_in_situ(spec, net, data, chips=chips, epochs=epochs, devices=devices)
    return statistics.median(out["epoch_seconds"][1:])


def _digital_epoch(repeats: int) -> float:
    net, data = A.mlp(), A.load_digits()
    params = A.init_params(net, key=jax.random.key(0))
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    steps = x.shape[0] // 16
    batches = jnp.arange(steps * 16).reshape(steps, 16)
    opt = optax.sgd(0.2)

    @jax.jit
    def epoch(params, opt_state):
        def step(carry, idx):
            p, s = carry
            g = jax.grad(lambda p: cross_entropy(A.apply_digital(net, p, x[idx]), y[idx]))(p)
            u, s = opt.update(g, s)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (params, opt_state), batches)[0]

    state = (params, opt.init(params))
    jax.block_until_ready(epoch(*state))
    times = []
    for _ in range(max(5, repeats)):
        start = time.perf_counter()
        jax.block_until_ready(epoch(*state))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="digital epochs timed")
    parser.add_argument("--epochs", type=int, default=5, help="in-situ epochs run")
    parser.add_argument("--json")
    args = parser.parse_args()
    digital = _digital_epoch(args.repeats)
    one = _in_situ_epoch(1, args.epochs)
    fleet = _in_situ_epoch(32, args.epochs)
    results = [
        {"case": "in_situ_epoch", "analog_s": one, "digital_s": digital, "ratio": one / digital},
        {
            "case": "fleet32_epoch",
            "analog_s": fleet,
            "digital_s": one,
            "ratio": fleet / one,
            "note": "digital_s here is one chip's in-situ epoch",
        },
    ]
    print(f"{'case':<16}{'analog (s)':>12}{'reference (s)':>15}{'ratio':>8}")
    for r in results:
        print(f"{r['case']:<16}{r['analog_s']:>12.3f}{r['digital_s']:>15.4f}{r['ratio']:>8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
