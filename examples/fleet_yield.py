"""A fleet of 10,000 PCM chips: the distribution of accuracy over chips, now and a year on.

How many chips of a production run would ship? With a fleet this large the tails are
measured, not guessed: the worst 1% of chips and the share within 1 point of the digital
network. The fleet is split over every device JAX sees (`devices=` to limit), and memory
stays flat whatever the fleet size: each compiled chunk draws its chips from their keys.

    python examples/fleet_yield.py                   # about 2.5 minutes on a 2-core CPU
    python examples/fleet_yield.py --chips 500       # a quicker look, about 20 s

It writes out/fleet.nc (the accuracy of every chip) and out/fleet_yield.png (`--out` names
another folder; it is created).
"""

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=10_000)
parser.add_argument("--devices", type=int, default=None, help="default: every device")
parser.add_argument("--out", default="out", help="folder for fleet.nc and the figure (created)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)  # before the computing, so a bad --out fails at once

data = A.load_digits()
net = A.mlp((64, 128, 10))
params = A.train_digital(net, data, key=A.root_key(0), epochs=60)
times = (1.0, 31536000.0)  # 1 s and 1 year after programming
ds = A.simulate(
    A.spec_for("pcm"),
    net,
    params,
    data,
    chips=args.chips,
    times=times,
    devices=args.devices,
    progress=True,
)
A.write_dataset(ds, out / "fleet.nc")

digital = float(ds["digital_accuracy"]) * 100
acc = ds["accuracy"].values * 100  # (chip, t)
print(f"{args.chips} PCM chips, digital accuracy {digital:.2f}%")
print(f"{'read at':>8}{'median':>9}{'worst 1%':>10}{'worst':>8}{'within 1 pt':>13}")
for j, label in enumerate(("1 s", "1 year")):
    a = acc[:, j]
    within = np.mean(a >= digital - 1.0) * 100
    print(
        f"{label:>8}{np.median(a):>8.2f}%{np.percentile(a, 1):>9.2f}%{a.min():>7.2f}%"
        f"{within:>12.1f}%"
    )

fig = Figure(figsize=(6.4, 4.0))
ax = fig.subplots()
# accuracies come in steps of one test digit: bins two steps wide, edges between steps
step = 100.0 / data.x_test.shape[0]
bins = np.arange(acc.min() - step / 2, acc.max() + 2 * step, 2 * step)
for j, (label, color) in enumerate((("1 s", "tab:blue"), ("1 year", "tab:red"))):
    ax.hist(acc[:, j], bins=bins, color=color, alpha=0.55, label=f"read {label} after writing")
ax.axvline(digital, color="k", ls="--", lw=1.2, label="digital network")
ax.set_xlabel("test accuracy (%)")
ax.set_ylabel("chips")
ax.set_yscale("log")
ax.set_title(f"digits MLP on {args.chips:,} PCM chips")
ax.legend(loc="upper left", fontsize=8)
fig.savefig(out / "fleet_yield.png", dpi=150, bbox_inches="tight")
print(f"wrote {out / 'fleet.nc'} and {out / 'fleet_yield.png'}")
