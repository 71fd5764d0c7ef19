"""Pulsed updates against their published equations (device_models/_pulse_*.py).

Fixed keys (the seed is printed), jitted sampling, >= 1e5 samples for every statistic: means
within 4 sigma / sqrt(N), standard deviations within 2%, shapes by Kolmogorov-Smirnov (p > 0.01
at the fixed seed). Every expected value is an independent float64 numpy evaluation of the
docstring equations; the code's own `step` is never used to make an expectation.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import device_models as dm

N = 100_000
KS_P = 0.01
MAX_PULSES = 16  # every jitted train below shares this (static) cap
FRACTIONS = (0.2, 0.5, 0.8)  # positions as fractions of the device's own range


# --- helpers ----------------------------------------------------------------------------------


def seeded(seed):
    print(f"key seed {seed}")
    return jax.random.key(seed)


def f64(a):
    return np.asarray(a, dtype=np.float64)


def assert_normal(z, label):
    p = stats.kstest(np.ravel(z), "norm").pvalue
    print(f"{label}: KS p = {p:.3g}")
    assert p > KS_P, f"{label}: KS p = {p:.3g}"


def assert_fraction(count, n, p, label, k=4.0):
    """A binomial count within k sigma of n p."""
    sd = math.sqrt(n * p * (1 - p))
    print(f"{label}: {count} of {n}, expected {n * p:.1f} +- {sd:.1f}")
    assert abs(count - n * p) < k * sd + 1, label


def nominal(response, name):
    return float(getattr(response, name))


def w_of(response, g):
    """Conductance to w, the module docstring's axis map inverted, float64."""
    g_min, g_max = nominal(response, "g_min"), nominal(response, "g_max")
    w_min, w_max = nominal(response, "w_min"), nominal(response, "w_max")
    return w_min + (f64(g) - g_min) / (g_max - g_min) * (w_max - w_min)


def g_of(response, w):
    """g = g_min + (w - w_min) / (w_max - w_min) (g_max - g_min), float64."""
    g_min, g_max = nominal(response, "g_min"), nominal(response, "g_max")
    w_min, w_max = nominal(response, "w_min"), nominal(response, "w_max")
    return g_min + (f64(w) - w_min) / (w_max - w_min) * (g_max - g_min)


def identity64(identity):
    return {f: f64(getattr(identity, f)) for f in ("dw_up", "dw_down", "w_min", "w_max", "family")}


def ref_step(response, idn, w, up):
    """Mean step magnitude of one pulse (w units), the family docstrings in float64."""
    w = f64(w)
    dw = idn["dw_up"] if up else idn["dw_down"]
    lo, hi, fam = idn["w_min"], idn["w_max"], idn["family"]
    if isinstance(response, dm.ConstantStep):
        s = dw * np.ones_like(w)
    elif isinstance(response, dm.SoftBounds):
        s = dw * (1.0 - w / hi) if up else dw * (1.0 - w / lo)
    elif isinstance(response, dm.LinearStep):
        g_up, g_down = nominal(response, "gamma_up"), nominal(response, "gamma_down")
        w_max, w_min = nominal(response, "w_max"), nominal(response, "w_min")  # nominal bounds
        s = dw * (1.0 - g_up * fam * w / w_max) if up else dw * (1.0 - g_down * fam * w / w_min)
    elif isinstance(response, dm.ExpStep):
        a, b = nominal(response, "a"), nominal(response, "b")
        z = 2.0 * a * w / (hi - lo) + b
        if up:
            g, amp = nominal(response, "gamma_up"), nominal(response, "A_up")
            s = dw * np.maximum(1.0 - amp * np.exp(g * z), 0.0)
        else:
            g, amp = nominal(response, "gamma_down"), nominal(response, "A_down")
            s = dw * np.maximum(1.0 - amp * np.exp(-g * z), 0.0)
    elif isinstance(response, dm.PowStep):
        r = hi - lo
        if up:
            s = dw * (2.0 * (hi - w) / r) ** nominal(response, "gamma_up")
        else:
            s = dw * (2.0 * (w - lo) / r) ** nominal(response, "gamma_down")
    else:
        raise TypeError(type(response))
    return np.maximum(s, 0.0)


@eqx.filter_jit
def draw(response, shape_like, key, variation):
    return response.draw_identity(shape_like.shape, key=key, variation=variation)


@eqx.filter_jit
def fire(response, identity, g, pulses, key, max_pulses=MAX_PULSES):
    """apply_pulses, the identity broadcast to g's shape (one device shared by all when (1,))."""
    identity = jax.tree.map(lambda x: jnp.broadcast_to(x, g.shape), identity)
    return response.apply_pulses(identity, g, pulses, key=key, max_pulses=max_pulses)


