"""A first analogsim script: train a network digitally, program it on analog chips, watch it drift.

    python examples/simulate_network.py                        # 40-60 s on a 2-core CPU
    python examples/simulate_network.py --chips 2 --epochs 2   # a quick look, about 30 s

It writes the figure to out/example.png (`--out` names another folder; it is created).
"""

import argparse
from pathlib import Path

import jax.numpy as jnp

import analogsim as A
from device_models import PCM

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=32)
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--out", default="out", help="folder for the figure (created)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)  # before the computing, so a bad --out fails at once

# 1. Train the digits MLP (64-128-10) digitally: these are the weights we will program.
data = A.load_digits()
net = A.mlp((64, 128, 10))
params = A.train_digital(net, data, key=A.root_key(0), epochs=args.epochs)
digital = A.accuracy(A.apply_digital(net, params, jnp.asarray(data.x_test)), data.y_test)
print(f"digital test accuracy: {float(digital):.3f}")

# 2. One chip: its identity comes from its key; program the weights and read an hour later.
spec = A.HardwareSpec(device=PCM())  # 8-bit DAC/ADC, 256x256 tiles, all variation nominal
key = A.chip_key(A.root_key(0), 0)
chip = A.make_chip(spec, net.shapes, key=A.stream(key, "identity"))
state = A.program_chip(spec, chip, params, key=A.stream(key, "program"))
logits = A.apply_analog(
    spec, net, chip, state, jnp.asarray(data.x_test), t=3600.0, key=A.stream(key, "read")
)
print(f"chip 0, one hour after programming: {float(A.accuracy(logits, data.y_test)):.3f}")

# 3. A fleet: every chip its own identity, read from one second to one year.
ds = A.simulate(spec, net, params, data, chips=args.chips, times=[1.0, 3600.0, 86400.0, 3.15e7])
print(ds["accuracy"].mean("chip").to_series().rename("mean accuracy over chips"))
fig = A.plot_accuracy_vs_time(ds)
fig.savefig(out / "example.png")
print(f"wrote {out / 'example.png'}")
