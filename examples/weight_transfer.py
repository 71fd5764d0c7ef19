"""Mortal computation, step by step: chip A learns the digits in situ; what it learned is then
moved to 8 other chips by each strategy, and each target chip's accuracy is measured.

    python examples/weight_transfer.py                # about 3.5 minutes on a 2-core CPU

Most of that time is compiling (every strategy has its own programs), so smaller runs save
little: `--epochs 2` took 2.5-4.5 minutes, `--epochs 1 --chips 2` 2.5 minutes.

`analogsim transfer` runs the whole experiment (every strategy, a sweep over variation, the
figure); this script shows the same steps one by one through the Python API.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--chips", type=int, default=8)
args = parser.parse_args()

data = A.load_digits()
net = A.mlp((64, 128, 10))
spec = A.spec_for("reram_es")  # HfOx RRAM: pulses as Gong et al. 2018, reads as Wan et al. 2022
x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
root = A.root_key(0)

# 1. Chip A learns in situ: its weights exist only as its own conductances.
source = A.train_in_situ(spec, net, data, chips=1, epochs=args.epochs)
chip_a = jax.tree.map(lambda leaf: leaf[0], source["chip"])
state_a = jax.tree.map(lambda leaf: leaf[0], source["state"])
acc_a = float(source["test_accuracy"][0])
print(f"chip A, trained in situ: {acc_a:.1%}")

# 2. The target chips B1..BN: other silicon of the same kind (their own identities).
keys = jax.vmap(lambda i: A.chip_key(A.stream(root, "target"), i))(jnp.arange(args.chips))
chips_b = A.draw_fleet(spec, net.shapes, keys, jnp.ones(args.chips))


def report(name, states, cost):
    acc = A.internal.fleet_state_accuracy(spec, net, chips_b, states, x_test, y_test, keys, 1.0)
    acc = np.asarray(acc)
    print(
        f"{name:>14}: targets {acc.mean():.1%} (min {acc.min():.1%}), loss "
        f"{(acc_a - acc.mean()) * 100:+.1f} points; {cost}"
    )


def each(function, *args, **kwargs):
    """Apply a one-chip write to every target chip (vmap over chips and their keys)."""
    return jax.vmap(lambda chip, key: function(spec, chip, *args, key=key, **kwargs))(chips_b, keys)


# 3. conductances: read every device of A (4 reads averaged), program-and-verify the same
#    values into each B through B's own read-out.
g, reads = A.measure_conductances(spec, chip_a, state_a, key=A.stream(root, "transfer", 0))
states, _, writes = each(A.write_conductances, g, state_a)
report("conductances", states, f"{int(reads)} read cycles on A, {int(writes.mean())} writes")

# 4. weights: probe A's effective weights through its converters, then write each B until
#    B's *measured* effective weights match (program-and-verify one level up).
w, reads = A.measure_weights(spec, chip_a, state_a, key=A.stream(root, "transfer", 1))
copied, _, writes = each(A.write_weights, w, state_a)
report("weights", copied, f"{int(reads)} read cycles on A, {int(writes.mean())} writes")

# 5. distill: each B starts from the weight copy and learns A's output distribution on the
#    training inputs (soft targets at T = 2, no labels), in situ, by pulses.
x = jnp.asarray(data.x_train)
teacher = A.apply_analog(spec, net, chip_a, state_a, x, t=1.0, key=A.stream(root, "read"))
loss = jax.tree_util.Partial(A.distill_loss, temperature=jnp.float32(2.0))
states, _, pulses, _ = A.internal.train_fleet(
    spec,
    net,
    chips_b,
    copied,
    x,
    A.soft_targets(teacher, 2.0),
    keys,
    A.stream(root, "train"),
    epochs=2,
    batch_size=64,
    learning_rate=0.2,
    loss=loss,
)
report("distill", states, f"{int(pulses.mean())} pulses per chip, no labels")

# 6. finetune: the weight copy, then in-situ training on 100 labelled examples.
pick = np.random.default_rng(0).permutation(len(data.y_train))[:100]
states, _, pulses, _ = A.internal.train_fleet(
    spec,
    net,
    chips_b,
    copied,
    x[pick],
    jnp.asarray(data.y_train[pick]),
    keys,
    A.stream(root, "train"),
    epochs=5,
    batch_size=16,
    learning_rate=0.2,
)
report("finetune", states, f"{int(pulses.mean())} pulses per chip, 100 labels")

# 7. The whole experiment, every strategy (hardware-aware and the digital control too) over
#    a variation sweep, is one call; the command line `analogsim transfer` runs it with a
#    figure. Here a small one:
ds = A.transfer(spec, net, data, chips=4, variation=(0.0, 1.0), epochs=args.epochs)
print((ds["transfer_loss"].median("chip") * 100).round(1).to_pandas())
