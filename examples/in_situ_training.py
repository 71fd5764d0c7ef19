"""Learning on the chip: train the digits MLP in situ on one chip and on a small fleet,
compare with hardware-aware training, write your own training loop with optax on a PCM
chip whose devices only move one way, and train RRAM chips by the Tiki-Taka family.

    python examples/in_situ_training.py                      # about 2.5 minutes on a 2-core CPU
    python examples/in_situ_training.py --epochs 1 --chips 2  # smaller, 1-1.5 minutes

Most of the time is compiling (each of the five parts has its own programs), so the smaller
run saves little.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--chips", type=int, default=4)
args = parser.parse_args()

data = A.load_digits()
net = A.mlp((64, 128, 10))

# 1. One chip learns: its weights exist only as its G+ conductances, updated by pulses that
#    each device answers with its own step size, asymmetry and bounds (Gokmen & Vlasov 2016).
spec = A.spec_for("gokmen_vlasov")
one = A.train_in_situ(spec, net, data, chips=1, epochs=args.epochs)
print(
    f"one chip, in situ: test accuracy {one['test_accuracy'][0]:.3f}, {one['pulses'][0]:,} pulses"
)

# 2. A fleet learns in one vmapped run: same start, same data, different chips.
fleet = A.train_in_situ(spec, net, data, chips=args.chips, epochs=args.epochs)
g = np.asarray(fleet["state"].layers[0].devices.g[:, 0])  # (chips, 64, 128) G+ conductances
print(f"{args.chips} chips, in situ: accuracy {np.round(fleet['test_accuracy'], 3)}")
print(f"mean |G+ difference| between chip 0 and chip 1: {np.abs(g[0] - g[1]).mean():.2f} uS")

# 3. The alternative: float weights trained through a fresh noisy PCM chip per batch, then
#    programmed onto chips they have never seen.
hwa = A.train(
    A.spec_for("pcm"), net, data, mode="hardware-aware", chips=args.chips, epochs=3 * args.epochs
)
print(f"hardware-aware on PCM chips: accuracy {np.round(hwa['test_accuracy'].values, 3)}")

# 4. Your own loop: any optax chain whose last link is `device_update`, which fires the pulses
#    and returns the change the devices actually made. PCM only moves up (SET pulses), so each
#    weight is a G+/G- pair climbing on both sides, refreshed (RESET, rewrite) when both are
#    high; mixed-precision updates accumulate each change digitally and fire whole steps only
#    (Nandakumar et al. 2020), which PCM's noisy pulses need.
pcm = A.spec_for("pcm_pulsed", pulse_update="mixed-precision")
root = A.root_key(0)
chip, state = A.init_in_situ(pcm, net, A.init_params(net, key=root), key=A.chip_key(root, 0))
steps = len(data.y_train) // 16
opt = optax.chain(
    optax.clip_by_global_norm(1.0),
    optax.sgd(optax.cosine_decay_schedule(0.1, steps * args.epochs)),
    A.device_update(pcm, chip),
)
opt_state = opt.init(A.internal.opt_init_tree(state))


@jax.jit
def step(state, opt_state, x, y, key):
    grads, loss, _ = A.chip_gradients(pcm, net, chip, state, x, y, key=A.stream(key, "read"))
    changes, opt_state = opt.update(grads, opt_state, state, key=A.stream(key, "update"))
    return optax.apply_updates(state, changes), opt_state


x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
for epoch in range(args.epochs):
    order = jax.random.permutation(A.stream(root, "train", epoch), len(y))
    for s in range(steps):
        batch = order[s * 16 : (s + 1) * 16]
        state, opt_state = step(
            state, opt_state, x[batch], y[batch], A.stream(root, "train", epoch, s)
        )
logits = A.apply_analog(pcm, net, chip, state, jnp.asarray(data.x_test), t=1.0, key=root)
done = opt_state[-1]
print(
    f"one PCM chip, own optax loop: accuracy {A.accuracy(logits, data.y_test):.3f}, "
    f"{int(done.pulses):,} pulses, {int(done.refreshes):,} pair refreshes"
)

# 5. The Tiki-Taka family (Gokmen & Haensch 2020; Rasch et al. 2024): the gradient goes to a
#    fast array first, whose rows are read through the chip into a digital buffer that fires
#    whole pulses at the weights. RRAM's steps are asymmetric and noisy; see
#    docs/learning-algorithms.md for when this beats plain SGD and when it does not.
rram = A.spec_for("reram_es")
for name in ("sgd", "ttv2", "c-ttv2", "agad"):
    out = A.train_in_situ(
        rram, net, data, chips=args.chips, epochs=args.epochs, algorithm=A.get_algorithm(name)
    )
    print(
        f"reram_es by {name}: accuracy {np.round(out['test_accuracy'], 3)}, "
        f"{int(out['pulses'].mean()):,} pulses per chip"
    )

# The same algorithms as the last link of your own optax chain, beside `device_update`:
agad = A.get_algorithm("agad")
chip, state = A.init_in_situ(
    rram, net, A.init_params(net, key=root), key=A.chip_key(root, 0), algorithm=agad
)
opt = optax.chain(optax.sgd(0.2), A.tiki_taka_update(rram, chip, agad, batch=16))
grads, _, _ = A.chip_gradients(rram, net, chip, state, x[:16], y[:16], key=root)
changes, _ = opt.update(grads, opt.init(A.internal.opt_init_tree(state)), state, key=root)
state = optax.apply_updates(state, changes)
print(f"one AGAD step by your own loop: buffer rows read up to {int(state.layers[0].fast.pointer)}")
