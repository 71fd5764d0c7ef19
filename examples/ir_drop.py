"""Wire resistance (IR drop): the error it causes as tiles grow, and what it does to accuracy.

    python examples/ir_drop.py               # about 9 minutes on a 2-core CPU
    python examples/ir_drop.py --chips 2     # fewer chips per point, about 4 minutes
    python examples/ir_drop.py --quick       # a quick look, 2-2.5 minutes

1. One crossbar solved on its circuit (`solve_crossbar`) against ideal wires (G^T V), for
   tile sizes 32..256 at 1 ohm per segment: the output currents fall short by a fraction that
   grows with the tile, since every cell's current crosses more wire on its way out.
2. The digits MLP on PCM chips whose tiles are read through their wires, swept over the wire
   resistance and the tile size (`sweep_simulate`; one compiled program per tile size).

`--quick` solves tiles of 32 and 64 only and sweeps 2 chips at 32-row tiles and 0 or 10 ohm: it
shows both parts running, not the numbers of the full run.

It writes out/ir_drop.nc and out/ir_drop.png (`--out` names another folder; it is created).
"""

import argparse
from pathlib import Path

import numpy as np

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=None, help="chips per point (8; 2 with --quick)")
parser.add_argument("--out", default="out", help="folder for ir_drop.nc and the figure (created)")
parser.add_argument("--quick", action="store_true", help="small tiles, a small grid, 2 chips")
args = parser.parse_args()
chips = args.chips if args.chips is not None else 2 if args.quick else 8
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)  # before the computing, so a bad --out fails at once

# 1. The error of one read, by tile size (uniform 1-25 uS devices, 64 inputs of 0..0.2 V)
rng = np.random.default_rng(0)
print("tile   mean shortfall of the output current at 1 ohm/segment   CG iterations")
for n in (32, 64) if args.quick else (32, 64, 128, 256):
    g = rng.uniform(1e-6, 25e-6, (n, n)).astype(np.float32)
    v = rng.uniform(0.0, 0.2, (64, n)).astype(np.float32)
    sol = A.solve_crossbar(g, v, 1.0, full_output=True)
    shortfall = 1 - np.asarray(sol.currents) / (v @ g)
    print(
        f"{n:>4}   {shortfall.mean() * 100:>6.2f}%  (worst column {shortfall.max() * 100:.2f}%)"
        f"   {int(np.median(sol.iterations))}"
    )

# 2. Accuracy on chips: PCM, 8-bit converters, read 1 s after programming
data = A.load_digits()
net = A.mlp((64, 128, 10))
params = A.train_digital(net, data, key=A.root_key(0), epochs=30)
spec = A.spec_for("pcm")
grid = {"tile_rows": [32, 64], "wire_resistance": [0.0, 2.0, 10.0, 50.0]}
if args.quick:
    grid = {"tile_rows": [32], "wire_resistance": [0.0, 10.0]}
ds = A.sweep_simulate(spec, net, params, data, grid, chips=chips, progress=True)
A.write_dataset(ds, out / "ir_drop.nc")
median = ds["accuracy"].median("chip") * 100
print("median test accuracy (%) by tile rows (64-input first layer split over row tiles)")
print(median.to_pandas().round(2))
A.plot_sweep(ds).savefig(out / "ir_drop.png")
print(f"wrote {out / 'ir_drop.nc'} and {out / 'ir_drop.png'}")
