"""A ResNet on analog chips: the shipped ResNet-8-style CNN learns CIFAR-shaped images
digitally, then runs on a fleet of PCM chips from 1 second to 1 year after programming.

    python examples/resnet_on_chips.py                      # synthetic images, ~3 min here
    python examples/resnet_on_chips.py --dataset cifar10.npz --epochs 30
    python examples/resnet_on_chips.py --chips 2 --epochs 1 --test 100

The default task is `synthetic_images` (Gabor patches with CIFAR-10's shapes, generated here:
nothing is downloaded); `--dataset FILE.npz` takes your own (N, 32, 32, 3) images with
x_train, y_train, x_test, y_test, pixel values in [0, 1]. Every convolution (as im2col
products) and the read-out sit on crossbars; norms, ReLUs, the residual additions and the
pooling stay digital. Writes out/resnet_chips.png.
"""

import argparse
import dataclasses
import time

import jax

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=8)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--dataset", default=None, help="FILE.npz of CIFAR-shaped images")
parser.add_argument("--test", type=int, default=500, help="test images read on each chip")
parser.add_argument("--device", default="pcm")
parser.add_argument("--out", default="out")
args = parser.parse_args()

data = A.synthetic_images() if args.dataset is None else A.load_npz(args.dataset, flatten=False)
data = dataclasses.replace(data, x_test=data.x_test[: args.test], y_test=data.y_test[: args.test])
model = A.resnet(key=jax.random.key(0), classes=data.classes, image=data.input_shape)
start = time.perf_counter()
model, _ = A.fit_model(
    model, data, key=A.root_key(0), epochs=args.epochs, learning_rate=2e-3, progress=True
)
digital = A.model_accuracy(model, data.x_test, data.y_test)
print(f"digital: {digital:.2%} test accuracy after {time.perf_counter() - start:.0f} s")

ds = A.simulate_model(
    A.spec_for(args.device), model, data, name="resnet", chips=args.chips, batch_size=100
)  # one chip per compiled call (the default): about 6 GB at 5 read times
acc = ds["accuracy"].values * 100
labels = ["1 s", "1 h", "1 day", "30 days", "1 year"]
print(f"{args.chips} {args.device} chips, test accuracy % (mean and std over chips)")
for t, m, s in zip(labels, acc.mean(0), acc.std(0), strict=True):
    print(f"{t:>8}  {m:6.2f}  ({s:.2f})")
A.plot_accuracy_vs_time(ds).savefig(f"{args.out}/resnet_chips.png", dpi=150)
print(f"wrote {args.out}/resnet_chips.png")