def one_device(response, key):
    return draw(response, jnp.zeros((1,), jnp.float32), key, jnp.float32(1.0))


# --- 0. the axis ------------------------------------------------------------------------------


def test_axis_map_matches_docstring():
    response = dm.SoftBounds(g_min=3.0, g_max=31.0, w_min=-0.7, w_max=1.3)
    w = np.linspace(-0.7, 1.3, 11)
    g = f64(response.to_g(jnp.asarray(w, jnp.float32)))
    np.testing.assert_allclose(g, 3.0 + (w + 0.7) / 2.0 * 28.0, rtol=1e-6)
    np.testing.assert_allclose(f64(response.to_w(jnp.asarray(g, jnp.float32))), w, atol=1e-6)
    np.testing.assert_allclose(g_of(response, w), g, rtol=1e-6)


# --- 1. one pulse, each family ----------------------------------------------------------------

C2C = 0.8  # large: Phi(-1/0.8) = 11% of pulses step the wrong way

# g_min = 10 uS puts the w of 0 uS a whole range below w_min: no drawn lower bound is floored
AXIS = dict(g_min=10.0, g_max=30.0)

FAMILY_CASES = {
    "ConstantStep": dm.ConstantStep(
        dw_min=0.005, up_down=0.2, dw_min_std=C2C, **AXIS, w_min=-0.8, w_max=1.2
    ),
    "SoftBounds": dm.SoftBounds(
        dw_min=0.005, up_down=-0.3, dw_min_std=C2C, **AXIS, w_min=-0.6, w_max=1.4
    ),
    "LinearStep": dm.LinearStep(
        dw_min=0.005,
        up_down=0.1,
        dw_min_std=C2C,
        **AXIS,
        gamma_up=0.4,
        gamma_down=0.7,
        gamma_dtod=0.2,
        w_min=-0.9,
        w_max=1.1,
    ),
    "ExpStep": dm.ExpStep(
        dw_min=0.005, up_down=0.25, dw_min_std=C2C, **AXIS, A_up=-1.2, A_down=-0.08
    ),
    # A > 0 with a > 0: the max(., 0) clamp switches up steps off at high w, down steps at low w
    "ExpStep-clamped": dm.ExpStep(
        dw_min=0.005, dw_min_std=C2C, **AXIS, a=0.5, b=0.0, A_up=0.6, A_down=0.6, gamma_up=5.0
    ),
    "PowStep": dm.PowStep(
        dw_min=0.005,
        up_down=-0.1,
        dw_min_std=C2C,
        **AXIS,
        gamma_up=2.0,
        gamma_down=0.5,
        w_min=-0.8,
        w_max=1.2,
    ),
}


@pytest.mark.parametrize("label", list(FAMILY_CASES))
def test_one_pulse_statistics_match_family_equation(label):
    """1e5 copies of one device per position and direction: the step is step(w) (1 + s xi),
    xi standard normal and not clipped (wrong-way steps at rate Phi(-1/s))."""
    response = FAMILY_CASES[label]
    seed = 1000 + list(FAMILY_CASES).index(label)
    k_id, k_pulse = jax.random.split(seeded(seed))
    identity = one_device(response, k_id)
    idn = {k: v[0] for k, v in identity64(identity).items()}
    print(label, idn)
    # own bounds distinguishable from the nominal ones (the equations use one or the other)
    for name in ("w_min", "w_max"):
        assert abs(idn[name] / nominal(response, name) - 1) > 0.02, f"{name} drawn too nominal"
    lo, hi = idn["w_min"], idn["w_max"]
    w_pos = lo + np.asarray(FRACTIONS) * (hi - lo)
    g0 = np.broadcast_to(g_of(response, w_pos)[None, :, None], (2, len(FRACTIONS), N))
    g0 = jnp.asarray(g0, jnp.float32)
    pulses = jnp.broadcast_to(jnp.asarray([1, -1], jnp.int32)[:, None, None], g0.shape)
    g1 = fire(response, identity, g0, pulses, k_pulse)

    w0, w1 = w_of(response, g0), w_of(response, g1)
    # clipping never acted: every device ends strictly inside its bounds
    assert np.all((w1 > lo + 1e-3) & (w1 < hi - 1e-3)), "positions too close to the bounds"
    residuals, wrong, moving = [], 0, 0
    for d, (up, sign) in enumerate(((True, 1.0), (False, -1.0))):
        for j, w in enumerate(w_pos):
            step = float(ref_step(response, idn, w, up))
            dw = sign * (w1[d, j] - w0[d, j])
            cell = f"{label} {'up' if up else 'down'} at w={w:.3f} (step {step:.3g})"
            if step < 1e-9:
                # a clamped step stays clamped: the noise multiplies zero
                np.testing.assert_array_less(np.abs(dw), 5e-7, err_msg=cell)
                continue
            rel = dw / step
            print(f"{cell}: mean {rel.mean():.4f}, std / s {rel.std() / C2C:.4f}")
            assert abs(rel.mean() - 1.0) < 4 * C2C / np.sqrt(N), f"{cell}: mean {rel.mean()}"
            np.testing.assert_allclose(rel.std(), C2C, rtol=0.02, err_msg=cell)
            residuals.append((rel - 1.0) / C2C)
            wrong += int(np.sum(dw < 0))
            moving += rel.size
    if label == "ExpStep-clamped":
        assert 0 < len(residuals) < 6, "the clamp should switch some cells off, not all"
    assert_fraction(wrong, moving, stats.norm.cdf(-1.0 / C2C), f"{label} wrong-way steps")
    assert_normal(np.concatenate(residuals), f"{label} one-pulse residuals")


