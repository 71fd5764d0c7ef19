"""Reference: the crossbar's nodal equations in absolute node voltages, scipy sparse, float64."""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def reference(g, v, r_row, r_col, k=None, v_read=0.2, newton=50):
    g = np.asarray(g, np.float64)
    m, n = g.shape
    gr, gc = 1.0 / r_row, 1.0 / r_col
    U = lambda i, j: i * n + j
    W = lambda i, j: m * n + i * n + j
    size = 2 * m * n
    # wires: a fixed Laplacian with Dirichlet ends folded into the right-hand side
    rows, cols, vals = [], [], []

    def add(a, b, c):
        rows.extend([a, b, a, b])
        cols.extend([a, b, b, a])
        vals.extend([c, c, -c, -c])

    diag = np.zeros(size)
    for i in range(m):
        diag[U(i, 0)] += gr  # driver segment
        for j in range(n - 1):
            add(U(i, j), U(i, j + 1), gr)
    for j in range(n):
        diag[W(m - 1, j)] += gc  # sense segment
        for i in range(m - 1):
            add(W(i, j), W(i + 1, j), gc)
    L = sp.coo_matrix((vals, (rows, cols)), shape=(size, size)).tocsr() + sp.diags(diag)
    out = []
    for vin in np.atleast_2d(v):
        b = np.zeros(size)
        for i in range(m):
            b[U(i, 0)] = gr * vin[i]
        x = np.zeros(size)
        x[: m * n] = np.repeat(vin, n)
        idx_u = np.arange(m * n)
        idx_v = m * n + idx_u
        for _ in range(newton if k is not None else 1):
            dv = x[idx_u] - x[idx_v]
            gf = g.ravel()
            kf = 0.0 if k is None else np.broadcast_to(k, g.shape).ravel()
            i_dev = gf * dv * (1 + kf * ((dv / v_read) ** 2 - 1))
            slope = gf * (1 - kf + 3 * kf * (dv / v_read) ** 2)
            F = L @ x - b
            F[idx_u] += i_dev
            F[idx_v] -= i_dev
            D = sp.coo_matrix(
                (
                    np.concatenate([slope, slope, -slope, -slope]),
                    (
                        np.concatenate([idx_u, idx_v, idx_u, idx_v]),
                        np.concatenate([idx_u, idx_v, idx_v, idx_u]),
                    ),
                ),
                shape=(size, size),
            )
            J = (L + D).tocsc()
            x = x - spla.spsolve(J, F)
            if k is None:
                break
        vcol = x[idx_v].reshape(m, n)
        out.append(gc * vcol[m - 1])
    return np.array(out)
