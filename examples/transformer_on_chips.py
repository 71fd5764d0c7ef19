"""A transformer on analog chips: the shipped decoder-only transformer learns associative
recall digitally, then runs on fleets of chips of three device technologies, from 1 second
to 1 year after programming.

    python examples/transformer_on_chips.py             # 16 chips per device, ~5 min here
    python examples/transformer_on_chips.py --chips 2 --epochs 2 --devices pcm

Every attention projection, MLP and the read-out sit on crossbars (`to_analog`'s default:
every equinox Linear); embeddings, norms and attention scores stay digital. Writes
out/transformer_chips.png and the trained model (out/transformer.eqx, reloadable with
`analogsim simulate --model transformer --weights out/transformer.eqx`).
"""

import argparse
import time

import jax
import numpy as np
from matplotlib.figure import Figure

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=16)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--devices", default="pcm,rram,reram_es")
parser.add_argument("--out", default="out")
args = parser.parse_args()

# 1. The task and the model: 8 key-value pairs, then a query key; answer its value.
data = A.associative_recall()
model = A.transformer(vocab=32, length=17, classes=16, key=jax.random.key(0))
start = time.perf_counter()
model, losses = A.fit_model(
    model, data, key=A.root_key(0), epochs=args.epochs, weight_decay=0.01, progress=True
)
digital = A.model_accuracy(model, data.x_test, data.y_test)
print(f"digital: {digital:.2%} held-out accuracy after {time.perf_counter() - start:.0f} s")
A.save_model(f"{args.out}/transformer.eqx", model, {"model": "transformer", "dataset": "recall"})

# 2. The same weights on a fleet of chips of each device (chip i = the same key everywhere).
fig = Figure(figsize=(6.4, 4.2))
ax = fig.subplots()
labels = ["1 s", "1 h", "1 day", "30 days", "1 year"]
print(f"{'device':>9}  " + "".join(f"{t:>15}" for t in labels))
colors = ["tab:blue", "tab:orange", "tab:red", "tab:green", "tab:purple"]
for device, color in zip(args.devices.split(","), colors, strict=False):
    ds = A.simulate_model(
        A.spec_for(device), model, data, name="transformer", chips=args.chips, batch_size=500
    )
    acc = ds["accuracy"].values * 100
    t = ds["t"].values
    cells = [f"{m:6.2f} ({s:.2f})" for m, s in zip(acc.mean(0), acc.std(0), strict=True)]
    print(f"{device:>9}  " + "".join(f"{c:>15}" for c in cells))
    q = np.percentile(acc, [25, 50, 75], axis=0)
    band = "interquartile over chips" if color == colors[0] else None
    ax.fill_between(t, q[0], q[2], color=color, alpha=0.25, label=band)
    ax.plot(t, q[1], "o-", color=color, label=f"{device}: median of {args.chips} chips")
ax.axhline(digital * 100, color="k", ls="--", lw=1.2, label="digital")
ax.set_xscale("log")
ax.set_xticks(t, labels)
ax.set_xlabel("time since programming")
ax.set_ylabel("held-out recall accuracy (%)")
ax.set_title("Transformer (2 blocks, 64 wide) on associative recall, on chips", fontsize=10)
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
fig.savefig(f"{args.out}/transformer_chips.png", dpi=150)
print(f"mean (std) over chips, %; wrote {args.out}/transformer_chips.png")
