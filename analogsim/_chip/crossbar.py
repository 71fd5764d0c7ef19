"""The passive crossbar with wire resistance, solved on the circuit (IR drop).

Circuit: row i is driven with V_i at its left end through a segment of resistance r_row to
its first cell node, then r_row between neighbouring cells; its far end is open. Column j
runs from an open top through r_col between neighbouring cells to its last cell node, then
r_col to the sense node held at 0 V, whose current is the output. Device (i, j) joins row
node u_ij to column node v_ij and carries I(dV) = g dV (1 + k ((dV / V_read)^2 - 1)).

Unknowns are the row drops du = u - V_i and the column voltages v, each held as
(rows, cols, batch): both are small next to V, so float32 keeps their digits, and with the
batch last every wire's nodes are contiguous batch vectors. Kirchhoff's current law gives

    L_row du + I(V + du - v) = 0        L_row: r_row chain, 0 at the driver, open far end
    L_col v  - I(V + du - v) = 0        L_col: r_col chain, open top, 0 at the sense node

The linear system (device slopes D) is symmetric positive definite, and each row's du chain
(A_u = L_row + D) and each column's v chain (A_v = L_col + D) is tridiagonal. The row drops
are eliminated exactly, du = A_u^-1 (b_u + D v), leaving the Schur complement
S = A_v - D A_u^-1 D in v alone, solved matrix-free by conjugate gradients preconditioned
with A_v. Each iteration is one Thomas solve along every row wire and one along every column
wire; it reaches what block-Jacobi CG on the whole system reaches in two, because that
system's preconditioned spectrum is 1 +- mu and this one's is 1 - mu^2. Nonlinear devices take
Newton steps, each one such solve. Output current j is the sum of column j's device currents
(the column's top is open, so all of them reach the sense node).

Gradients: the linear solve is a `jax.lax.custom_linear_solve`, and the nonlinear root is
refined by one Newton step through one, so `jax.grad` solves one adjoint system (implicit
differentiation) instead of differentiating through the iterations.
"""

from __future__ import annotations

import warnings
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from device_models._checks import ParameterError

from .._core.precision import matmul

OnFailure = Literal["warn", "raise", "ignore"]


class CrossbarError(RuntimeError):
    """A crossbar solve did not reach its tolerance."""


class CrossbarSolution(eqx.Module):
    """A solved crossbar (leading batch axis when the voltages had one).

    Attributes:
        currents: output column currents, amperes, (..., cols).
        row_voltages: row node voltages u, volts, (..., rows, cols).
        col_voltages: column node voltages v, volts, (..., rows, cols).
        residual: relative residual ||F|| / ||F(0)|| of Kirchhoff's equations recomputed from
            the solution, (...). In float32 this recomputation has a rounding floor (wire
            currents nearly cancel at every node): about 1e-4 at 64 x 64 and 1e-3 at 256 x 256,
            above a tight `tol`, while the currents stay within 1e-5 of float64's.
        iterations: conjugate-gradient iterations, summed over Newton steps, (...).
        converged: the solver reached `tol` (its own CG residual; for nonlinear devices, a
            Newton residual <= tol or steps that no longer move the solution) and the
            currents are finite, (...).
    """

    currents: Array
    row_voltages: Array
    col_voltages: Array
    residual: Array
    iterations: Array
    converged: Array