@eqx.filter_jit
def _train(response, identity, g, pulses, key):
    return fire(response, identity, g, pulses, key)


def test_pulse_train_sums_independent_steps_closed_form_and_loop_agree():
    """n pulses of a constant step: mean n dw, std sqrt(n) s dw, normal. ConstantStep sums the
    train in closed form; PowStep with gamma = 0 is the same device fired pulse by pulse."""
    n, s = 8, 0.5
    key = seeded(1100)
    common = dict(dw_min=0.01, up_down=0.1, dw_min_std=s, w_min_dtod=0.0, w_max_dtod=0.0)
    out = {}
    for response in (dm.ConstantStep(**common), dm.PowStep(gamma_up=0.0, gamma_down=0.0, **common)):
        name = type(response).__name__
        k_id, k_pulse = jax.random.split(key)  # same device for both
        identity = one_device(response, k_id)
        dw_up = float(identity.dw_up[0])
        g0 = jnp.full((N,), g_of(response, -0.3), jnp.float32)
        g1 = _train(response, identity, g0, jnp.full((N,), n, jnp.int32), k_pulse)
        move = w_of(response, g1) - w_of(response, g0)
        print(
            f"{name}: mean / (n dw) {move.mean() / (n * dw_up):.4f}, "
            f"std / (sqrt(n) s dw) {move.std() / (np.sqrt(n) * s * dw_up):.4f}"
        )
        assert abs(move.mean() - n * dw_up) < 4 * np.sqrt(n) * s * dw_up / np.sqrt(N), name
        np.testing.assert_allclose(move.std(), np.sqrt(n) * s * dw_up, rtol=0.02, err_msg=name)
        assert_normal((move - n * dw_up) / (np.sqrt(n) * s * dw_up), f"{name} train of {n}")
        out[name] = move
    p = stats.ks_2samp(out["ConstantStep"], out["PowStep"]).pvalue
    print(f"closed form vs pulse by pulse: KS p = {p:.3g}")
    assert p > KS_P


# --- 2. bounds and deterministic trains -------------------------------------------------------

M = 4096


def bounds_response(kind, s):
    common = dict(
        dw_min=0.1,
        dw_min_dtod=0.1,
        dw_min_std=jnp.float32(s),
        up_down_dtod=0.05,
        w_min_dtod=0.2,
        w_max_dtod=0.2,
    )
    return {
        "ConstantStep": lambda: dm.ConstantStep(**common),
        "SoftBounds": lambda: dm.SoftBounds(**common),
        "LinearStep": lambda: dm.LinearStep(gamma_up=0.4, gamma_down=0.7, gamma_dtod=0.1, **common),
        "ExpStep": lambda: dm.ExpStep(**common),
        "PowStep": lambda: dm.PowStep(gamma_up=0.5, gamma_down=0.5, **common),
    }[kind]()


def uniform_in_device(response, idn, key):
    u = f64(jax.random.uniform(key, (M,), jnp.float32, 0.02, 0.98))
    return jnp.asarray(
        g_of(response, idn["w_min"] + u * (idn["w_max"] - idn["w_min"])), jnp.float32
    )


