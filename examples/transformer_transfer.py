"""Mortal computation at model scale, step by step: a transformer learns on chip A, its
weights are copied to chip B and lose, and chip A teaches chip B instead.

    python examples/transformer_transfer.py            # about 2 minutes on a 2-core CPU
    python examples/transformer_transfer.py --quick    # a check of the code, about 1 minute

It printed (seed 0, nominal reram_es chips, 2,000 test sequences): digital 100.0%; chip A
as written 81.9%, after learning on itself 99.3% (34 million pulses); chip B with A's
weights copied 43.8%; chip B taught by A on 4,000 unlabelled inputs 99.8%. (`--quick`
trains 3 digital epochs, too few for the task: its figures mean nothing.)

`analogsim transfer --model transformer` runs the whole experiment (six strategies, a sweep
over variation, the teaching curves, the bits moved); this script shows its core through the
Python API, on nominal reram_es chips.
"""

import argparse
import time

import jax
import jax.numpy as jnp

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="smaller budgets, for a check")
args = parser.parse_args()
n = 1000 if args.quick else 4000  # chip A's and the teaching's examples

start = time.perf_counter()
data = A.associative_recall()
root = A.root_key(0)
model = A.transformer(vocab=32, length=17, classes=16, key=A.stream(root, "train", 0))
model, _ = A.fit_model(model, data, key=root, epochs=3 if args.quick else 10, weight_decay=0.01)
x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
print(f"digital transformer: {A.model_accuracy(model, x_test, y_test):.1%}")

spec = A.spec_for("reram_es")  # HfOx RRAM: pulses as Gong et al. 2018, reads as Wan et al. 2022
key_a, key_b = A.chip_key(root, 0), A.chip_key(root, 1)


def accuracy(chip, key):
    logits = A.analog_call(chip, x_test, t=1.0, key=key, in_axes=0)
    return float(A.accuracy(logits, y_test))


# 1. Chip A: the weights written once (the in-situ mapping), then it learns on itself by
#    pulses that its own devices answer.
chip_a = A.to_analog(model, spec, key=key_a, method="in-situ", headroom=1.25)
print(f"chip A, as written: {accuracy(chip_a, key_a):.1%}")
taught = A.teach_in_situ(
    chip_a, data.x_train[:n], data.y_train[:n], key=A.stream(key_a, "train"), epochs=1,
    learning_rate=0.05,
)  # fmt: skip
chip_a = taught.chip
print(f"chip A, after learning on itself ({taught.pulses:,} pulses): {accuracy(chip_a, key_a):.1%}")

# 2. Copy what A holds to chip B, as digital weights: B's devices are not A's.
learned = A.from_analog(chip_a)
chip_b = A.to_analog(learned, spec, key=key_b, method="in-situ", headroom=1.25)
print(f"chip B, A's weights copied: {accuracy(chip_b, key_b):.1%}")

# 3. Teach B instead: A's soft outputs on inputs without labels, B learning on itself.
temperature = jnp.float32(2.0)
x = data.x_train[:n]
soft = A.soft_targets(
    A.analog_call(chip_a, jnp.asarray(x), t=1.0, key=key_a, in_axes=0), temperature
)
loss = jax.tree_util.Partial(A.chip_distill_loss, temperature=temperature)
chip_b = A.teach_in_situ(
    chip_b, x, soft, loss=loss, key=A.stream(key_b, "train"), epochs=1, learning_rate=0.05
).chip
print(f"chip B, taught by A on {n} unlabelled inputs: {accuracy(chip_b, key_b):.1%}")
print(f"({time.perf_counter() - start:.0f} s)")