def solve_crossbar(
    conductances: ArrayLike,
    voltages: ArrayLike,
    wire_resistance: ArrayLike = 1.0,
    *,
    row_resistance: ArrayLike | None = None,
    col_resistance: ArrayLike | None = None,
    iv_nonlinearity: ArrayLike | None = None,
    v_read: ArrayLike = 0.2,
    tol: float = 1e-6,
    max_iter: int = 500,
    max_newton: int = 30,
    iterations: int | None = None,
    on_failure: OnFailure = "warn",
    full_output: bool = False,
) -> Array | CrossbarSolution:
    """Output currents of a crossbar with wire resistance (module docstring: the circuit).

    Args:
        conductances: device conductances, siemens, (rows, cols), >= 0.
        voltages: row input voltages, volts, (rows,) or (batch, rows).
        wire_resistance: ohms per wire segment, rows and columns alike, >= 0 (0: ideal wires).
        row_resistance, col_resistance: ohms per row / column segment, overriding
            `wire_resistance` for that direction.
        iv_nonlinearity: each device's k (scalar or (rows, cols)) in
            I = g dV (1 + k ((dV / V_read)^2 - 1)); None for linear devices.
        v_read: volts at which a nonlinear device conducts exactly g.
        tol: relative residual of Kirchhoff's equations to reach.
        max_iter: conjugate-gradient iterations per linear solve; max_newton: Newton steps.
        iterations: the fast approximate mode for training loops: exactly this many
            conjugate-gradient iterations per linear solve, no tolerance (the flag still says
            whether `tol` was met; nothing warns). Its error against the exact solve is
            measured in `benchmarks/bench_crossbar.py` (benchmarks/README.md: 2 iterations are
            within about 1e-4 of the exact currents on a 256 x 256 array at 1 ohm).
        on_failure: a solve that misses `tol` (or goes non-finite) warns, raises
            `CrossbarError`, or is only flagged in `converged` (under `jit`, "raise" fails the
            computation with the same message).
        full_output: return a `CrossbarSolution` (node voltages, residual, iterations, flag).

    Returns:
        Output currents, amperes, (cols,) or (batch, cols); or the `CrossbarSolution`.
    """
    g = jnp.asarray(conductances)
    v_in = jnp.asarray(voltages)
    # float64 when either input is (and JAX allows it), float32 otherwise
    wide = jnp.float64 in (g.dtype, v_in.dtype)
    dtype = jnp.float64 if wide else jnp.float32
    g, v_in = g.astype(dtype), v_in.astype(dtype)
    r_row = jnp.asarray(wire_resistance if row_resistance is None else row_resistance, dtype)
    r_col = jnp.asarray(wire_resistance if col_resistance is None else col_resistance, dtype)
    fixed = iterations is not None
    max_iter = iterations if fixed else max_iter
    _check(g, v_in, r_row, r_col, iv_nonlinearity, tol, max_iter, max_newton, on_failure)
    single = v_in.ndim == 1
    batch = v_in[None] if single else v_in
    k = (
        None
        if iv_nonlinearity is None
        else jnp.broadcast_to(jnp.asarray(iv_nonlinearity, dtype), g.shape)
    )
    v_read = jnp.asarray(v_read, dtype)
    sol = _solve(g, batch, r_row, r_col, k, v_read, tol, max_iter, max_newton, fixed, full_output)
    _report(sol.converged, sol.residual, tol, "ignore" if fixed else on_failure)
    if single:
        sol = jax.tree.map(lambda a: a[0], sol)
    return sol if full_output else sol.currents


def _check(g, v, r_row, r_col, k, tol, max_iter, max_newton, on_failure) -> None:
    if g.ndim != 2 or min(g.shape) < 1:
        raise ParameterError(f"conductances must have shape (rows, cols); got {g.shape}")
    if v.ndim not in (1, 2) or v.shape[-1] != g.shape[0]:
        raise ParameterError(
            f"voltages must have shape ({g.shape[0]},) or (batch, {g.shape[0]}) for "
            f"{g.shape[0]} rows; got {v.shape}"
        )
    if k is not None and np.ndim(k) not in (0, 2):
        raise ParameterError(f"iv_nonlinearity must be a number or (rows, cols); got {np.shape(k)}")
    if k is not None and np.ndim(k) == 2 and np.shape(k) != g.shape:
        raise ParameterError(f"iv_nonlinearity shape {np.shape(k)} != conductances {g.shape}")
    if on_failure not in ("warn", "raise", "ignore"):
        raise ParameterError(f"on_failure must be warn, raise or ignore; got {on_failure!r}")
    if not (0 < tol < 1) or max_iter < 1 or max_newton < 1:
        raise ParameterError("tol must be in (0, 1); max_iter and max_newton >= 1")
    for name, a in [
        ("conductances", g),
        ("voltages", v),
        ("wire_resistance", r_row),
        ("wire_resistance", r_col),
    ]:
        if isinstance(a, jax.core.Tracer):
            continue  # traced: checked by the caller's own concrete run, or not at all
        a = np.asarray(a)
        if not np.isfinite(a).all():
            raise ParameterError(f"{name} holds NaN or infinity")
        if name != "voltages" and (a < 0).any():
            raise ParameterError(f"{name} must be >= 0; got {a.min()}")


