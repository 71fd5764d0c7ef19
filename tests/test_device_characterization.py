"""`characterize_device` against the device presets' specification, by numerical integration.

Each preset is characterized once (module-scoped fixtures: 11 levels x 1e5 devices, the default
times) and every statistic it reports, at every level and time, is compared with its expected
value, computed here in float64 from the model's formulas and never from the package's physics:

- the write draw z by exact normal masses at the two clip points (the device's own range)
  plus Gauss-Legendre between them, split where the integrand has a kink (z truncated at
  +-10, mass 1.5e-23 beyond);
- the identity: the read-gain draw by Gauss-Hermite, the range draw by Gauss-Legendre on
  either side of 0 (RRAM's fit has a kink where a device's own g_max crosses 40 uS);
- PCM's drift factor exp(-|mu + sd z_d| L) by its exact folded-normal Laplace transform;
- RRAM's relaxation draw, PCM's open-loop settling and the clip of a noisy read at 0 by exact
  clipped-normal moments, e.g. E[max(a + b eps, 0)] = a Phi(a/b) + b phi(a/b).

Raw moments up to the fourth are integrated: the kurtosis sets a std's sampling error. The
quadrature error (node counts doubled or more: below 1e-8 uS in every mean and std, against a
smallest sampling error of 5e-4 uS) is negligible; the expectations were also checked against
a float64 numpy Monte Carlo of the same model (1e6 to 1e7 devices per level). Tolerances are
the sampling error at N working devices per level: means within 5 std / sqrt(N), standard
deviations within 6 std / sqrt(N) (scaled up where the kurtosis exceeds a normal's, see
`assert_matches`; plus 1e-6 uS for zero spreads), stuck fractions within 5 binomial standard
errors.

Model (published programming, the presets' default): a device with read gain
exp(s z_g - s^2/2) and own range [0, g_max exp(r z_r)] is programmed to
g_p = clip(g_target / gain + sigma_pub(g_target) z, 0, g_max_dev) and reads
max(gain (g_t + sigma_read eps), 0) at time t; right after programming (no noise) gain * g_p.
Stuck devices are left out of every mean and std.
"""

import numpy as np
import pytest
from published_formulas import wan_spread
from scipy import special

import device_models as dm
from analogsim._chip.characterize import characterize_device

DEVICES = 100_000
LEVELS = 11
TIMES = (20.0, 3600.0, 86400.0, 2592000.0, 31536000.0)
SEED = 0
MEAN_K = 5.0  # means within MEAN_K * std / sqrt(N)
STD_K = 6.0  # standard deviations within STD_K * std / sqrt(N)
ABS_TOL = 1e-6  # uS, for spreads that are exactly zero
BINOMIAL_K = 5.0

# Quadrature: Gauss-Hermite nodes per identity draw, Gauss-Legendre nodes per segment of the
# write draw, and where the write draw is truncated.
GH_NODES = 20
GL_NODES = 40
Z_MAX = 10.0

# --- the specification, float64 ----------------------------------------------------------------

PCM = dict(
    g_max=25.0,
    gain_sigma=0.025,
    range_sigma=0.05,
    stuck_on=0.001,
    stuck_off=0.002,
    t0=20.0,
    t_read=250e-9,
    open_loop_ratio=3.0,
)
RRAM = dict(
    g_max=40.0,
    gain_sigma=0.02,
    range_sigma=0.05,
    stuck_on=0.01,
    stuck_off=0.02,
    read_relative=0.01,
)


def phi(z):
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def Phi(z):  # noqa: N802 (the usual name of the normal CDF)
    return special.ndtr(z)


def pcm_sigma_pub(g):
    """Nandakumar et al. 2019 programming spread, uS."""
    x = g / PCM["g_max"]
    return np.maximum(0.26348 + 1.9650 * x - 1.1731 * x**2, 0.0)


