"""A first analogsim script: train a network digitally, program it on analog chips, watch it drift.

python examples/simulate_network.py            # 32 PCM chips, about a minute on a laptop CPU
python examples/simulate_network.py --chips 2 --epochs 2 --out /tmp/ex   # a quick look
"""

import argparse

import jax.numpy as jnp

import analogsim as A
from device_models import PCM

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=32)
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--out", default="out/example")
args = parser.parse_args()

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
fig.savefig(f"{args.out}.png" if not args.out.endswith(".png") else args.out)
print("saved the figure")