@eqx.filter_jit
def _solve(
    g, v_in, r_row, r_col, k, v_read, tol, max_iter, max_newton, fixed, nodes
) -> CrossbarSolution:
    cg_tol = 0.0 if fixed else tol  # fixed: run every one of max_iter iterations
    wires = _Wires.make(r_row, r_col)
    # wire-major layout (rows, cols, batch): a line solve then steps over the leading axis
    # (column wires) or the second (row wires) and moves whole contiguous batch vectors
    g3 = g[:, :, None]
    V = v_in.T[:, None, :]  # (rows, 1, batch)
    k3 = None if k is None else k[:, :, None]

    def current(dv: Array) -> Array:
        if k3 is None:
            return g3 * dv
        return g3 * dv * (1 + k3 * ((dv / v_read) ** 2 - 1))

    def slope(dv: Array) -> Array:  # dI/ddV, kept > 0 so each Newton system stays definite
        if k3 is None:
            return g3
        return jnp.maximum(g3 * (1 - k3 + 3 * k3 * (dv / v_read) ** 2), 1e-3 * g3)

    def kcl(x: tuple[Array, Array]) -> tuple[Array, Array]:
        du, v = x
        return wires.residual(du, v, current(V + du - v))

    shape = (*g.shape, v_in.shape[0])
    zero = (jnp.zeros(shape, g.dtype), jnp.zeros(shape, g.dtype))
    f0 = wires.residual(*zero, current(jnp.broadcast_to(V, shape)))
    scale = _norm(f0)  # what the devices would draw through ideal wires
    safe = jnp.where(scale > 0, scale, 1.0)
    if k is None:
        matvec = lambda x: wires.apply(x, g3)
        solve = lambda mv, rhs: _reduced_pcg(wires, g3, rhs, cg_tol, max_iter)
        b = jax.tree.map(jnp.negative, f0)
        x, (iters, internal) = jax.lax.custom_linear_solve(
            matvec, b, solve, symmetric=True, has_aux=True
        )
        done = internal <= tol
    else:
        root, (iters, done) = _newton(
            kcl, slope, wires, V, zero, scale, tol, max_iter, max_newton, fixed
        )
        # implicit differentiation: one more Newton step from the (gradient-stopped) root,
        # x = x* - J^-1 F(x*), has the root's value and dx = -J^-1 dF, the implicit function
        # theorem's derivative, through one symmetric linear solve
        root = jax.lax.stop_gradient(root)
        d = jax.lax.stop_gradient(slope(V + root[0] - root[1]))
        matvec = lambda y: wires.apply(y, d)
        solve = lambda mv, rhs: _reduced_pcg(wires, d, rhs, cg_tol, max_iter)[0]
        step = jax.lax.custom_linear_solve(matvec, kcl(root), solve, symmetric=True)
        x = jax.tree.map(jnp.subtract, root, step)
    du, v = x
    residual = _norm(kcl(x)) / safe
    residual = jnp.where(jnp.isfinite(residual), residual, jnp.inf)
    if k is None:  # exactly G^T V when the wires are ideal (du = v = 0)
        currents = matmul(v_in, g) + (g3 * (du - v)).sum(axis=0).T
    else:
        currents = current(V + du - v).sum(axis=0).T
    # back to the caller's (batch, rows, cols), a transpose each: only when asked for
    batch_first = lambda a: jnp.moveaxis(a, 2, 0) if nodes else None
    return CrossbarSolution(
        currents=currents,
        row_voltages=batch_first(V + du),
        col_voltages=batch_first(v),
        residual=residual,
        iterations=iters,
        converged=done & jnp.isfinite(currents).all(axis=-1),
    )


