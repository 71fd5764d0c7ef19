"""One layout for every benchmark's JSON record: what ran, where, with which JAX, and when.

{"benchmark": "bench_forward", "date": "2026-12-03T12:00:00+00:00",
 "machine": {"platform": ..., "processor": ..., "cpus": 2, "backend": "cpu",
             "devices": ["cpu:0", ...]},
 "python": "3.11.7", "jax": "0.10.2", "jaxlib": "0.10.2", "analogsim": "0.2.0",
 "command": "python benchmarks/bench_forward.py --json ...", "results": ...}
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from typing import Any


def machine() -> dict[str, Any]:
    """The machine and the JAX backend this process runs on."""
    import jax

    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
    }


def record(benchmark: str, results: Any) -> dict[str, Any]:
    """`results` with the shared header: machine, versions, date (UTC) and command line."""
    import jax
    import jaxlib

    import analogsim

    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "analogsim": analogsim.__version__,
        "command": " ".join(["python", *sys.argv]),
        "results": results,
    }


def write_record(path: str, benchmark: str, results: Any) -> None:
    """Write `record(benchmark, results)` as indented JSON to `path`."""
    with open(path, "w") as f:
        json.dump(record(benchmark, results), f, indent=1)
        f.write("\n")


def report(benchmark: str, results: dict[str, Any], path: str | None) -> None:
    """Print `results` one per line (the machine left to the JSON) and, with a `path`,
    write its record there."""
    width = max(len(k) for k in results) + 2
    for k, v in results.items():
        if k != "machine":
            print(f"{k:>{width}}: {v:.4g}" if isinstance(v, float) else f"{k:>{width}}: {v}")
    if path:
        write_record(path, benchmark, results)