def pcm_nu_moments(g_target):
    """(mu, sd) of the normal whose absolute value is nu, from the target conductance."""
    log_x = np.log(np.maximum(g_target / PCM["g_max"], 1e-6))
    mu = np.clip(-0.0155 * log_x + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * log_x - 0.0059, 0.008, 0.045)
    return mu, sd


def pcm_drift_factor_moment(g_target, t, k):
    """E[exp(-k nu L)], nu = |mu + sd z|, L = ln(max(t, t0) / t0): folded-normal Laplace
    transform, E[e^{-s|Y|}] = e^{-s a + s^2 b^2 / 2} Phi(a/b - s b)
    + e^{s a + s^2 b^2 / 2} Phi(-a/b - s b) for Y ~ N(a, b^2)."""
    a, b = pcm_nu_moments(g_target)
    s = k * np.log(max(t, PCM["t0"]) / PCM["t0"])
    return np.exp(-s * a + 0.5 * (s * b) ** 2) * Phi(a / b - s * b) + np.exp(
        s * a + 0.5 * (s * b) ** 2
    ) * Phi(-a / b - s * b)


PCM_Q_KINK = PCM["g_max"] * (0.0088 / 0.2) ** (1.0 / 0.65)  # where Q_s reaches its 0.2 cap


def pcm_q_s(g_p):
    xp = np.maximum(g_p / PCM["g_max"], 1e-6)
    return np.minimum(0.0088 * xp**-0.65, 0.2)


def pcm_read_log_term(t):
    return np.sqrt(max(np.log((t + PCM["t_read"]) / (2.0 * PCM["t_read"])), 0.0))


rram_spread = wan_spread  # Wan et al. 2022 spread, uS, on the preset's 40 uS range


def rram_sigma_pub(g):
    return rram_spread(g, 1.0)


# --- integration -------------------------------------------------------------------------------
# Every expectation carries the raw moments E[X^k], k = 1..4, stacked along axis 0: the mean and
# std are the statistics compared, the kurtosis sets the sampling error of a std (below).

ORDERS = np.arange(1, 5)[:, None]  # k = 1..4, broadcast against the quadrature points


def tail_moments(c):
    """J_k(c) = int_c^inf z^k phi(z) dz for k = 0..4 (stacked), by J_k = c^(k-1) phi(c)
    + (k - 1) J_(k-2)."""
    c = np.clip(c, -40.0, 40.0)
    j0, j1 = Phi(-c), phi(c)
    j2 = c * phi(c) + j0
    return np.stack([j0, j1, j2, c**2 * phi(c) + 2 * j1, c**3 * phi(c) + 3 * j2])


def clipped_normal_moments(m, s, lo, hi):
    """E[Y^k], k = 1..4, of Y = clip(m + s Z, lo, hi), Z standard normal, exactly (s >= 0)."""
    m, s, lo, hi = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (m, s, lo, hi)))
    s_safe = np.where(s > 0, s, 1.0)
    a, b = (lo - m) / s_safe, (hi - m) / s_safe
    inside = tail_moments(a) - tail_moments(b)  # int_a^b z^j phi(z) dz
    out = []
    for n in range(1, 5):
        e = lo**n * Phi(a) + hi**n * Phi(-b)
        for j in range(n + 1):
            e = e + special.comb(n, j) * m ** (n - j) * s**j * inside[j]
        out.append(np.where(s > 0, e, np.clip(m, lo, hi) ** n))
    return np.stack(out)


def relu_noise_moments(b):
    """E[max(1 + b eps, 0)^k], k = 1..4, eps standard normal, b > 0 (stacked)."""
    b = np.asarray(b, np.float64)
    tails = tail_moments(-1.0 / b)
    return np.stack(
        [sum(special.comb(n, j) * b**j * tails[j] for j in range(n + 1)) for n in range(1, 5)]
    )


