"""Speed of the crossbar solver against scipy's sparse direct solve of the same systems.

    python benchmarks/bench_crossbar.py [--sizes 32,64,128,256,512,1024] [--repeats 5]
                                        [--scipy-max 512] [--json FILE]

Each case: a batch of 64 input vectors (0..0.2 V) on an n x n array of 1-25 uS devices at
1 ohm per wire segment. `solve_crossbar` (float32, tol 1e-6, output currents only, as scipy's
side returns) is timed after its compiling call, median of `--repeats`; its iterations are
those it took to reach a relative residual of 1e-6 (read from a `full_output` call).

The reference is scipy's fastest way to the same 64 answers: one LU factorization of the
nodal matrix (`splu`) and 64 back-solves. Only the solve is timed: the matrix and right-hand
sides are assembled before the clock starts (the assembly's time is reported on its own).
It runs in float64 and in float32 (the solver's precision), each with its best column
ordering: every `permc_spec` in `ORDERINGS` is tried once and the fastest is then timed
(median of `--repeats`). Also reported: the largest output-current difference between the
solver and the float64 reference, relative to the largest current; the IR drop
(1 - I / I_ideal) the wires cause; and the fast approximate mode (`iterations=k`,
k = 1, 2, 3): its time and its largest error against the exact solve.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from _record import write_record

import analogsim as A


def nodal_matrix(g: np.ndarray, r: float) -> tuple[sp.csc_matrix, np.ndarray]:
    """The crossbar's conductance matrix over [u (row nodes), v (column nodes)], row-major
    node order, and the driver conductance per row (the right-hand side is g_r V at each
    row's first node)."""
    m, n = g.shape
    gw = 1.0 / r
    idx_u = np.arange(m * n).reshape(m, n)
    idx_v = idx_u + m * n
    rows, cols, vals = [], [], []

    def couple(a: np.ndarray, b: np.ndarray, c: np.ndarray | float) -> None:
        c = np.broadcast_to(c, a.shape).ravel()
        a, b = a.ravel(), b.ravel()
        rows.extend([a, b, a, b])
        cols.extend([a, b, b, a])
        vals.extend([c, c, -c, -c])

    couple(idx_u[:, :-1], idx_u[:, 1:], gw)  # row segments
    couple(idx_v[:-1, :], idx_v[1:, :], gw)  # column segments
    couple(idx_u, idx_v, g)  # devices
    diag = np.zeros(2 * m * n)
    diag[idx_u[:, 0]] += gw  # driver segments
    diag[idx_v[-1, :]] += gw  # sense segments
    matrix = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(2 * m * n, 2 * m * n),
    )
    return (matrix + sp.diags(diag)).tocsc(), idx_u[:, 0]


ORDERINGS = ("COLAMD", "MMD_AT_PLUS_A", "MMD_ATA")


def reference_system(
    g: np.ndarray, v: np.ndarray, r: float, dtype: type
) -> tuple[sp.csc_matrix, np.ndarray]:
    """The nodal matrix and the 64 right-hand sides, in `dtype`, ready to solve."""
    matrix, first = nodal_matrix(g, r)
    m, n = g.shape
    rhs = np.zeros((2 * m * n, v.shape[0]))
    rhs[first] = v.T / r
    return matrix.astype(dtype), rhs.astype(dtype)


def reference_solve(matrix: sp.csc_matrix, rhs: np.ndarray, m: int, n: int, r: float, ordering):
    """Factorize, back-solve, and read the currents into the sense resistors (64, n)."""
    nodes = spla.splu(matrix, permc_spec=ordering).solve(rhs)
    return nodes[m * n + (m - 1) * n : m * n + m * n].T / r  # last column nodes to sense


def best_reference(matrix, rhs, m, n, r, repeats: int) -> tuple[str, float]:
    """The fastest ordering (each tried once) and its median time over `repeats`."""
    tried = {}
    for ordering in ORDERINGS:
        started = time.perf_counter()
        reference_solve(matrix, rhs, m, n, r, ordering)
        tried[ordering] = time.perf_counter() - started
    best = min(tried, key=tried.get)
    run = lambda: reference_solve(matrix, rhs, m, n, r, best)
    return best, median_time(run, repeats)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64,128,256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scipy-max", type=int, default=512, help="largest n for scipy")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        g = rng.uniform(1e-6, 25e-6, (n, n))
        v = rng.uniform(0.0, 0.2, (64, n))
        g32, v32 = g.astype(np.float32), v.astype(np.float32)

        def ours(g32=g32, v32=v32):
            return jax.block_until_ready(A.solve_crossbar(g32, v32, 1.0))

        ours()  # compile
        t_ours = median_time(ours, args.repeats)
        sol = A.solve_crossbar(g32, v32, 1.0, full_output=True)  # iterations, not timed
        row = {
            "n": n,
            "jax_s": t_ours,
            "iterations_median": float(np.median(np.asarray(sol.iterations))),
            "iterations_max": int(np.max(np.asarray(sol.iterations))),
            "ir_drop_mean": float(np.mean(1 - np.asarray(sol.currents) / (v @ g))),
        }
        exact = np.asarray(sol.currents, np.float64)
        for k in (1, 2, 3):  # the fast approximate mode: k CG iterations, no tolerance

            def approx(g32=g32, v32=v32, k=k):
                return jax.block_until_ready(A.solve_crossbar(g32, v32, 1.0, iterations=k))

            got = np.asarray(approx(), np.float64)
            row[f"approx{k}_s"] = median_time(approx, args.repeats)
            row[f"approx{k}_rel_err"] = float(np.abs(got - exact).max() / np.abs(exact).max())
        if n <= args.scipy_max:
            started = time.perf_counter()
            system = reference_system(g, v, 1.0, np.float64)
            row["assembly_s"] = time.perf_counter() - started
            for bits, dtype in ((64, np.float64), (32, np.float32)):
                matrix, rhs = system if bits == 64 else reference_system(g, v, 1.0, dtype)
                best, seconds = best_reference(matrix, rhs, n, n, 1.0, args.repeats)
                row[f"scipy{bits}_ordering"] = best
                row[f"scipy{bits}_s"] = seconds
                row[f"speedup{bits}"] = seconds / t_ours
            ref = reference_solve(*system, n, n, 1.0, row["scipy64_ordering"])
            diff = np.abs(np.asarray(sol.currents, np.float64) - ref).max()
            row["max_rel_diff"] = float(diff / np.abs(ref).max())
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        write_record(args.json, "bench_crossbar", {"cases": results})


if __name__ == "__main__":
    main()