@pytest.mark.parametrize("kind", ["ConstantStep", "SoftBounds", "LinearStep", "ExpStep", "PowStep"])
def test_long_trains_saturate_at_each_devices_own_bounds(kind):
    key = seeded(2000)
    k_id, k_g, k_up, k_down, k_wild = jax.random.split(key, 5)
    response = bounds_response(kind, 0.3)
    identity = draw(response, jnp.zeros((M,), jnp.float32), k_id, jnp.float32(1.0))
    idn = identity64(identity)
    g_lo, g_hi = g_of(response, idn["w_min"]), g_of(response, idn["w_max"])
    np.testing.assert_allclose(g_hi, f64(response.to_g(identity.w_max)), rtol=1e-6)
    np.testing.assert_allclose(g_lo, f64(response.to_g(identity.w_min)), rtol=1e-6, atol=1e-5)
    assert np.std(g_hi) > 1.0, "devices should have their own upper bounds"
    atol = 4e-6  # two float32 ulps at 25 uS

    def within(g, what):
        g = f64(g)
        assert np.all(g <= g_hi + atol) and np.all(g >= g_lo - atol), (
            f"{kind}: {what} out of bounds"
        )

    g = uniform_in_device(response, idn, k_g)
    for direction, k, bound in ((1, k_up, g_hi), (-1, k_down, g_lo)):
        for i in range(8):  # 128 pulses
            g = fire(
                response,
                identity,
                g,
                jnp.full((M,), direction, jnp.int32) * MAX_PULSES,
                jax.random.fold_in(k, i),
            )
            within(g, f"train {direction:+d}, call {i}")
        gap = np.abs(f64(g) - bound) / (g_hi - g_lo)
        print(f"{kind} {direction:+d}: median gap {np.median(gap):.2g}, max {gap.max():.2g}")
        assert np.quantile(gap, 0.99) < 1e-3, f"{kind} {direction:+d} does not saturate"
        assert gap.max() < 0.1, f"{kind} {direction:+d}: a device far from its bound"

    # wild cycle-to-cycle noise (half the steps go the wrong way): still inside the bounds
    wild = bounds_response(kind, 30.0)  # traced spread: same compiled train
    g = uniform_in_device(response, idn, k_g)
    for i in range(4):
        n = jax.random.randint(jax.random.fold_in(k_wild, i), (M,), -MAX_PULSES, MAX_PULSES + 1)
        g = fire(wild, identity, g, n, jax.random.fold_in(k_wild, 100 + i))
        within(g, f"wild train, call {i}")


def test_constant_step_without_noise_moves_exactly_n_steps_until_the_bound():
    key = seeded(2100)
    k_id, k_g, k_n, k_p = jax.random.split(key, 4)
    response = bounds_response("ConstantStep", 0.0)
    identity = draw(response, jnp.zeros((M,), jnp.float32), k_id, jnp.float32(1.0))
    idn = identity64(identity)
    g0 = uniform_in_device(response, idn, k_g)
    n = jax.random.randint(k_n, (M,), -MAX_PULSES, MAX_PULSES + 1)
    g1 = fire(response, identity, g0, n, k_p)
    nf = f64(n)
    want = w_of(response, g0) + np.where(nf > 0, nf * idn["dw_up"], nf * idn["dw_down"])
    clipped = (want > idn["w_max"]) | (want < idn["w_min"])
    assert 0.05 < clipped.mean() < 0.6, "some trains should reach a bound, most not"
    want = np.clip(want, idn["w_min"], idn["w_max"])
    np.testing.assert_allclose(w_of(response, g1), want, rtol=0, atol=1e-5)


def test_soft_bounds_without_noise_follow_the_pulse_by_pulse_recursion():
    """w -> w + dw_up (1 - w / w_max) n times: w_max - (w_max - w0)(1 - dw_up / w_max)^n, and
    down: w_min + (w0 - w_min)(1 + dw_down / w_min)^n (the step is re-evaluated every pulse)."""
    key = seeded(2200)
    k_id, k_g, k_n, k_p = jax.random.split(key, 4)
    response = bounds_response("SoftBounds", 0.0)
    identity = draw(response, jnp.zeros((M,), jnp.float32), k_id, jnp.float32(1.0))
    idn = identity64(identity)
    g0 = uniform_in_device(response, idn, k_g)
    n = jax.random.randint(k_n, (M,), -MAX_PULSES, MAX_PULSES + 1)
    g1 = fire(response, identity, g0, n, k_p)
    w0, nf = w_of(response, g0), np.abs(f64(n))
    up = idn["w_max"] - (idn["w_max"] - w0) * (1.0 - idn["dw_up"] / idn["w_max"]) ** nf
    down = idn["w_min"] + (w0 - idn["w_min"]) * (1.0 + idn["dw_down"] / idn["w_min"]) ** nf
    want = np.where(f64(n) > 0, up, down)
    np.testing.assert_allclose(w_of(response, g1), want, rtol=0, atol=2e-5)
    # and not n steps of the step at the start (what a closed form would wrongly give)
    naive = w0 + f64(n) * np.where(
        f64(n) > 0, idn["dw_up"] * (1 - w0 / idn["w_max"]), idn["dw_down"] * (1 - w0 / idn["w_min"])
    )
    assert np.max(np.abs(naive - want)) > 1e-2


