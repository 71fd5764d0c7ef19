"""Scale-out: fleet throughput over 1, 2, 4, 8 devices, and peak memory against fleet size.

    python benchmarks/bench_scale.py [--chips 256] [--repeats 3] [--memory 1000,10000]
                                     [--json FILE]

Throughput: `simulate` of the digits MLP (64-128-10, PCM, read at 1 s and 1 day) on a fixed
fleet, in chip-samples per second (chips x test examples x read times / seconds), timed after
a compiling call, device counts run alternately and the medians compared. On a CPU the
devices are forced host devices (`--xla_force_host_platform_device_count=8`, set here before
JAX starts) sharing the machine's cores; on a GPU or TPU host, the real devices.

Memory: `analogsim simulate --chips N --devices 1` in a fresh process per N, its peak resident
memory (ru_maxrss of the child) and wall time. Chips are drawn inside each compiled chunk of
64 from their keys, so memory should not grow with N beyond the results themselves.
"""

from __future__ import annotations

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
from _record import write_record  # noqa: E402

import analogsim as A  # noqa: E402

TIMES = (1.0, 86400.0)


def throughput(chips: int, repeats: int) -> dict[str, object]:
    spec, net, data = A.spec_for("pcm"), A.mlp(), A.load_digits()
    params = A.train_digital(net, data, key=A.root_key(0), epochs=20)
    counts = [n for n in (1, 2, 4, 8) if n <= jax.device_count()]

    def run(n: int) -> None:
        A.simulate(spec, net, params, data, chips=chips, times=TIMES, chunk_size=chips, devices=n)

    for n in counts:
        run(n)  # compile
    seconds: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(repeats):
        for n in counts:
            started = time.perf_counter()
            run(n)
            seconds[n].append(time.perf_counter() - started)
    samples = chips * data.x_test.shape[0] * len(TIMES)
    rows = {}
    for n in counts:
        median = statistics.median(seconds[n])
        rows[str(n)] = {"seconds": median, "chip_samples_per_s": samples / median}
    return {
        "platform": jax.devices()[0].platform,
        "device_kind": jax.devices()[0].device_kind,
        "chips": chips,
        "chip_samples": samples,
        "by_devices": rows,
    }


def peak_memory(chips: int) -> dict[str, float]:
    """Peak RSS (MiB) and wall time (s) of one `analogsim simulate` over `chips` chips."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "-m",
            "analogsim",
            "simulate",
            "--chips",
            str(chips),
            "--times",
            ",".join(str(t) for t in TIMES),
            "--devices",
            "1",
            "--quiet",
            "--out",
            out,
        ]
        probe = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        done = subprocess.run(
            [sys.executable, "-c", probe, *command], env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        wall, kib = done.stdout.split()
        return {"chips": chips, "peak_rss_mib": int(kib) / 1024, "seconds": float(wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = {"throughput": throughput(args.chips, args.repeats)}
    base = result["throughput"]["by_devices"]["1"]["chip_samples_per_s"]
    print(f"simulate, {args.chips} chips, on {result['throughput']['device_kind']}:")
    for n, row in result["throughput"]["by_devices"].items():
        rate = row["chip_samples_per_s"]
        print(
            f"  {n} device(s): {row['seconds']:.2f} s, {rate:.3g} chip-samples/s "
            f"({rate / base:.2f}x one device)"
        )
    sizes = [int(v) for v in args.memory.split(",") if v.strip()]
    result["memory"] = [peak_memory(n) for n in sizes]
    for row in result["memory"]:
        print(
            f"  {row['chips']} chips: peak memory {row['peak_rss_mib']:.0f} MiB, "
            f"{row['seconds']:.0f} s"
        )
    if args.json:
        write_record(args.json, "bench_scale", result)


if __name__ == "__main__":
    main()
