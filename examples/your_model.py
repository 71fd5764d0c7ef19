"""Your own JAX model on analog chips: an equinox MLP trained digitally, then programmed on a
fleet of PCM chips with `to_analog` and run by its own code with `analog_call`.

    python examples/your_model.py                  # 16 chips, about 25 s on a 2-core CPU
    python examples/your_model.py --chips 2 --epochs 5

Nothing here is analogsim's own network: any equinox module whose products use
`equinox.nn.Linear` (or, through `where=`, any weight matrix of a function `f(params, x)`)
runs the same way. It prints the fleet's accuracy from 1 second to 1 year after programming.
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=16)
parser.add_argument("--epochs", type=int, default=60)
args = parser.parse_args()

# 1. A user's model, trained digitally on the bundled 8x8 digits (plain equinox and optax).
data = A.load_digits()
x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
model = eqx.nn.MLP(64, 10, 128, 1, activation=jax.nn.relu, key=jax.random.key(0))
opt = optax.adam(3e-3)
state = opt.init(eqx.filter(model, eqx.is_array))


@eqx.filter_jit
def step(model, state, x, y):
    def loss(m):
        logits = jax.vmap(m)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grads = eqx.filter_grad(loss)(model)
    updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), state


for epoch in range(args.epochs):
    order = np.random.default_rng(epoch).permutation(len(x_train))
    for batch in np.array_split(order, len(order) // 64):
        model, state = step(model, state, x_train[batch], y_train[batch])
digital = float(jnp.mean(jnp.argmax(jax.vmap(model)(x_test), -1) == y_test))
print(f"digital test accuracy: {digital:.2%}")

# 2. The same model on a fleet of PCM chips: each chip programs every Linear weight on its own
#    devices (program-and-verify) and runs the model's own __call__, one example at a time.
spec = A.spec_for("pcm")
times = jnp.asarray([1.0, 3600.0, 86400.0, 2592000.0, 31536000.0])


def chip_accuracy(index):
    key = A.chip_key(A.root_key(0), index)
    chip = A.to_analog(model, spec, key=A.stream(key, "program"))

    def at(j, t):
        logits = A.analog_call(chip, x_test, t=t, key=A.stream(key, "read", j), in_axes=0)
        return jnp.mean(jnp.argmax(logits, -1) == y_test)

    return jax.vmap(at)(jnp.arange(times.shape[0]), times)


# one compiled program for the whole fleet: chip i is drawn from its key inside it
acc = np.asarray(jax.jit(jax.vmap(chip_accuracy))(jnp.arange(args.chips))) * 100
print(f"{args.chips} PCM chips, test accuracy % (mean and std over chips)")
labels = ["1 s", "1 h", "1 day", "30 days", "1 year"]
for t, m, s in zip(labels, acc.mean(0), acc.std(0), strict=True):
    print(f"{t:>8}  {m:6.2f}  ({s:.2f})")