def expect_over_write(f, m, s, lo, hi, kinks=(), gl_nodes=GL_NODES):
    """E over z ~ N(0, 1) of f(clip(m + s z, lo, hi), hi), f returning stacked moments.

    m, lo, hi: arrays of one shape (the identity quadrature points); s > 0 a scalar. The two
    clip points carry exact normal masses; between them the integrand is smooth except at the
    conductances in `kinks` (ascending), so Gauss-Legendre runs on each piece between them.
    """
    za, zb = (lo - m) / s, (hi - m) / s
    breaks = [za, *(np.clip((k - m) / s, za, zb) for k in kinks), zb]
    breaks = [np.clip(z, -Z_MAX, Z_MAX) for z in breaks]
    total = Phi(za) * f(lo, hi) + Phi(-zb) * f(hi, hi)
    x, w = np.polynomial.legendre.leggauss(gl_nodes)
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        half = 0.5 * (b - a)[..., None]
        z = 0.5 * (a + b)[..., None] + half * x
        total = total + np.sum(f(m[..., None] + s * z, hi[..., None]) * half * w * phi(z), axis=-1)
    return total


def identity_grid(gain_sigma, range_sigma, g_max, gh_nodes=GH_NODES):
    """Quadrature points of (read gain, own g_max) at variation 1, and their weights: z_g by
    Gauss-Hermite; z_r by Gauss-Legendre on [-Z_MAX, 0] and [0, Z_MAX], since a kink of the
    integrand where a device's own g_max crosses the nominal one (RRAM's fit clips at
    x = 1) would spoil Gauss-Hermite's convergence."""
    zg, wg = np.polynomial.hermite_e.hermegauss(gh_nodes)
    wg = wg / np.sqrt(2 * np.pi)
    x, wx = np.polynomial.legendre.leggauss(gh_nodes)
    zr = np.concatenate([0.5 * Z_MAX * (x - 1), 0.5 * Z_MAX * (x + 1)])
    wr = np.concatenate([wx, wx]) * 0.5 * Z_MAX * phi(zr)
    zg, zr = (a.ravel() for a in np.meshgrid(zg, zr, indexing="ij"))
    weight = np.outer(wg, wr).ravel()
    gain = np.exp(gain_sigma * zg - 0.5 * gain_sigma**2)
    return gain, g_max * np.exp(range_sigma * zr), weight


def mean_std_kurtosis(e):
    """Mean, std and kurtosis from raw moments E[X^k], k = 1..4 (axis 0)."""
    e1, e2, e3, e4 = e
    var = np.maximum(e2 - e1**2, 0.0)
    m4 = e4 - 4 * e1 * e3 + 6 * e1**2 * e2 - 3 * e1**4
    kurt = np.where(var > 0, m4 / np.where(var > 0, var, 1.0) ** 2, 3.0)
    return e1, np.sqrt(var), kurt


def expected_published(
    p, sigma_pub, read_factor, times, kinks=(), gh_nodes=GH_NODES, gl_nodes=GL_NODES
):
    """Expected (mean, std, kurtosis) of the programmed read, each of shape (levels,), and of
    the read at each time, (levels, times), for the published procedure over working devices:
    g_p = clip(g / gain + sigma_pub(g) z, 0, g_max_dev).

    read_factor(g_target, t) returns (h, c): the read at t is gain * R with R a function of
    g_p and the per-device draws after programming, E[R^k | g_p] = c[k - 1] * h(g_p, hi)[k - 1].
    """
    gain, hi, w = identity_grid(p["gain_sigma"], p["range_sigma"], p["g_max"], gh_nodes)
    gain_k = gain**ORDERS
    lo = np.zeros_like(hi)
    targets = np.linspace(0.0, p["g_max"], LEVELS)
    prog = np.zeros((4, LEVELS))
    read = np.zeros((4, LEVELS, len(times)))
    powers = lambda g, hi: g ** ORDERS.reshape((4,) + (1,) * np.ndim(g))
    for i, g in enumerate(targets):
        s = sigma_pub(g)
        e = expect_over_write(powers, g / gain, s, lo, hi, (), gl_nodes)
        prog[:, i] = np.sum(w * gain_k * e, axis=-1)
        for j, t in enumerate(times):
            h, c = read_factor(g, t)
            e = expect_over_write(h, g / gain, s, lo, hi, kinks, gl_nodes)
            read[:, i, j] = np.sum(w * gain_k * e, axis=-1) * c
    return mean_std_kurtosis(prog), mean_std_kurtosis(read)