@pytest.mark.parametrize("up_down", [0.0, 0.2, -0.2])
def test_up_then_down_returns_or_drifts_by_the_imbalance(up_down):
    """n up then n down pulses, no noise: symmetric devices come back; dw_up = dw (1 +
    up_down), dw_down = dw (1 - up_down) leaves each device 2 n dw up_down higher."""
    n = 10
    key = seeded(2300)
    k_id, k_up, k_down = jax.random.split(key, 3)
    response = dm.ConstantStep(
        dw_min=0.01,
        dw_min_dtod=0.3,
        up_down=jnp.float32(up_down),
        up_down_dtod=0.0,
        dw_min_std=jnp.float32(0.0),
        w_min_dtod=0.05,  # every device's bounds stay out of reach
        w_max_dtod=0.05,
    )
    identity = draw(response, jnp.zeros((M,), jnp.float32), k_id, jnp.float32(1.0))
    idn = identity64(identity)
    g0 = jnp.asarray(g_of(response, np.linspace(-0.5, 0.5, M)), jnp.float32)
    g1 = fire(response, identity, g0, jnp.full((M,), n, jnp.int32), k_up)
    g2 = fire(response, identity, g1, jnp.full((M,), -n, jnp.int32), k_down)
    drift = w_of(response, g2) - w_of(response, g0)
    dw = 0.5 * (idn["dw_up"] + idn["dw_down"])
    np.testing.assert_allclose(drift, 2 * n * dw * up_down, rtol=0, atol=1e-5)
    if up_down != 0.0:
        assert np.all(np.sign(drift[dw > 1e-4]) == np.sign(up_down))


# --- 3. identity statistics -------------------------------------------------------------------

DW_DTOD, UD, UD_DTOD, WMIN_DTOD, WMAX_DTOD = 0.4, 0.1, 0.05, 0.2, 0.25


def identity_response(g_min=10.0, **kw):
    """g_min = 10 uS puts the w of 0 uS at -2.8, far below every drawn w_min (no floor)."""
    return dm.ConstantStep(
        g_min=jnp.float32(g_min),
        g_max=20.0,
        dw_min=0.01,
        dw_min_dtod=DW_DTOD,
        up_down=UD,
        up_down_dtod=UD_DTOD,
        w_min=-0.8,
        w_max=1.2,
        w_min_dtod=WMIN_DTOD,
        w_max_dtod=WMAX_DTOD,
        **kw,
    )


def censored_moments(b):
    """Mean and std of max(1 + b z, 0), z standard normal."""
    a = 1.0 / b
    m1 = stats.norm.cdf(a) + b * stats.norm.pdf(a)
    m2 = (1.0 + b * b) * stats.norm.cdf(a) + b * stats.norm.pdf(a)
    return m1, math.sqrt(m2 - m1 * m1)


def step_and_bias(idn):
    dw = 0.5 * (idn["dw_up"] + idn["dw_down"])
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = (idn["dw_up"] - idn["dw_down"]) / (idn["dw_up"] + idn["dw_down"])
    return dw, bias