class _Wires(eqx.Module):
    """The wire network: conductance per row and column segment, and which side is ideal.
    Node arrays are (rows, cols, batch): row wires run along axis 1, column wires along 0."""

    g_row: Array
    g_col: Array
    pin_u: Array  # ideal row wires: every row node sits at its input voltage (du = 0)
    pin_v: Array  # ideal column wires: every column node sits at 0 V

    @staticmethod
    def make(r_row: Array, r_col: Array) -> _Wires:
        pin_u, pin_v = r_row == 0, r_col == 0
        g_row = jnp.where(pin_u, 0.0, 1.0 / jnp.where(pin_u, 1.0, r_row))
        g_col = jnp.where(pin_v, 0.0, 1.0 / jnp.where(pin_v, 1.0, r_col))
        return _Wires(g_row, g_col, pin_u, pin_v)

    def row(self, du: Array) -> Array:
        """Current leaving each row node through its wire segments: two at every node but
        the last (the far end is open), the driver end held at du = 0."""
        cols = du.shape[1]
        n_seg = jnp.where(jnp.arange(cols) < cols - 1, 2.0, 1.0)[:, None]
        return self.g_row * (n_seg * du - _shift(du, axis=1) - _shift(du, axis=1, back=True))

    def col(self, v: Array) -> Array:
        """Current leaving each column node through its segments: two at every node but the
        first (the top is open), the sense node held at 0 V."""
        rows = v.shape[0]
        n_seg = jnp.where(jnp.arange(rows) > 0, 2.0, 1.0)[:, None, None]
        return self.g_col * (n_seg * v - _shift(v, axis=0) - _shift(v, axis=0, back=True))

    def residual(self, du: Array, v: Array, i_dev: Array) -> tuple[Array, Array]:
        """Kirchhoff's current law at every node; a pinned side's equation is du = 0 or v = 0."""
        return (
            jnp.where(self.pin_u, du, self.row(du) + i_dev),
            jnp.where(self.pin_v, v, self.col(v) - i_dev),
        )

    def coupling(self, d: Array) -> Array:
        """Device slopes joining the two sides; a pinned side couples to nothing."""
        return jnp.where(self.pin_u | self.pin_v, 0.0, d)

    def apply(self, x: tuple[Array, Array], d: Array) -> tuple[Array, Array]:
        """The linearized system with device slopes `d` (symmetric, positive definite)."""
        du, v = x
        c = self.coupling(d)
        return (
            jnp.where(self.pin_u, du, self.row(du) + d * du - c * v),
            jnp.where(self.pin_v, v, self.col(v) + d * v - c * du),
        )

    def lines(self, d: Array) -> tuple[_Lines, _Lines]:
        """Every row wire (du, along axis 1) and every column wire (v, along axis 0) as a
        factored tridiagonal line, the devices' slopes on its diagonal."""
        rows, cols = d.shape[:2]
        n_u = jnp.where(jnp.arange(cols) < cols - 1, 2.0, 1.0)[:, None]  # segments at node j
        n_v = jnp.where(jnp.arange(rows) > 0, 2.0, 1.0)[:, None, None]  # segments at node i
        diag_u = jnp.where(self.pin_u, 1.0, self.g_row * n_u + d)
        diag_v = jnp.where(self.pin_v, 1.0, self.g_col * n_v + d)
        return (
            _Lines.factor(jnp.where(self.pin_u, 0.0, -self.g_row), diag_u, axis=1),
            _Lines.factor(jnp.where(self.pin_v, 0.0, -self.g_col), diag_v, axis=0),
        )