def pcm_read_factor(g_target, t):
    """PCM at t: R = g_p D max(1 + Q_s(g_p) c_t eps, 0), drift factor D independent of g_p
    (its exponent comes from the target)."""
    c_t = pcm_read_log_term(t)
    h = lambda g_p, hi: (
        g_p ** ORDERS.reshape((4,) + (1,) * np.ndim(g_p)) * relu_noise_moments(pcm_q_s(g_p) * c_t)
    )
    return h, np.array([pcm_drift_factor_moment(g_target, t, k) for k in range(1, 5)])


def rram_read_factor(g_target, t):
    """RRAM at t: R = g_t max(1 + 0.01 eps, 0), g_t = clip(g_p + shift(g_p, t) z_relax, 0,
    g_max_dev), shift = sqrt(spread(g_p, t)^2 - spread(g_p, 1 s)^2)."""

    def h(g_p, hi):
        shift = np.sqrt(np.maximum(rram_spread(g_p, t) ** 2 - rram_spread(g_p, 1.0) ** 2, 0.0))
        return clipped_normal_moments(g_p, shift, 0.0, hi)

    return h, relu_noise_moments(RRAM["read_relative"])


def expected_pcm(gh_nodes=GH_NODES, gl_nodes=GL_NODES):
    kinks = (1e-6 * PCM["g_max"], PCM_Q_KINK)
    return expected_published(PCM, pcm_sigma_pub, pcm_read_factor, TIMES, kinks, gh_nodes, gl_nodes)


def expected_rram(gh_nodes=GH_NODES, gl_nodes=GL_NODES):
    kinks = (40.0,)  # x = g / 40 uS clips at 1 (devices whose own g_max exceeds 40 uS)
    return expected_published(
        RRAM, rram_sigma_pub, rram_read_factor, TIMES, kinks, gh_nodes, gl_nodes
    )


def expected_pcm_open_loop(gh_nodes=GH_NODES, gl_nodes=GL_NODES):
    """(mean, std, kurtosis) of PCM's open-loop programmed read, per level:
    g_w = clip(g + r sigma z1, 0, g_max_dev), g_p = clip(g_w + sigma z2, 0, g_max_dev), read
    back as gain * g_p (the gain not absorbed)."""
    gain, hi, w = identity_grid(PCM["gain_sigma"], PCM["range_sigma"], PCM["g_max"], gh_nodes)
    out = np.zeros((4, LEVELS))
    for i, g in enumerate(np.linspace(0.0, PCM["g_max"], LEVELS)):
        s = pcm_sigma_pub(g)
        settle = lambda g_w, hi, s=s: clipped_normal_moments(g_w, s, 0.0, hi)
        r_s = PCM["open_loop_ratio"] * s
        e = expect_over_write(settle, np.full_like(hi, g), r_s, np.zeros_like(hi), hi, (), gl_nodes)
        out[:, i] = np.sum(w * gain**ORDERS * e, axis=-1)
    return mean_std_kurtosis(out)


# --- checks ------------------------------------------------------------------------------------


def working(p):
    """Expected working (not stuck) devices per level."""
    return DEVICES * (1.0 - p["stuck_on"] - p["stuck_off"])