def test_identity_normal_steps_bias_and_bounds():
    key = seeded(3001)  # (3000: the raw normals themselves give KS p = 0.006)
    like = jnp.zeros((N,), jnp.float32)
    response = identity_response()
    idn = identity64(draw(response, like, key, jnp.float32(1.0)))
    dw, bias = step_and_bias(idn)
    x = dw / 0.01

    # step: normal with relative spread dw_min_dtod, clipped at zero
    assert np.all(x >= 0.0)
    assert_fraction(int(np.sum(x == 0.0)), N, stats.norm.cdf(-1 / DW_DTOD), "zero steps")
    mean, sd = censored_moments(DW_DTOD)
    print(f"step mean {x.mean():.4f} (want {mean:.4f}), std {x.std():.4f} (want {sd:.4f})")
    assert abs(x.mean() - mean) < 4 * sd / np.sqrt(N)
    np.testing.assert_allclose(x.std(), sd, rtol=0.02)
    pos = (x[x > 0] - 1.0) / DW_DTOD
    p = stats.kstest(pos, stats.truncnorm(-1 / DW_DTOD, np.inf).cdf).pvalue
    print(f"positive steps vs truncated normal: KS p = {p:.3g}")
    assert p > KS_P
    # up / down: mean dw_min (1 +- up_down)
    for name, sign in (("dw_up", 1.0), ("dw_down", -1.0)):
        v = idn[name] / 0.01
        print(f"{name}: mean {v.mean():.4f}, want {mean * (1 + sign * UD):.4f}")
        assert abs(v.mean() - mean * (1 + sign * UD)) < 4 * v.std() / np.sqrt(N), name

    # imbalance: up_down + up_down_dtod z
    b = bias[dw > 0]
    assert abs(b.mean() - UD) < 4 * UD_DTOD / np.sqrt(b.size)
    np.testing.assert_allclose(b.std(), UD_DTOD, rtol=0.02)
    assert_normal((b - UD) / UD_DTOD, "up/down imbalance")

    # bounds: w (1 + w_dtod z)
    for name, nom, dtod in (("w_max", 1.2, WMAX_DTOD), ("w_min", -0.8, WMIN_DTOD)):
        z = (idn[name] / nom - 1.0) / dtod
        print(f"{name}: mean z {z.mean():.4f}, std z {z.std():.4f}")
        assert abs(z.mean()) < 4 / np.sqrt(N), name
        np.testing.assert_allclose(z.std(), 1.0, rtol=0.02, err_msg=name)
        assert_normal(z, name)
    assert np.all(idn["family"] == 0.0)


def test_identity_lower_bound_floored_at_zero_microsiemens():
    """With g_min = 0 the w of 0 uS is the nominal w_min: a lower bound drawn below it is
    floored there (same key: the same draws otherwise)."""
    key = seeded(3100)
    like = jnp.zeros((N,), jnp.float32)
    free = identity64(draw(identity_response(), like, key, jnp.float32(1.0)))
    floored = identity64(draw(identity_response(g_min=0.0), like, key, jnp.float32(1.0)))
    np.testing.assert_allclose(floored["w_min"], np.maximum(free["w_min"], -0.8), rtol=1e-6)
    assert np.all(floored["w_min"] >= -0.8 - 1e-7)
    assert_fraction(int(np.sum(floored["w_min"] <= -0.8 + 1e-7)), N, 0.5, "floored w_min")
    for name in ("dw_up", "dw_down", "w_max"):
        np.testing.assert_array_equal(floored[name], free[name], err_msg=name)