class _Lines(eqx.Module):
    """Symmetric tridiagonal systems along one axis (constant off-diagonal `off`), factored
    once by the Thomas algorithm; the wires make them diagonally dominant, so no pivoting.

    Pure XLA rather than LAPACK's batched gtsv, which deadlocked XLA's CPU runtime when called
    inside the solver's while loop on large batches. Each sweep is a `fori_loop` that rewrites
    its array in place one slice at a time: no transposes (a `lax.scan` needs its axis first)
    and no buffers beyond the right-hand side's."""

    off: Array
    inv: Array  # 1 / pivot; the eliminated super-diagonal is off * inv
    axis: int = eqx.field(static=True)

    @staticmethod
    def factor(off: Array, diag: Array, *, axis: int) -> _Lines:
        def step(j, state):
            inv, c_prev = state
            inv_j = 1.0 / (_take(diag, j, axis) - off * c_prev)
            return _put(inv, inv_j, j, axis), off * inv_j

        zero = jnp.zeros_like(_take(diag, 0, axis))
        inv, _ = jax.lax.fori_loop(0, diag.shape[axis], step, (jnp.zeros_like(diag), zero))
        return _Lines(off=off, inv=inv, axis=axis)

    def solve(self, rhs: Array) -> Array:
        n, axis = rhs.shape[self.axis], self.axis

        # both sweeps rewrite one slice in place per step; the forward one reads its previous
        # slice back from the array (carrying it instead makes XLA copy the array every step)
        def forward(j, y):
            y_prev = jnp.where(j > 0, _take(y, jnp.maximum(j - 1, 0), axis), 0.0)
            return _put(
                y, (_take(y, j, axis) - self.off * y_prev) * _take(self.inv, j, axis), j, axis
            )

        def backward(i, state):
            x, x_next = state
            j = n - 1 - i
            x_j = _take(x, j, axis) - self.off * _take(self.inv, j, axis) * x_next
            return _put(x, x_j, j, axis), x_j

        y = jax.lax.fori_loop(0, n, forward, rhs)
        x, _ = jax.lax.fori_loop(0, n, backward, (y, jnp.zeros_like(_take(rhs, 0, axis))))
        return x


def _take(a: Array, j: Array, axis: int) -> Array:
    return jax.lax.dynamic_index_in_dim(a, j, axis, keepdims=False)


def _put(a: Array, x: Array, j: Array, axis: int) -> Array:
    return jax.lax.dynamic_update_index_in_dim(a, x.astype(a.dtype), j, axis)


def _shift(a: Array, *, axis: int, back: bool = False) -> Array:
    """`a` moved one place along `axis` (forward: element j is a[j - 1]; back: a[j + 1]),
    zero filled."""
    n = a.shape[axis]
    zero = jnp.zeros_like(jax.lax.slice_in_dim(a, 0, 1, axis=axis))
    if back:
        return jnp.concatenate([jax.lax.slice_in_dim(a, 1, n, axis=axis), zero], axis=axis)
    return jnp.concatenate([zero, jax.lax.slice_in_dim(a, 0, n - 1, axis=axis)], axis=axis)


def _norm(x: Array | tuple[Array, ...]) -> Array:
    """Euclidean norm of each batch element (last axis) of an array or a (du, v) pair."""
    return jnp.sqrt(_dot(x, x))


def _dot(a: Array | tuple[Array, ...], b: Array | tuple[Array, ...]) -> Array:
    a, b = (a,) if isinstance(a, Array) else a, (b,) if isinstance(b, Array) else b
    return sum(jnp.sum(x * y, axis=(0, 1)) for x, y in zip(a, b, strict=True))


