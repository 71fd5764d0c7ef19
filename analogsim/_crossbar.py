"""The passive crossbar with wire resistance, solved on the circuit (IR drop).

Circuit: row i is driven with V_i at its left end through a segment of resistance r_row to
its first cell node, then r_row between neighbouring cells; its far end is open. Column j
runs from an open top through r_col between neighbouring cells to its last cell node, then
r_col to the sense node held at 0 V, whose current is the output. Device (i, j) joins row
node u_ij to column node v_ij and carries I(dV) = g dV (1 + k ((dV / V_read)^2 - 1)).

Unknowns are the row drops du = u - V_i and the column voltages v, (batch, rows, cols) each:
both are small next to V, so float32 keeps their digits. Kirchhoff's current law gives

    L_row du + I(V + du - v) = 0        L_row: r_row chain, 0 at the driver, open far end
    L_col v  - I(V + du - v) = 0        L_col: r_col chain, open top, 0 at the sense node

The linear system is symmetric positive definite; it is solved matrix-free by conjugate
gradients preconditioned with exact line solves (each row's du chain and each column's v
chain is tridiagonal, so the preconditioner is block Jacobi over wires). Nonlinear devices
take Newton steps, each one such solve. Output current j is the sum of column j's device
currents (the column's top is open, so all of them reach the sense node).

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

OnFailure = Literal["warn", "raise", "ignore"]


class CrossbarError(RuntimeError):
    """A crossbar solve did not reach its tolerance."""


class CrossbarSolution(eqx.Module):
    """A solved crossbar (leading batch axis when the voltages had one).

    Attributes:
        currents: output column currents, amperes, (..., cols).
        row_voltages: row node voltages u, volts, (..., rows, cols).
        col_voltages: column node voltages v, volts, (..., rows, cols).
        residual: relative residual ||F|| / ||F(0)|| of Kirchhoff's equations, (...).
        iterations: conjugate-gradient iterations, summed over Newton steps, (...).
        converged: residual <= tol, (...).
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
            measured in `benchmarks/bench_crossbar.py` (README: 2 iterations are within
            about 2e-3 of the exact currents on a 256 x 256 array at 1 ohm).
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
    sol = _solve(g, batch, r_row, r_col, k, v_read, tol, max_iter, max_newton, fixed)
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
def _solve(g, v_in, r_row, r_col, k, v_read, tol, max_iter, max_newton, fixed) -> CrossbarSolution:
    cg_tol = 0.0 if fixed else tol  # fixed: run every one of max_iter iterations
    wires = _Wires.make(r_row, r_col)
    V = v_in[:, :, None]  # (batch, rows, 1)

    def current(dv: Array) -> Array:
        if k is None:
            return g * dv
        return g * dv * (1 + k * ((dv / v_read) ** 2 - 1))

    def slope(dv: Array) -> Array:  # dI/ddV, kept > 0 so each Newton system stays definite
        if k is None:
            return jnp.broadcast_to(g, dv.shape)
        return jnp.maximum(g * (1 - k + 3 * k * (dv / v_read) ** 2), 1e-3 * g)

    def kcl(x: tuple[Array, Array]) -> tuple[Array, Array]:
        du, v = x
        return wires.residual(du, v, current(V + du - v))

    shape = (v_in.shape[0], *g.shape)
    zero = (jnp.zeros(shape, g.dtype), jnp.zeros(shape, g.dtype))
    scale = _norm(kcl(zero))  # what the devices would draw through ideal wires
    safe = jnp.where(scale > 0, scale, 1.0)
    if k is None:
        d = jnp.broadcast_to(g, shape)
        b = jax.tree.map(jnp.negative, kcl(zero))
        matvec = lambda x: wires.apply(x, d)
        lines = wires.factor(g[None])  # one factorization serves every input vector
        solve = lambda mv, rhs: _pcg(
            mv, lambda r: wires.precondition(lines, r), rhs, cg_tol, max_iter
        )
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
        lines = wires.factor(d)
        solve = lambda mv, rhs: _pcg(
            mv, lambda r: wires.precondition(lines, r), rhs, cg_tol, max_iter
        )[0]
        step = jax.lax.custom_linear_solve(matvec, kcl(root), solve, symmetric=True)
        x = jax.tree.map(jnp.subtract, root, step)
    du, v = x
    residual = _norm(kcl(x)) / safe
    residual = jnp.where(jnp.isfinite(residual), residual, jnp.inf)
    if k is None:  # exactly G^T V when the wires are ideal (du = v = 0)
        currents = jnp.einsum("bi,ij->bj", v_in, g) + (g * (du - v)).sum(axis=1)
    else:
        currents = current(V + du - v).sum(axis=1)
    return CrossbarSolution(
        currents=currents,
        row_voltages=V + du,
        col_voltages=v,
        residual=residual,
        iterations=iters,
        converged=done & jnp.isfinite(currents).all(axis=-1),
    )


