"""The crossbar solver against a direct sparse solve of the same nodal equations (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from crossbar_reference import reference

import analogsim as A

SIZES = [(1, 1), (1, 7), (5, 1), (40, 24), (64, 64)]


def case(rows, cols, seed=0, batch=3):
    rng = np.random.default_rng(seed + rows * 100 + cols)
    g = rng.uniform(1e-6, 25e-6, (rows, cols))
    v = rng.uniform(-0.2, 0.2, (batch, rows))
    return g, v, rng


def rel(got, ref):
    return np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("rows,cols", SIZES)
def test_linear_devices_match_the_direct_solve(rows, cols):
    g, v, _ = case(rows, cols)
    ref = reference(g, v, 1.5, 2.5)
    with jax.enable_x64(True):
        got = A.solve_crossbar(g, v, row_resistance=1.5, col_resistance=2.5, tol=1e-10)
    assert rel(got, ref) <= 1e-6
    got32 = A.solve_crossbar(
        g.astype(np.float32), v.astype(np.float32), row_resistance=1.5, col_resistance=2.5
    )
    assert got32.dtype == jnp.float32 and rel(got32, ref) <= 1e-4


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 5), (64, 64)])
def test_nonlinear_devices_match_the_direct_newton_solve(rows, cols):
    g, v, rng = case(rows, cols, seed=1)
    k = rng.uniform(-0.5, 0.9, (rows, cols))
    ref = reference(g, v, 2.0, 1.0, k=k, v_read=0.2)
    with jax.enable_x64(True):
        got = A.solve_crossbar(
            g, v, row_resistance=2.0, col_resistance=1.0, iv_nonlinearity=k, v_read=0.2, tol=1e-10
        )
    assert rel(got, ref) <= 1e-6
    got32 = A.solve_crossbar(
        g.astype(np.float32),
        v.astype(np.float32),
        row_resistance=2.0,
        col_resistance=1.0,
        iv_nonlinearity=k.astype(np.float32),
    )
    assert rel(got32, ref) <= 1e-4


def test_one_cell_is_a_series_circuit():
    """Driver -> r_row -> device -> r_col -> sense: I = V / (r_row + 1/g + r_col)."""
    with jax.enable_x64(True):
        i = A.solve_crossbar(
            np.array([[1e-4]]),
            np.array([0.3]),
            row_resistance=200.0,
            col_resistance=300.0,
            tol=1e-12,
        )
        np.testing.assert_allclose(i, [0.3 / (200 + 1e4 + 300)], rtol=1e-12)


def test_ideal_wires_give_exactly_g_transpose_v():
    g, v, _ = case(12, 9)
    g, v = g.astype(np.float32), v.astype(np.float32)
    got = A.solve_crossbar(g, v, 0.0)
    exact = jnp.matmul(jnp.asarray(v), jnp.asarray(g), precision="highest")  # not TF32 on GPUs
    np.testing.assert_array_equal(np.asarray(got), np.asarray(exact))
    # ideal rows, resistive columns and the reverse both match the direct solve's limit
    ref = reference(g.astype(np.float64), v.astype(np.float64), 1e-9, 1.0)
    assert rel(A.solve_crossbar(g, v, row_resistance=0.0, col_resistance=1.0), ref) <= 1e-4


def test_wire_resistance_lowers_the_output_and_node_voltages_are_returned():
    g, v, _ = case(32, 32, batch=1)
    v = np.abs(v)
    sol = A.solve_crossbar(g, v[0], 5.0, full_output=True)
    ideal = v[0] @ g
    assert np.all(np.asarray(sol.currents) < ideal) and bool(sol.converged)
    assert sol.row_voltages.shape == (32, 32) and sol.col_voltages.shape == (32, 32)
    # the drop grows along each row away from its driver
    assert np.all(np.diff(np.asarray(sol.row_voltages), axis=1) <= 1e-7)


def test_gradients_are_implicit_and_match_finite_differences():
    g, v, rng = case(6, 5, batch=2)
    k = rng.uniform(-0.3, 0.6, g.shape)
    with jax.enable_x64(True):
        for kk in (None, k):
            loss = lambda g_, v_, kk=kk: (
                jnp.sum(A.solve_crossbar(g_, v_, 3.0, iv_nonlinearity=kk, tol=1e-12) ** 2) * 1e8
            )
            dg, dv = jax.grad(loss, argnums=(0, 1))(jnp.asarray(g), jnp.asarray(v))
            e = 1e-9
            i, j = 2, 3
            bump = np.zeros_like(g)
            bump[i, j] = e
            fd = (loss(g + bump, v) - loss(g - bump, v)) / (2 * e)
            np.testing.assert_allclose(dg[i, j], fd, rtol=1e-5)
            bump = np.zeros_like(v)
            bump[1, 4] = 1e-6
            fd = (loss(g, v + bump) - loss(g, v - bump)) / 2e-6
            np.testing.assert_allclose(dv[1, 4], fd, rtol=1e-5)


def test_jit_and_vmap_agree_with_eager():
    g, v, _ = case(8, 8)
    g, v = jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32)
    eager = A.solve_crossbar(g, v, 1.0)
    jitted = jax.jit(lambda g_, v_: A.solve_crossbar(g_, v_, 1.0))(g, v)
    mapped = jax.vmap(lambda v_: A.solve_crossbar(g, v_, 1.0))(v)
    np.testing.assert_allclose(jitted, eager, rtol=1e-5)
    np.testing.assert_allclose(mapped, eager, rtol=1e-5)


def test_a_solve_that_misses_its_tolerance_says_so():
    g, v, _ = case(64, 64)
    g, v = g.astype(np.float32), v.astype(np.float32)
    with pytest.warns(RuntimeWarning, match="missed its tolerance"):
        sol = A.solve_crossbar(g, v, 50.0, max_iter=1, full_output=True)
    assert not np.asarray(sol.converged).any()
    with pytest.raises(A.CrossbarError, match="missed its tolerance"):
        A.solve_crossbar(g, v, 50.0, max_iter=1, on_failure="raise")


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(conductances=-np.ones((2, 2))), "conductances must be >= 0"),
        (dict(conductances=np.ones(3)), "shape (rows, cols)"),
        (dict(voltages=np.ones(3)), "voltages must have shape"),
        (dict(voltages=np.array([np.nan, 1.0])), "voltages holds NaN"),
        (dict(wire_resistance=-1.0), "wire_resistance must be >= 0"),
        (dict(iv_nonlinearity=np.ones((3, 3))), "iv_nonlinearity shape"),
        (dict(on_failure="shout"), "on_failure"),
    ],
)
def test_bad_input_names_the_argument(kwargs, needle):
    args = dict(conductances=np.full((2, 2), 1e-5), voltages=np.ones(2), wire_resistance=1.0)
    args.update(kwargs)
    with pytest.raises(A.ParameterError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        A.solve_crossbar(**args)


# --- wired into chips ---------------------------------------------------------------------


def ideal_periphery_spec(**kw):
    """PCM with exact converters and no output noise: a tile's output is its currents."""
    return A.HardwareSpec(
        dac_bits=None,
        adc_bits=None,
        output_noise=0.0,
        periphery=A.PeripheryVariation(
            dac_gain_sigma=0.0, dac_offset_sigma=0.0, adc_gain_sigma=0.0, adc_offset_sigma=0.0
        ),
        **kw,
    )