def _reduced_pcg(wires: _Wires, d: Array, b: tuple[Array, Array], tol, max_iter: int):
    """Solve the linearized system `wires.apply(x, d) = b` to ||residual|| <= tol ||b||
    (`tol` a number or (batch,)), one system per batch element.

    The row drops are eliminated exactly (A_u du = b_u + D v, one solve along every row
    wire), leaving the column voltages' Schur complement S v = b_v + D A_u^-1 b_u with
    S = A_v - D A_u^-1 D, solved by conjugate gradients preconditioned with A_v (one solve
    along every column wire). Its residual is the full system's (the row equations hold
    exactly), and CG on this reduced system reaches in k iterations what block-Jacobi CG on the
    full system reaches in 2k at the same cost per iteration. Returns ((du, v), (iterations,
    relative residual of the recurrence) each (batch,))."""
    rows_u, cols_v = wires.lines(d)
    c = wires.coupling(d)
    b_u, b_v = b
    target = tol * _norm(b)
    r = b_v + c * rows_u.solve(b_u)
    z = cols_v.solve(r)
    rz = _dot(r, z)
    state = (jnp.zeros_like(r), r, z, rz, jnp.zeros(rz.shape, jnp.int32), _norm(r) > target)

    def cond(state):
        return jnp.any(state[5]) & (jnp.max(state[4]) < max_iter)

    def body(state):
        v, r, p, rz, it, active = state
        sp = wires.apply((jnp.zeros_like(p), p), d)[1] - c * rows_u.solve(c * p)  # S p
        psp = _dot(p, sp)
        alpha = jnp.where(active & (psp > 0), rz / jnp.where(psp > 0, psp, 1.0), 0.0)
        v = v + alpha * p  # alpha (batch,) broadcasts over the last axis
        r = r - alpha * sp
        z = cols_v.solve(r)
        rz_new = _dot(r, z)
        beta = jnp.where(active & (rz > 0), rz_new / jnp.where(rz > 0, rz, 1.0), 0.0)
        p = z + beta * p
        it = it + active.astype(jnp.int32)
        active = active & (_norm(r) > target) & jnp.isfinite(rz_new)
        return v, r, p, rz_new, it, active

    v, r, *_, it, _ = jax.lax.while_loop(cond, body, state)
    du = rows_u.solve(b_u + c * v)
    b_norm = _norm(b)
    return (du, v), (it, _norm(r) / jnp.where(b_norm > 0, b_norm, 1.0))


def _newton(kcl, slope, wires, V, zero, scale, tol, max_iter, max_newton, fixed):
    """Newton's method on Kirchhoff's equations with nonlinear devices, each step a
    reduced CG solve. Returns (x, (iterations, done))."""
    safe = jnp.where(scale > 0, scale, 1.0)

    def cond(state):
        _, n, _, done = state
        return (n < max_newton) & ~jnp.all(done)

    # done: the residual reached tol; or the last step moved the solution by less than tol of
    # itself; or it was a tiny step (below sqrt(tol)) that did not lower the residual. In
    # float32 the recomputed residual has a rounding floor above tol, and there each step's
    # exact row solve turns that floor's noise into steps of a few 1e-6, never below tol.
    def body(state):
        x, n, iters, done = state
        f_x = kcl(x)
        d = slope(V + x[0] - x[1])
        # inexact Newton: each step solves to a tenth of what is still missing
        inner = jnp.clip(0.1 * tol * safe / jnp.maximum(_norm(f_x), 1e-30), 1e-7, 0.5)
        inner = 0.0 * inner if fixed else inner
        step, (it, _) = _reduced_pcg(wires, d, jax.tree.map(jnp.negative, f_x), inner, max_iter)
        step = jax.tree.map(lambda s_: jnp.where(done, 0.0, s_), step)
        x = jax.tree.map(jnp.add, x, step)
        moved, size, f_new = _norm(step), _norm(x), _norm(kcl(x))
        stalled = (moved <= tol**0.5 * size) & (f_new >= _norm(f_x))
        return x, n + 1, iters + it, done | (moved <= tol * size) | stalled | (f_new / safe <= tol)

    done0 = _norm(kcl(zero)) / safe <= tol
    iters0 = jnp.zeros(scale.shape, jnp.int32)
    x, _, iters, done = jax.lax.while_loop(cond, body, (zero, 0, iters0, done0))
    return x, (iters, done)


def _report(converged: Array, residual: Array, tol: float, on_failure: OnFailure) -> None:
    """Warn or raise when a solve missed its tolerance (a callback when traced)."""
    if on_failure == "ignore":
        return

    def check(converged: np.ndarray, residual: np.ndarray) -> None:
        if np.all(converged):
            return
        worst = float(np.max(residual))
        message = (
            f"crossbar solve missed its tolerance {tol:g} for {int(np.sum(~converged))} of "
            f"{converged.size} inputs (worst relative residual {worst:.3g}); raise max_iter, "
            "or check the wire resistance and conductances"
        )
        if on_failure == "raise":
            raise CrossbarError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    if isinstance(converged, jax.core.Tracer) or isinstance(residual, jax.core.Tracer):
        jax.debug.callback(check, converged, residual)
    else:
        check(np.asarray(converged), np.asarray(residual))
