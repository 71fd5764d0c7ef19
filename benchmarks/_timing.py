"""Timing shared by the benchmarks: cases run alternately, so machine noise hits all alike."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax


def interleaved(
    *cases: tuple[Callable[..., Any], Sequence[Any]], repeats: int, settle: int = 0
) -> list[list[float]]:
    """Seconds of each timed run of each `(fn, args)` case, after one untimed run of each
    (compilation). The cases take turns, `repeats` timed runs each; with `settle`, each timed
    run follows that many untimed runs of the same case (its caches warm again after the
    others ran)."""
    for fn, args in cases:
        jax.block_until_ready(fn(*args))
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for (fn, args), t in zip(cases, times, strict=True):
            for _ in range(settle):
                jax.block_until_ready(fn(*args))
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            t.append(time.perf_counter() - start)
    return times
