"""Learning on the chip: train the digits MLP in situ on one chip and on a small fleet, and
compare with hardware-aware training.

    python examples/in_situ_training.py                      # ~1 minute on a laptop CPU
    python examples/in_situ_training.py --epochs 1 --chips 2  # a quick look
"""

import argparse

import numpy as np

import analogsim as A
from analogsim._train import spec_for, train, train_in_situ

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--chips", type=int, default=4)
args = parser.parse_args()

data = A.load_digits()
net = A.mlp((64, 128, 10))

# 1. One chip learns: its weights exist only as its G+ conductances, updated by pulses that
#    each device answers with its own step size, asymmetry and bounds (Gokmen & Vlasov 2016).
spec = spec_for("gokmen_vlasov")
one = train_in_situ(spec, net, data, chips=1, epochs=args.epochs)
print(
    f"one chip, in situ: test accuracy {one['test_accuracy'][0]:.3f}, {one['pulses'][0]:,} pulses"
)

# 2. A fleet learns in one vmapped run: same start, same data, different chips.
fleet = train_in_situ(spec, net, data, chips=args.chips, epochs=args.epochs)
g = np.asarray(fleet["state"].layers[0].devices.g[:, 0])  # (chips, 64, 128) G+ conductances
print(f"{args.chips} chips, in situ: accuracy {np.round(fleet['test_accuracy'], 3)}")
print(f"mean |G+ difference| between chip 0 and chip 1: {np.abs(g[0] - g[1]).mean():.2f} uS")

# 3. The alternative: float weights trained through a fresh noisy PCM chip per batch, then
#    programmed onto chips they have never seen.
hwa = train(
    spec_for("pcm"), net, data, mode="hardware-aware", chips=args.chips, epochs=3 * args.epochs
)
print(f"hardware-aware on PCM chips: accuracy {np.round(hwa['test_accuracy'].values, 3)}")
