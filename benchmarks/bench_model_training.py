"""Cost of a training step of a user's model in each mode, side by side: the shipped
transformer (2 blocks, 64 wide, 0.1 M weights) on associative recall.

    python benchmarks/bench_model_training.py [--batch 16] [--repeats 20] [--json FILE]

Three steps on the same batch run alternately (medians after compilation):

  digital         grad of the float model's loss, an AdamW update (`fit_model`'s step);
  hardware-aware  the model programmed on a fresh `reram_es` chip (the published procedure)
                  and read through it under grad, an AdamW update;
  in-situ         `model_in_situ_step` on one `reram_es` chip: a forward through the chip,
                  gradients per unit of weight, SGD's change fired as pulses on every device.
"""

from __future__ import annotations

import argparse
import statistics

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from _record import machine, report
from _timing import interleaved  # benchmarks/ (the script's own directory)

import analogsim as A
from analogsim._learn.fit_in_situ import chip_loss
from analogsim._learn.train_model import hardware_aware_model_loss
from analogsim._nn.fit_model import digital_model_loss
from analogsim._nn.workloads import WORKLOADS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    data = A.associative_recall()
    model = WORKLOADS["transformer"].factory(data, key=jax.random.key(0))
    x = jnp.asarray(data.x_train[: args.batch])
    y = jnp.asarray(data.y_train[: args.batch])
    spec = A.spec_for("reram_es")
    key = jax.random.key(1)
    adamw = optax.adamw(1e-3)

    def float_step(loss):
        @eqx.filter_jit
        def step(model, state, x, y, key):
            params, static = eqx.partition(model, eqx.is_inexact_array)
            grads = jax.grad(lambda p: loss(eqx.combine(p, static), x, y, key))(params)
            updates, state = adamw.update(grads, state, params)
            return eqx.combine(optax.apply_updates(params, updates), static), state

        return step

    state = adamw.init(eqx.filter(model, eqx.is_inexact_array))
    digital = float_step(digital_model_loss)
    hardware_aware = float_step(
        jax.tree_util.Partial(hardware_aware_model_loss, spec, jnp.float32(1.0))
    )
    chip = A.to_analog(model, spec, key=A.chip_key(A.root_key(0), 0), method="in-situ")
    sgd = optax.sgd(0.01)
    sgd_state = sgd.init(A.model_weights(chip))

    @eqx.filter_jit
    def in_situ(chip, sgd_state, x, y, key):
        read, pulses = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
        return A.model_in_situ_step(
            chip_loss, chip, sgd, sgd_state, x, y, read, jnp.float32(1.0), key=pulses
        )

    times = interleaved(
        (digital, (model, state, x, y, key)),
        (hardware_aware, (model, state, x, y, key)),
        (in_situ, (chip, sgd_state, x, y, key)),
        repeats=args.repeats,
    )
    d, h, i = (statistics.median(t) for t in times)
    result = {
        "batch": args.batch,
        "weights": sum(w.size for w in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))),
        "digital_step_s": d,
        "hardware_aware_step_s": h,
        "in_situ_step_s": i,
        "hardware_aware_over_digital": h / d,
        "in_situ_over_digital": i / d,
        "in_situ_over_hardware_aware": i / h,
        "repeats": args.repeats,
        "machine": machine(),
    }
    report("bench_model_training", result, args.json)


if __name__ == "__main__":
    jnp.zeros(1)  # start JAX before timing
    main()