def assert_matches(label, mean, std, want, n):
    """Means within MEAN_K std / sqrt(n) and stds within STD_K std / sqrt(n) of the expected
    (mean, std, kurtosis) `want`.

    std / sqrt(n) is the standard error of a mean. A sample std's standard error is
    std sqrt((kurtosis - 1) / (4 n)): std / sqrt(2 n) for a normal, so STD_K = 6 is 8.5 of
    them there; where the expected kurtosis exceeds a normal's 3 (PCM at g_target = 0: half
    the devices at exactly 0, the rest spread by drift and capped 1/f noise, kurtosis up to
    ~30), the std tolerance grows by sqrt((kurtosis - 1) / 2) to stay the same number of
    standard errors.
    """
    want_mean, want_std, kurt = want
    se = want_std / np.sqrt(n)
    se_std = se * np.maximum(1.0, np.sqrt((kurt - 1.0) / 2.0))
    print(
        f"{label}: worst |mean error| {np.max(np.abs(mean - want_mean) / se):.2f} se, "
        f"worst |std error| {np.max(np.abs(std - want_std) / se_std):.2f} se "
        f"(tolerances {MEAN_K:g}, {STD_K:g})"
    )
    np.testing.assert_array_less(
        np.abs(mean - want_mean), MEAN_K * se + ABS_TOL, err_msg=f"{label} mean"
    )
    np.testing.assert_array_less(
        np.abs(std - want_std), STD_K * se_std + ABS_TOL, err_msg=f"{label} std"
    )


def at(want, index):
    """One slice of every statistic in an expected (mean, std, kurtosis)."""
    return tuple(a[index] for a in want)


def run(name, **kw):
    return characterize_device(
        dm.get_device(name), levels=LEVELS, times=TIMES, devices=DEVICES, seed=SEED, **kw
    )


@pytest.fixture(scope="module")
def pcm():
    return run("pcm"), expected_pcm()


@pytest.fixture(scope="module")
def rram():
    return run("rram"), expected_rram()


@pytest.fixture(scope="module")
def ideal():
    return run("ideal")


@pytest.fixture(scope="module")
def pcm_open_loop():
    return run("pcm", procedure="open-loop"), expected_pcm_open_loop()


SPECS = {"pcm": PCM, "rram": RRAM}


@pytest.mark.parametrize("name", ["pcm", "rram"])
def test_coordinates_are_levels_and_times(name, request):
    """The levels are linspace(0, g_max, 11) and the times the ones asked for: the
    expectations are computed at exactly these points."""
    ds, _ = request.getfixturevalue(name)
    np.testing.assert_allclose(
        ds.g_target.values, np.linspace(0.0, SPECS[name]["g_max"], LEVELS), rtol=1e-6
    )
    np.testing.assert_array_equal(ds.t.values, TIMES)
    assert ds.prog_mean.dims == ("g_target",) and ds.read_mean.dims == ("g_target", "t")


@pytest.mark.parametrize("name", ["pcm", "rram"])
def test_programmed_conductance_matches_spec(name, request):
    """The noise-free read right after published programming, over working devices: mean and
    std of gain * clip(g / gain + sigma_pub z, 0, g_max_dev) at every level, the clipped end
    levels included (half the devices at 0 for g_target = 0; each device's own g_max biasing
    g_target = g_max low). Catches a carved-out or missing spread, an unabsorbed gain, stuck
    devices left in the statistics and a wrong clip."""
    ds, (prog, _) = request.getfixturevalue(name)
    assert_matches(
        f"{name} prog", ds.prog_mean.values, ds.prog_std.values, prog, working(SPECS[name])
    )


@pytest.mark.parametrize("name", ["pcm", "rram"])
def test_reads_over_time_match_spec(name, request):
    """One noisy read at each time (20 s to 1 year), every level: PCM's drift with nu from the
    target (negative draws reflected), its 1/f read noise with Q_s of the programmed
    conductance and the read clipped at 0; RRAM's relaxation from the programmed conductance,
    clipped to the device's own range, and its 1% read noise."""
    ds, (_, read) = request.getfixturevalue(name)
    for j, t in enumerate(TIMES):
        assert_matches(
            f"{name} read at t = {t:g} s",
            ds.read_mean.values[:, j],
            ds.read_std.values[:, j],
            at(read, (slice(None), j)),
            working(SPECS[name]),
        )