def test_identity_variation_scales_every_spread():
    key = seeded(3200)
    like = jnp.zeros((N,), jnp.float32)
    response = identity_response()
    one = identity64(draw(response, like, key, jnp.float32(1.0)))
    two = identity64(draw(response, like, key, jnp.float32(2.0)))
    none = identity64(draw(response, like, key, jnp.float32(0.0)))

    # variation 0: every device is the nominal one
    np.testing.assert_allclose(none["dw_up"], 0.01 * (1 + UD), rtol=1e-6)
    np.testing.assert_allclose(none["dw_down"], 0.01 * (1 - UD), rtol=1e-6)
    np.testing.assert_allclose(none["w_max"], 1.2, rtol=1e-6)
    np.testing.assert_allclose(none["w_min"], -0.8, rtol=1e-6)
    for name, v in none.items():
        assert np.ptp(v) == 0.0, f"{name} varies at variation 0"

    # variation 2: each device's deviation from nominal doubles (same draws)
    dw1, b1 = step_and_bias(one)
    dw2, b2 = step_and_bias(two)
    ok = (dw1 > 0) & (dw2 > 0)
    np.testing.assert_allclose(dw2[ok] / 0.01 - 1, 2 * (dw1[ok] / 0.01 - 1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b2[ok] - UD, 2 * (b1[ok] - UD), rtol=1e-3, atol=1e-5)
    for name, nom in (("w_max", 1.2), ("w_min", -0.8)):
        r1, r2 = one[name] / nom, two[name] / nom
        kept = 2 * r1 - 1 > 1e-3  # a bound drawn past zero is kept at 1e-3 of nominal
        assert 0 < np.sum(~kept) < 0.05 * N
        np.testing.assert_allclose(r2[kept] - 1, 2 * (r1[kept] - 1), atol=1e-5, err_msg=name)
        np.testing.assert_allclose(r2[~kept], 1e-3, rtol=1e-4, err_msg=name)
    _, sd2 = censored_moments(2 * DW_DTOD)
    np.testing.assert_allclose((dw2 / 0.01).std(), sd2, rtol=0.02)
    assert_fraction(int(np.sum(dw2 == 0)), N, stats.norm.cdf(-1 / (2 * DW_DTOD)), "zero at v=2")

    # same key, same identity; another key, another
    again = identity64(draw(response, like, key, jnp.float32(1.0)))
    for name in one:
        np.testing.assert_array_equal(again[name], one[name], err_msg=name)
    other = identity64(draw(response, like, jax.random.fold_in(key, 1), jnp.float32(1.0)))
    assert np.mean(other["dw_up"] == one["dw_up"]) < 0.01

    with pytest.raises(dm.ParameterError, match="variation"):
        response.draw_identity((3,), key=key, variation=-1.0)


def test_identity_log_normal_steps():
    """ln(dw / dw_min) = dw_min_dtod z: always positive, median dw_min."""
    key = seeded(3300)
    like = jnp.zeros((N,), jnp.float32)
    response = identity_response(log_normal_steps=True)
    one = identity64(draw(response, like, key, jnp.float32(1.0)))
    two = identity64(draw(response, like, key, jnp.float32(2.0)))
    dw1, b1 = step_and_bias(one)
    dw2, _ = step_and_bias(two)
    assert np.all(dw1 > 0) and np.all(dw2 > 0)
    z = np.log(dw1 / 0.01) / DW_DTOD
    assert abs(z.mean()) < 4 / np.sqrt(N)
    np.testing.assert_allclose(z.std(), 1.0, rtol=0.02)
    assert_normal(z, "ln step")
    np.testing.assert_allclose(np.log(dw2 / 0.01), 2 * np.log(dw1 / 0.01), rtol=1e-4, atol=1e-5)
    # the mean step is dw_min exp(dtod^2 / 2), not dw_min: dw_min is the median (the
    # AbstractPulseResponse docstring calls it the mean step)
    m = np.exp(DW_DTOD**2 / 2)
    assert abs((dw1 / 0.01).mean() - m) < 4 * (dw1 / 0.01).std() / np.sqrt(N)
    assert abs(b1.mean() - UD) < 4 * UD_DTOD / np.sqrt(N)


def test_identity_linear_step_slope_factor():
    key = seeded(3400)
    like = jnp.zeros((N,), jnp.float32)
    response = dm.LinearStep(gamma_dtod=jnp.float32(0.1))
    fam = f64(draw(response, like, key, jnp.float32(1.0)).family)
    assert abs(fam.mean() - 1.0) < 4 * 0.1 / np.sqrt(N)
    np.testing.assert_allclose(fam.std(), 0.1, rtol=0.02)
    assert_normal((fam - 1.0) / 0.1, "linear-step slope factor")
    assert np.all(f64(draw(response, like, key, jnp.float32(0.0)).family) == 1.0)


# --- 4. presets and bad values ----------------------------------------------------------------

DOCUMENTED_STATES = {"idealized": 10_000, "gokmen_vlasov": 1_250, "ecram": 1_000}


@pytest.mark.parametrize("name", sorted(dm.PULSE_PRESETS))
def test_presets_build_with_their_documented_numbers(name):
    response = dm.get_pulse_response(name)
    assert isinstance(response, dm.AbstractPulseResponse)
    assert response.name == name and response.citation
    states = (nominal(response, "w_max") - nominal(response, "w_min")) / nominal(response, "dw_min")
    print(f"{name}: {states:.0f} states")
    if name in DOCUMENTED_STATES:
        np.testing.assert_allclose(states, DOCUMENTED_STATES[name], rtol=0.01)
    if name == "idealized":
        for f in ("dw_min_dtod", "dw_min_std", "w_min_dtod", "w_max_dtod", "up_down_dtod"):
            assert nominal(response, f) <= 0.01, f
    if name == "ecram":
        assert isinstance(response, dm.LinearStep)
        assert (response.gamma_up, response.gamma_down) == (0.1153, 0.5085)
    if name == "reram_es":
        assert isinstance(response, dm.ExpStep)
        assert nominal(response, "dw_min_std") == 5.0 and nominal(response, "up_down") > 0.25


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(dm.ParameterError, match="nope") as err:
        dm.get_pulse_response("nope")
    for name in dm.PULSE_PRESETS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "cls, kw, param",
    [
        (dm.ConstantStep, dict(dw_min_dtod=-0.1), "dw_min_dtod"),
        (dm.SoftBounds, dict(dw_min=0.0), "dw_min"),
        (dm.LinearStep, dict(dw_min=-0.01), "dw_min"),  # the parent's checks run too
        (dm.PowStep, dict(dw_min=0.0), "dw_min"),
        (dm.ExpStep, dict(g_min=25.0, g_max=25.0), "g_min"),
        (dm.ConstantStep, dict(g_min=30.0), "g_min"),
        (dm.SoftBounds, dict(w_max=0.0), "w_max"),
        (dm.ConstantStep, dict(w_max=-1.0), "w_max"),
        (dm.ConstantStep, dict(w_min=0.5), "w_min"),
        (dm.LinearStep, dict(gamma_dtod=-0.05), "gamma_dtod"),
        (dm.PowStep, dict(gamma_up=-1.0), "gamma_up"),
        (dm.ConstantStep, dict(dw_min_std=-0.3), "dw_min_std"),
        (dm.ConstantStep, dict(up_down=-1.0), "up_down"),
        (dm.ConstantStep, dict(w_max_dtod=float("nan")), "w_max_dtod"),
    ],
)
def test_bad_values_name_the_parameter(cls, kw, param):
    with pytest.raises(dm.ParameterError, match=rf"^{param} "):
        cls(**kw)


