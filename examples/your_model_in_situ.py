"""Your own JAX model learning on a chip: an equinox MLP whose weights live only as one HfOx
RRAM chip's conductances (`reram_es`), trained by pulses in a plain optax loop; then what it
learned copied, as numbers, onto other chips of the same kind.

    python examples/your_model_in_situ.py                 # 10 epochs, 8 copies, about 30 s
    python examples/your_model_in_situ.py --epochs 2 --copies 2

Every forward pass runs through the chip itself (its devices, read noise, converters); the
gradients come from those outputs; optax shapes the desired change and the devices make what
their own steps, bounds and noise allow. The copies are programmed with program-and-verify
from the weights chip 0's conductances hold, and run without further training.
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--copies", type=int, default=8)
args = parser.parse_args()

data = A.load_digits()
x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
spec = A.spec_for("reram_es")  # HfOx RRAM answering pulses (Gong et al. 2018)
root = A.root_key(0)

# 1. A freshly initialized model written once onto chip 0 in the in-situ mapping.
model = eqx.nn.MLP(64, 10, 64, 1, activation=jax.nn.relu, key=jax.random.key(0))
chip = A.to_analog(model, spec, key=A.chip_key(root, 0), method="in-situ")
opt = optax.sgd(0.1)
opt_state = opt.init(A.model_weights(chip))


def loss(chip, x, y, key):
    logits = A.analog_call(chip, x, t=1.0, key=key, in_axes=0)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@eqx.filter_jit
def step(chip, opt_state, x, y, key):
    read, pulses = A.stream(key, "read"), A.stream(key, "update")
    return A.model_in_situ_step(loss, chip, opt, opt_state, x, y, read, key=pulses)


@eqx.filter_jit
def accuracy(chip, key):
    logits = A.analog_call(chip, x_test, t=1.0, key=key, in_axes=0)
    return jnp.mean(jnp.argmax(logits, -1) == y_test)


# 2. Training on the chip: every batch a read, a gradient and a pulse train.
pulses = 0
for epoch in range(args.epochs):
    order = np.random.default_rng(epoch).permutation(len(x_train))
    for i, batch in enumerate(np.array_split(order, len(order) // 32)):
        key = A.stream(root, "train", epoch, i)
        chip, opt_state, value, fired = step(chip, opt_state, x_train[batch], y_train[batch], key)
        pulses += int(fired)
    acc = float(accuracy(chip, A.stream(root, "read", 0, epoch)))
    print(f"epoch {epoch + 1:2d}: loss {float(value):.3f}, chip 0 test accuracy {acc:.2%}")
print(f"{pulses:,} pulses fired")

# 3. What chip 0 learned, as numbers, programmed onto other chips of the same kind.
learned = A.from_analog(chip)


def copy_accuracy(index):
    copy = A.to_analog(learned, spec, key=A.chip_key(root, index))
    return accuracy(copy, A.stream(root, "read", index))


own = float(accuracy(chip, A.stream(root, "read", 0)))
# one compiled program for every copy: chip i is drawn from its key inside it
copies = np.asarray(jax.jit(jax.vmap(copy_accuracy))(jnp.arange(1, args.copies + 1)))
print(f"chip 0, where it learned:      {own:.2%}")
print(
    f"its weights on {args.copies} other chips: {copies.mean():.2%} mean, "
    f"{copies.min():.2%} worst (std {copies.std():.2%})"
)