class _Wires(eqx.Module):
    """The wire network: conductance per row and column segment, and which side is ideal."""

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
        """Current leaving each row node through its wire segments (driver end at du = 0)."""
        flux = self.g_row * (du - _shift(du, axis=2))  # segment into node j, from j - 1
        return flux - _shift(flux, axis=2, back=True)  # out through j's left, in from j + 1

    def col(self, v: Array) -> Array:
        """Current leaving each column node through its segments (sense node at 0 V)."""
        flux = self.g_col * (v - _shift(v, axis=1, back=True))  # segment i -> i + 1 (or sense)
        return flux - _shift(flux, axis=1)

    def residual(self, du: Array, v: Array, i_dev: Array) -> tuple[Array, Array]:
        """Kirchhoff's current law at every node; a pinned side's equation is du = 0 or v = 0."""
        return (
            jnp.where(self.pin_u, du, self.row(du) + i_dev),
            jnp.where(self.pin_v, v, self.col(v) - i_dev),
        )

    def apply(self, x: tuple[Array, Array], d: Array) -> tuple[Array, Array]:
        """The linearized system with device slopes `d` (symmetric, positive definite)."""
        du, v = x
        du_c = jnp.where(self.pin_u, 0.0, du)  # a pinned side couples to nothing
        v_c = jnp.where(self.pin_v, 0.0, v)
        return (
            jnp.where(self.pin_u, du, self.row(du) + d * (du - v_c)),
            jnp.where(self.pin_v, v, self.col(v) + d * (v - du_c)),
        )

    def factor(self, d: Array) -> tuple[_Lines, _Lines]:
        """The block-Jacobi preconditioner for device slopes `d`: every row wire (du, along
        columns) and every column wire (v, along rows) as a factored tridiagonal line, the
        devices' slopes on its diagonal."""
        rows, cols = d.shape[1:]
        n_u = jnp.where(jnp.arange(cols) < cols - 1, 2.0, 1.0)  # segments at row node j
        n_v = jnp.where(jnp.arange(rows) > 0, 2.0, 1.0)  # segments at column node i
        diag_u = jnp.where(self.pin_u, 1.0, self.g_row * n_u + d)
        diag_v = jnp.where(self.pin_v, 1.0, self.g_col * n_v[:, None] + d)
        off_u = jnp.where(self.pin_u, 0.0, -self.g_row)
        off_v = jnp.where(self.pin_v, 0.0, -self.g_col)
        return _Lines.factor(off_u, diag_u, axis=2), _Lines.factor(off_v, diag_v, axis=1)

    @staticmethod
    def precondition(lines: tuple[_Lines, _Lines], r: tuple[Array, Array]) -> tuple[Array, Array]:
        """Apply the factored preconditioner: exact solves along every wire."""
        return lines[0].solve(r[0]), lines[1].solve(r[1])