def tile_output(spec, rows=48, cols=40, seed=0):
    from analogsim._chip.identity import make_chip
    from analogsim._chip.tile import analog_mvm

    key = jax.random.key(seed)
    chip = make_chip(spec, [(rows, cols)], key=key)
    g = jax.random.uniform(jax.random.fold_in(key, 1), (2, rows, cols), minval=1.0, maxval=25.0)
    x = jax.random.uniform(jax.random.fold_in(key, 2), (4, rows), minval=-1.0, maxval=1.0)
    return analog_mvm(spec, chip.layers[0], g, x, key=None), (chip, g, x)


def test_zero_wire_resistance_reads_as_ideal_wires():
    ideal, _ = tile_output(ideal_periphery_spec())
    wired, _ = tile_output(ideal_periphery_spec(wire_resistance=0.0))
    np.testing.assert_allclose(wired, ideal, rtol=1e-5, atol=1e-6)


def test_a_wired_tile_is_the_difference_of_its_two_solved_crossbars():
    spec = ideal_periphery_spec(wire_resistance=2.0, read_voltage=0.3, input_encoding="pwm")
    got, (chip, g, x) = tile_output(spec)
    i_pos = A.solve_crossbar(g[0] * 1e-6, x * 0.3, 2.0)
    i_neg = A.solve_crossbar(g[1] * 1e-6, x * 0.3, 2.0)
    span = spec.device.g_max - spec.device.g_min
    np.testing.assert_allclose(got, (i_pos - i_neg) / (span * 1e-6 * 0.3), rtol=1e-5)


def test_ir_drop_grows_with_tile_size():
    ideal, _ = tile_output(ideal_periphery_spec(), rows=64, cols=64)
    errors = []
    for tile in (16, 64):
        spec = ideal_periphery_spec(wire_resistance=2.0, tile_rows=tile, tile_cols=tile)
        wired, _ = tile_output(spec, rows=64, cols=64)
        errors.append(float(jnp.abs(wired - ideal).mean()))
    assert errors[1] > 2 * errors[0] > 0


def test_wire_resistance_is_sweepable_and_checked():
    spec = A.spec_for("pcm")
    assert "wire_resistance" in A.sweepable(spec)
    with pytest.raises(A.ParameterError, match="wire_resistance"):
        A.spec_for("pcm", wire_resistance=-1.0)
    with pytest.raises(A.ParameterError, match="read_voltage"):
        A.spec_for("pcm", read_voltage=0.0)


@pytest.mark.slow  # a minute: training steps through solved tiles
def test_in_situ_training_runs_through_wired_tiles():
    import dataclasses

    data = A.load_digits()
    data = dataclasses.replace(data, x_train=data.x_train[:160], y_train=data.y_train[:160])
    spec = A.spec_for("gokmen_vlasov", wire_resistance=5.0, wire_iterations=3)
    out = A.train_in_situ(spec, A.mlp((64, 16, 10)), data, chips=2, epochs=2)
    assert np.isfinite(out["loss"]).all() and (out["loss"][:, 1] < out["loss"][:, 0]).all()
