"""Wall time of the default `analogsim transfer --model transformer` (the issue's goal: at most
10 minutes on 2 CPU cores), with its peak memory and the result it prints.

    python benchmarks/bench_model_transfer.py [--json FILE] [-- extra transfer options]

Runs the command line in a child process (as a user runs it: compilation, digital training,
chip A at each variation value, every strategy on every target) and records its wall time,
the child's peak resident memory, and the median transfer loss per strategy and variation.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr
from _record import machine, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--model", default="transformer")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "analogsim", "transfer", "--model", args.model,
                   "--quiet", "--out", out, *extra]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"the run failed ({done.returncode}):\n{done.stderr[-2000:]}")
        print(done.stdout)
        ds = xr.load_dataset(Path(out) / "transfer.nc")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    loss = (ds["transfer_loss"].median("chip") * 100).round(2)
    result = {
        "command": " ".join(["analogsim", *command[3:]]).replace(out, "OUT"),
        "wall_s": seconds,
        "goal_s": 600.0,
        "peak_rss_gb": peak,
        "chips": int(ds.sizes["chip"]),
        "variation": [float(v) for v in ds["variation"].values],
        "source_accuracy": [float(a) for a in ds["source_accuracy"].values],
        "median_transfer_loss_points": {
            str(s): [float(x) for x in loss.sel(strategy=s).values] for s in ds["strategy"].values
        },
        "machine": machine(),
    }
    report("bench_model_transfer", result, args.json)


if __name__ == "__main__":
    main()
