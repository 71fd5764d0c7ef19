"""A two-parameter sweep from Python: how stuck devices and read noise together cost accuracy
on PCM chips, a day after programming. Opened and plotted with xarray.

    python examples/sweep_variation.py               # about 35 s on a 2-core CPU
    python examples/sweep_variation.py --chips 4     # a quicker look, 15-20 s

It writes out/sweep.nc and out/sweep.png, and keeps the finished chunks in
out/sweep_chunks_<chips> (`--out` names another folder; it is created).

The same sweep from the command line (resumable: rerun it after Ctrl-C):
    analogsim sweep simulate --param stuck_off_prob=0,0.02,0.05,0.1 \\
        --param read_noise_scale=0:4:5 --param t=86400 --chips 32
"""

import argparse
from pathlib import Path

import xarray as xr

import analogsim as A

parser = argparse.ArgumentParser()
parser.add_argument("--chips", type=int, default=32)
parser.add_argument("--out", default="out", help="folder for sweep.nc and the figure (created)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)  # before the computing, so a bad --out fails at once

data = A.load_digits()
net = A.mlp((64, 128, 10))
params = A.train_digital(net, data, key=A.root_key(0), epochs=30)
spec = A.spec_for("pcm")

# 1. The grid: two traced parameters (one compiled program for all 20 points) and the read
#    time. The same chips at every point, so neighbouring points differ by the parameter.
grid = {
    "stuck_off_prob": [0.0, 0.02, 0.05, 0.1],
    "read_noise_scale": [0.0, 1.0, 2.0, 3.0, 4.0],
    "t": [86400.0],
}
#    Finished chunks are kept in a store: rerun after Ctrl-C and only the rest is computed. A
#    store belongs to one sweep (another --chips is another sweep), hence one per chip count.
store = out / f"sweep_chunks_{args.chips}"
ds = A.sweep_simulate(spec, net, params, data, grid, chips=args.chips, store=store)
A.write_dataset(ds, out / "sweep.nc")

# 2. Open it again and slice it like any labelled array.
ds = xr.load_dataset(out / "sweep.nc")
median = ds["accuracy"].median("chip").sel(t=86400.0) * 100
print("median test accuracy (%) a day after programming:")
print(median.to_pandas().round(1))
worst = ds["accuracy"].min("chip").sel(t=86400.0, stuck_off_prob=0.1) * 100
print("worst chip at 10% stuck-off devices, by read-noise scale:", worst.values.round(1))

# 3. The figure: a heat map of the median over chips (the `analogsim plot` figure).
A.plot_sweep(ds).savefig(out / "sweep.png")
print(f"wrote {out / 'sweep.nc'} and {out / 'sweep.png'}")