# --- 5. counts, jit, vmap ---------------------------------------------------------------------


def small_setup(seed, response):
    k_id, k_g, k_p = jax.random.split(seeded(seed), 3)
    identity = draw(response, jnp.zeros((M,), jnp.float32), k_id, jnp.float32(1.0))
    g0 = uniform_in_device(response, identity64(identity), k_g)
    return identity, g0, k_p


@pytest.mark.parametrize("kind", ["ConstantStep", "SoftBounds"])
def test_pulse_counts_above_max_are_capped(kind):
    response = bounds_response(kind, 0.3)
    identity, g0, k = small_setup(5000, response)
    sign = jnp.where(jnp.arange(M) % 2 == 0, 1, -1).astype(jnp.int32)
    capped = fire(response, identity, g0, sign * MAX_PULSES, k)
    for big in (MAX_PULSES + 1, 100, 10**6):
        np.testing.assert_array_equal(fire(response, identity, g0, sign * big, k), capped)
    assert np.mean(f64(capped) != f64(g0)) > 0.99
    with pytest.raises(dm.ParameterError, match="max_pulses"):
        response.apply_pulses(identity, g0, sign, key=k, max_pulses=0)


@pytest.mark.parametrize("kind", ["ConstantStep", "SoftBounds"])
def test_zero_pulses_leave_conductance_bitwise_unchanged(kind):
    """Devices given no pulse keep g exactly (no float32 round trip through w), in the same
    call as devices that do get pulses."""
    response = bounds_response(kind, 0.3)
    identity, g0, k = small_setup(5100, response)
    n = jnp.where(jnp.arange(M) % 3 == 0, 0, 3).astype(jnp.int32)
    g1 = fire(response, identity, g0, n, k)
    idle = np.asarray(n) == 0
    np.testing.assert_array_equal(f64(g1)[idle], f64(g0)[idle])
    assert np.all(f64(g1)[~idle] != f64(g0)[~idle])
    g_none = fire(response, identity, g0, jnp.zeros((M,), jnp.int32), k)
    np.testing.assert_array_equal(g_none, g0)


def test_apply_pulses_jit_matches_eager_and_vmap_matches_loop():
    response = bounds_response("SoftBounds", 0.3)
    identity, g0, k = small_setup(5200, response)
    n = jax.random.randint(jax.random.fold_in(k, 1), (M,), -MAX_PULSES, MAX_PULSES + 1)
    jitted = fire(response, identity, g0, n, k)
    eager = response.apply_pulses(identity, g0, n, key=k, max_pulses=MAX_PULSES)
    np.testing.assert_allclose(f64(jitted), f64(eager), rtol=1e-6, atol=1e-6)

    d = 6
    sub = jax.tree.map(lambda x: x[:d], identity)
    keys = jax.random.split(jax.random.fold_in(k, 2), d)
    counts = jnp.asarray([0, 1, -1, 5, -MAX_PULSES, 40], jnp.int32)  # ragged, one capped

    def single(idn, g, p, key):
        return response.apply_pulses(idn, g, p, key=key, max_pulses=MAX_PULSES)

    vmapped = eqx.filter_jit(jax.vmap(single))(sub, g0[:d], counts, keys)
    one = eqx.filter_jit(single)
    looped = [
        one(jax.tree.map(lambda x, i=i: x[i], sub), g0[i], counts[i], keys[i]) for i in range(d)
    ]
    np.testing.assert_allclose(f64(vmapped), f64(jnp.stack(looped)), rtol=1e-6, atol=1e-6)