class _Lines(eqx.Module):
    """Symmetric tridiagonal systems along one axis (constant off-diagonal `off`), factored
    once by the Thomas algorithm; the wires make them diagonally dominant, so no pivoting.

    Pure XLA (two `lax.scan`s per solve) rather than LAPACK's batched gtsv, which deadlocked
    XLA's CPU runtime when called inside the solver's while loop on large batches."""

    off: Array
    inv: Array  # 1 / pivot, with the line axis moved first
    ratio: Array  # the eliminated super-diagonal c'_j, same layout
    axis: int = eqx.field(static=True)

    @staticmethod
    def factor(off: Array, diag: Array, *, axis: int) -> _Lines:
        diag = jnp.moveaxis(diag, axis, 0)

        def step(c_prev: Array, a: Array) -> tuple[Array, tuple[Array, Array]]:
            inv = 1.0 / (a - off * c_prev)
            return off * inv, (inv, off * inv)

        _, (inv, ratio) = jax.lax.scan(step, jnp.zeros_like(diag[0]), diag)
        return _Lines(off=off, inv=inv, ratio=ratio, axis=axis)

    def solve(self, rhs: Array) -> Array:
        r = jnp.moveaxis(rhs, self.axis, 0)

        def forward(y_prev: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
            rj, inv = inputs
            y = (rj - self.off * y_prev) * inv
            return y, y

        def backward(x_next: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
            yj, c = inputs
            x = yj - c * x_next
            return x, x

        _, y = jax.lax.scan(forward, jnp.zeros_like(r[0]), (r, self.inv))
        _, x = jax.lax.scan(backward, jnp.zeros_like(r[0]), (y, self.ratio), reverse=True)
        return jnp.moveaxis(x, 0, self.axis)


def _shift(a: Array, *, axis: int, back: bool = False) -> Array:
    """`a` moved one place along `axis` (forward: element j is a[j - 1]; back: a[j + 1]),
    zero filled."""
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, 1) if back else (1, 0)
    padded = jnp.pad(a, pad)
    start = 1 if back else 0
    return jax.lax.slice_in_dim(padded, start, start + a.shape[axis], axis=axis)


def _norm(x: tuple[Array, Array]) -> Array:
    """Euclidean norm of each batch element of a (du, v) pair, (batch,)."""
    return jnp.sqrt(sum(jnp.sum(a * a, axis=(1, 2)) for a in x))


def _dot(a: tuple[Array, Array], b: tuple[Array, Array]) -> Array:
    return sum(jnp.sum(x * y, axis=(1, 2)) for x, y in zip(a, b, strict=True))


def _pcg(matvec, precondition, b, tol, max_iter: int):
    """Preconditioned conjugate gradients, one system per batch element, until each reaches
    ||r|| <= tol ||b|| (`tol` a number or (batch,)). Returns (x, (iterations, relative
    residual of the recurrence) each (batch,))."""
    axpy = lambda alpha, x, y: jax.tree.map(lambda xi, yi: alpha[:, None, None] * xi + yi, x, y)
    target = tol * _norm(b)
    x = jax.tree.map(jnp.zeros_like, b)
    r = b
    z = precondition(r)
    rz = _dot(r, z)
    batch = rz.shape[0]
    state = (x, r, z, rz, jnp.zeros(batch, jnp.int32), _norm(r) > target)

    def cond(state):
        return jnp.any(state[5]) & (jnp.max(state[4]) < max_iter)

    def body(state):
        x, r, p, rz, it, active = state
        ap = matvec(p)
        pap = _dot(p, ap)
        alpha = jnp.where(active & (pap > 0), rz / jnp.where(pap > 0, pap, 1.0), 0.0)
        x = axpy(alpha, p, x)
        r = axpy(-alpha, ap, r)
        z = precondition(r)
        rz_new = _dot(r, z)
        beta = jnp.where(active & (rz > 0), rz_new / jnp.where(rz > 0, rz, 1.0), 0.0)
        p = jax.tree.map(lambda zi, pi: zi + beta[:, None, None] * pi, z, p)
        it = it + active.astype(jnp.int32)
        active = active & (_norm(r) > target) & jnp.isfinite(rz_new)
        return x, r, p, rz_new, it, active

    x, r, *_, it, _ = jax.lax.while_loop(cond, body, state)
    b_norm = _norm(b)
    return x, (it, _norm(r) / jnp.where(b_norm > 0, b_norm, 1.0))


def _newton(kcl, slope, wires, V, zero, scale, tol, max_iter, max_newton, fixed):
    """Newton's method on Kirchhoff's equations with nonlinear devices, each step a
    preconditioned CG solve. Returns (x, (iterations, done))."""
    safe = jnp.where(scale > 0, scale, 1.0)

    def jacobian(x):
        du, v = x
        return slope(V + du - v)

    def solve(f, x0):
        # done: the residual reached tol, or the last step moved the solution by less than
        # tol of itself (in float32 the recomputed residual has a rounding floor above tol)
        def cond(state):
            _, n, _, done = state
            return (n < max_newton) & ~jnp.all(done)

        def body(state):
            x, n, iters, done = state
            f_x = f(x)
            d = jacobian(x)
            # inexact Newton: each step solves to a tenth of what is still missing
            inner = jnp.clip(0.1 * tol * safe / jnp.maximum(_norm(f_x), 1e-30), 1e-7, 0.5)
            inner = 0.0 * inner if fixed else inner
            lines = wires.factor(d)
            step, (it, _) = _pcg(
                lambda y: wires.apply(y, d),
                lambda r: wires.precondition(lines, r),
                jax.tree.map(jnp.negative, f_x),
                inner,
                max_iter,
            )
            step = jax.tree.map(lambda s_: jnp.where(done[:, None, None], 0.0, s_), step)
            x = jax.tree.map(jnp.add, x, step)
            small = _norm(step) <= tol * _norm(x)
            return x, n + 1, iters + it, done | small | (_norm(f(x)) / safe <= tol)

        done0 = _norm(f(x0)) / safe <= tol
        iters0 = jnp.zeros(scale.shape, jnp.int32)
        x, _, iters, done = jax.lax.while_loop(cond, body, (x0, 0, iters0, done0))
        return x, (iters, done)

    return solve(kcl, zero)


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