def test_ideal_device_reads_its_targets_exactly(ideal):
    """The ideal preset has no noise and no variation: every statistic is the target, every
    spread zero, no device stuck."""
    targets = np.linspace(0.0, 25.0, LEVELS)
    np.testing.assert_allclose(ideal.g_target.values, targets, rtol=1e-6)
    np.testing.assert_allclose(ideal.prog_mean.values, targets, rtol=0, atol=ABS_TOL)
    np.testing.assert_allclose(ideal.prog_std.values, 0.0, rtol=0, atol=ABS_TOL)
    want = np.broadcast_to(targets[:, None], (LEVELS, len(TIMES)))
    np.testing.assert_allclose(ideal.read_mean.values, want, rtol=0, atol=ABS_TOL)
    np.testing.assert_allclose(ideal.read_std.values, 0.0, rtol=0, atol=ABS_TOL)
    np.testing.assert_array_equal(ideal.stuck_on_fraction.values, 0.0)
    np.testing.assert_array_equal(ideal.stuck_off_fraction.values, 0.0)


@pytest.mark.parametrize("name", ["pcm", "rram"])
def test_stuck_fractions_match_probabilities(name, request):
    """stuck_on_fraction and stuck_off_fraction are fractions of all drawn devices (per level
    when reported per level): within 5 binomial standard errors of the preset's
    probabilities, which also tells the two apart (RRAM's are 1% and 2%)."""
    ds, _ = request.getfixturevalue(name)
    p = SPECS[name]
    for var, prob in (("stuck_on_fraction", p["stuck_on"]), ("stuck_off_fraction", p["stuck_off"])):
        frac = np.asarray(ds[var].values, np.float64)
        n = DEVICES if ds[var].ndim else DEVICES * LEVELS
        se = np.sqrt(prob * (1 - prob) / n)
        print(f"{name} {var}: {frac} (p {prob}, se {se:.2g})")
        np.testing.assert_array_less(np.abs(frac - prob), BINOMIAL_K * se, err_msg=var)


def test_pcm_open_loop_write_is_wider_by_sqrt_one_plus_ratio_squared(pcm, pcm_open_loop):
    """procedure="open-loop": a write with placement error r sigma_pub, then the published
    settling, the gain not absorbed. At every level its read-back matches the spec; at the
    middle level, far from both clips, its spread is sqrt(1 + r^2) times the published one up
    to the gain's own small share, std_open^2 = (sd_gain g)^2 + (1 + r^2) E[gain^2] sigma_pub^2
    against std_pub^2 = E[gain^2] sigma_pub^2: ratio 3.179 against sqrt(10) = 3.162 (an
    unabsorbed gain in both, or none in either, would move it by more than the tolerance)."""
    ds_pub, _ = pcm
    ds, want = pcm_open_loop
    n = working(PCM)
    assert_matches("pcm open-loop prog", ds.prog_mean.values, ds.prog_std.values, want, n)
    mid = LEVELS // 2
    g = ds.g_target.values[mid]
    r = PCM["open_loop_ratio"]
    sd_gain2 = np.expm1(PCM["gain_sigma"] ** 2)
    pub_var = (1 + sd_gain2) * pcm_sigma_pub(g) ** 2  # E[gain^2] sigma_pub^2
    ratio_want = np.sqrt((sd_gain2 * g**2 + (1 + r**2) * pub_var) / pub_var)
    ratio = ds.prog_std.values[mid] / ds_pub.prog_std.values[mid]
    print(
        f"open-loop / published std at {g:g} uS: {ratio:.4f} (spec {ratio_want:.4f}, "
        f"sqrt(1 + r^2) = {np.sqrt(1 + r**2):.4f})"
    )
    # each std within STD_K / sqrt(n) relative, the two in quadrature
    np.testing.assert_allclose(ratio, ratio_want, rtol=STD_K * np.sqrt(2.0 / n))
