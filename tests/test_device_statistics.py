"""Statistical checks of the device models against their published formulas.

Every test draws from fixed keys (the seed is printed, so a failure names it) with at least 1e5
samples: standard deviations within a few percent (the sampling error of a std over 1e5 draws
is 0.22%), means within 4 sigma / sqrt(N), shapes by Kolmogorov-Smirnov (p > 0.01 at the fixed
seed), and deterministic formulas against an independent float64 numpy evaluation. Each
sampling function is jitted, one compiled call per draw.

Programming follows the presets' default procedure ("published": the publication's iterative
programming, converged, which absorbs each device's read gain and leaves the published spread
around the target) unless a test asks for the open-loop write (placement error
`open_loop_ratio` x the published spread, then the same settling, the read gain not absorbed).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from published_formulas import FIT_TIMES, RRAM_G_MAX, wan_spread, wan_spread_at_fit
from scipy import stats

import device_models as dm

N = 100_000
KS_P = 0.01

# --- published formulas, evaluated independently in float64 ----------------------------------

PCM_G_MAX = 25.0
PCM_T0 = 20.0
PCM_T_READ = 250e-9
PCM_GAIN_SIGMA = 0.025  # the preset's read-gain spread (log-normal sigma)
PCM_OPEN_LOOP_RATIO = 3.0

RRAM_GAIN_SIGMA = 0.02


def sigma_prog(x):
    """Nandakumar et al. 2019 programming spread, uS."""
    return np.maximum(0.26348 + 1.9650 * x - 1.1731 * x**2, 0.0)


def pcm_nu_normal(x):
    """(mu_nu, sigma_nu) at target level x = g_target / g_max."""
    log_x = np.log(np.clip(x, 1e-6, None))
    mu = np.clip(-0.0155 * log_x + 0.0244, 0.049, 0.1)
    sigma = np.clip(-0.0125 * log_x - 0.0059, 0.008, 0.045)
    return mu, sigma


def pcm_nu(x, drift_z):
    """Drift exponent at target level x: |mu_nu(x) + sigma_nu(x) z|, negative draws reflected
    (aihwkit's PCMLikeNoiseModel)."""
    mu, sigma = pcm_nu_normal(x)
    return np.abs(mu + sigma * drift_z)


def pcm_drift(g_prog, g_target, drift_z, t):
    """Drifted conductance of a device programmed to g_prog; nu from its target."""
    nu = pcm_nu(g_target / PCM_G_MAX, drift_z)
    return g_prog * (np.maximum(t, PCM_T0) / PCM_T0) ** (-nu)


def pcm_q_s(x):
    return np.minimum(0.0088 / np.clip(x, 1e-6, None) ** 0.65, 0.2)


def pcm_read_sigma(g_t, g_prog, t):
    log_term = np.maximum(np.log((t + PCM_T_READ) / (2 * PCM_T_READ)), 0.0)
    return np.abs(g_t) * pcm_q_s(g_prog / PCM_G_MAX) * np.sqrt(log_term)


def gain_sd(log_sigma):
    """Standard deviation of a mean-1 log-normal gain with log-sigma `log_sigma`."""
    return np.sqrt(np.expm1(log_sigma**2))


# --- helpers ----------------------------------------------------------------------------------


def seeded(seed):
    print(f"key seed {seed}")
    return jax.random.key(seed)


def f64(a):
    return np.asarray(a, dtype=np.float64)


def levels(fractions, g_max, n=N):
    """Targets of shape (len(fractions), n): row i is n devices at fractions[i] * g_max."""
    col = jnp.asarray(fractions, jnp.float32)[:, None] * jnp.float32(g_max)
    return jnp.broadcast_to(col, (len(fractions), n))


def assert_means(mean, expected, sigma, n=N, k=4.0):
    np.testing.assert_array_less(np.abs(mean - expected), k * sigma / np.sqrt(n))


def assert_normal(z, label):
    p = stats.kstest(np.ravel(z), "norm").pvalue
    print(f"{label}: KS p = {p:.3g}")
    assert p > KS_P, f"{label}: KS p = {p:.3g}"


@eqx.filter_jit
def program(device, g_target, key, variation=1.0, procedure="published"):
    k_id, k_prog = jax.random.split(key)
    identity = device.draw_identity(g_target.shape, key=k_id, variation=variation)
    return identity, device.program(identity, g_target, key=k_prog, procedure=procedure)


@eqx.filter_jit
def program_and_read(device, g_target, key, t, procedure="published"):
    """(identity, state, drifted at t, noise-free read at t) after programming."""
    identity, state = program(device, g_target, key, procedure=procedure)
    return (
        identity,
        state,
        device.drifted(identity, state, t),
        device.conductance(identity, state, t),
    )


@eqx.filter_jit
def read(device, identity, state, t, key=None):
    return device.conductance(identity, state, t, key=key)


@eqx.filter_jit
def draw(device, shape_like, key, variation):
    return device.draw_identity(shape_like.shape, key=key, variation=variation)


def clean_variation(read_gain_sigma, **kw):
    """No stuck devices, no range spread; the read-gain sigma traced (shared compiles)."""
    return dm.DeviceVariation(read_gain_sigma=jnp.float32(read_gain_sigma), **kw)


# --- 1. PCM programming noise ---------------------------------------------------------------

PCM_PROG_LEVELS = (0.2, 0.5, 0.8)
# >= 3.1 open-loop sigma (sqrt(10) sigma_prog) from both range ends: the clips move the std by
# < 0.1% and the mean by < 0.001 uS
PCM_OPEN_LOOP_LEVELS = (0.4, 0.5, 0.6)


def test_pcm_published_programming_reproduces_sigma_prog():
    """The default (published) procedure absorbs each device's read gain and leaves the whole
    published spread: the read-back is g + gain sigma_prog z, std sqrt(E[gain^2]) sigma_prog
    (E[gain^2] = 1 + sd_gain^2, sd_gain^2 = 6e-4), nothing carved out, mean g. With common
    random numbers (same keys, gain switched off) the gain scales the settling error only:
    read - g = gain (read_without_gain - g) device by device; an unabsorbed gain would add
    (gain - 1) g, ~0.5 uS at 0.8 g_max."""
    key = seeded(101)
    x = np.asarray(PCM_PROG_LEVELS)
    g = PCM_G_MAX * x
    sigma = sigma_prog(x)
    g_target = levels(PCM_PROG_LEVELS, PCM_G_MAX)
    t0 = jnp.float32(0.0)

    with_gain = dm.PCM(variation=clean_variation(PCM_GAIN_SIGMA))
    identity, state, _, r_gain = program_and_read(with_gain, g_target, key, t0)
    no_gain = dm.PCM(variation=clean_variation(0.0))
    *_, r_plain = program_and_read(no_gain, g_target, key, t0)  # same key: same draws
    r_gain, r_plain, gain = f64(r_gain), f64(r_plain), f64(identity.read_gain)
    g_p = f64(state.g)

    want = np.sqrt(1.0 + gain_sd(PCM_GAIN_SIGMA) ** 2) * sigma
    std = r_gain.std(axis=1)
    print("std / sigma_prog:", std / sigma)
    np.testing.assert_allclose(std, want, rtol=0.01)
    assert_means(r_gain.mean(axis=1), g, sigma)
    std0 = r_plain.std(axis=1)
    print("no-gain std / sigma_prog:", std0 / sigma)
    np.testing.assert_allclose(std0, sigma, rtol=0.01)
    assert_means(r_plain.mean(axis=1), g, sigma)
    # devices whose aim g / gain + sigma z left [0, 25] uS sit at the bound (a few at 0.8
    # g_max, where a low gain aims 1 uS higher): compare the others
    inside = (g_p > 0.0) & (g_p < PCM_G_MAX)
    assert inside.mean() > 0.999
    err, err_no_gain = r_gain - g[:, None], r_plain - g[:, None]
    np.testing.assert_allclose(err[inside], (gain * err_no_gain)[inside], rtol=0, atol=1e-4)


@pytest.mark.parametrize("ratio", [PCM_OPEN_LOOP_RATIO, 1.0])
def test_pcm_open_loop_write_adds_placement_error_and_keeps_the_gain(ratio):
    """procedure="open-loop": one write with placement error r sigma_prog (r =
    `open_loop_ratio`, the preset's 3 and a swept 1), then the published settling sigma_prog,
    the read gain not absorbed. Without the gain the read-back is g + r sigma z1 + sigma z2:
    mean g, std sqrt(1 + r^2) sigma_prog. With it, device by device exactly gain times the
    gain-free read-back (common random numbers), so the std is
    sqrt((sd_gain g)^2 + (1 + sd_gain^2)(1 + r^2) sigma_prog^2)."""
    key = seeded(102)
    x = np.asarray(PCM_OPEN_LOOP_LEVELS)
    g = PCM_G_MAX * x
    sigma = sigma_prog(x)
    g_target = levels(PCM_OPEN_LOOP_LEVELS, PCM_G_MAX)
    t0 = jnp.float32(0.0)
    r = jnp.float32(ratio)  # traced: both ratios share one compile

    with_gain = dm.PCM(variation=clean_variation(PCM_GAIN_SIGMA), open_loop_ratio=r)
    identity, *_, r_gain = program_and_read(with_gain, g_target, key, t0, "open-loop")
    no_gain = dm.PCM(variation=clean_variation(0.0), open_loop_ratio=r)
    *_, r_plain = program_and_read(no_gain, g_target, key, t0, "open-loop")
    r_gain, r_plain, gain = f64(r_gain), f64(r_plain), f64(identity.read_gain)

    spread = np.sqrt(1.0 + ratio**2) * sigma
    std0 = r_plain.std(axis=1)
    print(f"r = {ratio}: no-gain std / (sqrt(1 + r^2) sigma_prog):", std0 / spread)
    np.testing.assert_allclose(std0, spread, rtol=0.01)
    assert_means(r_plain.mean(axis=1), g, spread)
    np.testing.assert_allclose(r_gain, gain * r_plain, rtol=1e-5, atol=1e-6)
    sd2 = gain_sd(PCM_GAIN_SIGMA) ** 2
    want = np.sqrt(sd2 * g**2 + (1.0 + sd2) * spread**2)
    std = r_gain.std(axis=1)
    print(f"r = {ratio}: std / formula:", std / want)
    np.testing.assert_allclose(std, want, rtol=0.01)
    assert_means(r_gain.mean(axis=1), g, want)


# --- 2. PCM drift -----------------------------------------------------------------------------


@eqx.filter_jit
def _pcm_drift_sample(device, key, times):
    k_x, k_dev = jax.random.split(key)
    # log-uniform levels in [1e-3, 1] x g_max: covers both clip regions of mu_nu and sigma_nu,
    # and the low levels where mu_nu + sigma_nu z goes negative (reflected)
    g_target = jnp.exp(jax.random.uniform(k_x, (N,), jnp.float32, jnp.log(1e-3), 0.0))
    g_target = g_target * device.g_max
    identity, state = program(device, g_target, k_dev)
    drifted = jax.vmap(lambda t: device.drifted(identity, state, t))(times)
    return g_target, identity, state, drifted


def test_pcm_drift_matches_power_law():
    """drifted(t) = g_prog (max(t, t0) / t0)^-nu with nu = |mu_nu(x) + sigma_nu(x) z| at the
    device's TARGET level x (aihwkit's PCMLikeNoiseModel), to float32 precision, device by
    device; no drift before t0. The state records the target it was programmed to."""
    key = seeded(202)
    device = dm.PCM()
    times = np.array([0.0, 1.0, 19.0, 20.0, 21.0, 3600.0, 86400.0, 3.15e7])
    g_target, identity, state, drifted = _pcm_drift_sample(
        device, key, jnp.asarray(times, jnp.float32)
    )
    g_target, g_prog, z = f64(g_target), f64(state.g), f64(identity.drift_z)
    drifted = f64(drifted)
    np.testing.assert_array_equal(f64(state.g_target), g_target)

    mu, sigma = pcm_nu_normal(g_target / PCM_G_MAX)
    nu = pcm_nu(g_target / PCM_G_MAX, z)
    reflected = mu + sigma * z < 0
    print(f"reflected drift draws: {reflected.mean():.4f}")
    assert reflected.sum() > 100 and np.any(nu > 0.09), "levels should cover reflection and caps"
    # nu of the programmed rather than the target level, or clipped at 0 rather than
    # reflected, would differ by far more than the tolerance below
    nu_prog = pcm_nu(np.clip(g_prog, 0.0, None) / PCM_G_MAX, z)
    assert np.max(np.abs(nu_prog - nu)) > 1e-2
    assert np.max(np.abs(np.maximum(mu + sigma * z, 0.0) - nu)) > 1e-2
    for t, got in zip(times, drifted, strict=True):
        if t <= PCM_T0:
            np.testing.assert_array_equal(got, g_prog, err_msg=f"drift before t0 (t={t})")
        else:
            want = pcm_drift(g_prog, g_target, z, t)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=f"t={t}")
    # and conductance() is the drifted value times the gain (stuck devices hold their g)
    stuck = f64(identity.stuck_on | identity.stuck_off).astype(bool)
    g_read = f64(read(device, identity, state, jnp.float32(3600.0)))
    drift = pcm_drift(g_prog, g_target, z, 3600.0)
    expected = f64(identity.read_gain) * np.where(stuck, g_prog, drift)
    np.testing.assert_allclose(g_read, expected, rtol=1e-4, atol=1e-6)


def test_pcm_drift_rank_is_standard_normal_scaled_by_variation():
    key = seeded(203)
    device = dm.PCM()
    shape_like = jnp.zeros((N,), jnp.float32)
    z1 = f64(draw(device, shape_like, key, 1.0).drift_z)
    z2 = f64(draw(device, shape_like, key, 2.0).drift_z)
    half = dm.PCM(variation=eqx.tree_at(lambda v: v.drift_sigma_scale, device.variation, 0.5))
    z_half = f64(draw(half, shape_like, key, 1.0).drift_z)

    assert_normal(z1, "drift_z at variation 1")
    assert abs(z1.mean()) < 4 / np.sqrt(N)
    assert abs(z1.std() - 1.0) < 0.01
    assert_normal(z2 / 2.0, "drift_z / 2 at variation 2")
    assert abs(z2.std() - 2.0) < 0.02
    np.testing.assert_allclose(z2, 2.0 * z1, rtol=1e-6)  # same rank, scaled spread
    np.testing.assert_allclose(z_half, 0.5 * z1, rtol=1e-6)


# --- 3. PCM read noise ------------------------------------------------------------------------

T_READ_TEST = 3600.0
PCM_READ_LEVELS = (0.1, 0.5, 0.9)


def test_pcm_read_noise_sigma_formula():
    """sigma_read = |g_t| Q_s(x) sqrt(max(ln((t + t_read) / (2 t_read)), 0)), x of the
    programmed conductance, Q_s capped at 0.2; zero before t_read."""
    device = dm.PCM()
    x = np.array([1e-4, 0.002, 0.005, 0.01, 0.1, 0.5, 0.9, 1.0])  # first three at the 0.2 cap
    g = jnp.asarray(x * PCM_G_MAX, jnp.float32)
    state = dm.DeviceState(g=g, relaxation_z=jnp.zeros_like(g), g_target=g)
    g_t = 0.9 * g
    for t in (0.0, 1e-7, 1e-3, 1.0, 3600.0, 1e6):
        got = f64(device.read_noise_sigma(g_t, state, jnp.float32(t)))
        want = pcm_read_sigma(f64(g_t), f64(g), t)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7, err_msg=f"t={t}")
    assert np.all(f64(device.read_noise_sigma(g_t, state, jnp.float32(1e-7))) == 0.0)


def test_pcm_read_noise_across_devices_at_one_level():
    """One read of 1e5 identical devices (no gain, no drift spread) per level at t = 1 h."""
    key = seeded(301)
    device = dm.PCM(variation=clean_variation(0.0, drift_sigma_scale=0.0))
    g_target = levels(PCM_READ_LEVELS, PCM_G_MAX)
    k_id, k_read = jax.random.split(key)
    identity = draw(device, g_target, k_id, 1.0)
    state = dm.DeviceState(g=g_target, relaxation_z=jnp.zeros_like(g_target), g_target=g_target)
    reads = f64(read(device, identity, state, jnp.float32(T_READ_TEST), k_read))

    x = np.asarray(PCM_READ_LEVELS)
    g_prog = PCM_G_MAX * x
    g_t = pcm_drift(g_prog, g_prog, 0.0, T_READ_TEST)
    sigma = pcm_read_sigma(g_t, g_prog, T_READ_TEST)
    std = reads.std(axis=1)
    print("read std / formula:", std / sigma)
    np.testing.assert_allclose(std, sigma, rtol=0.02)
    assert_means(reads.mean(axis=1), g_t, sigma)
    assert_normal((reads - g_t[:, None]) / sigma[:, None], "read residuals (levels)")


@eqx.filter_jit
def _reads_over_keys(device, identity, state, t, key):
    keys = jax.random.split(key, N)
    return jax.vmap(lambda k: device.conductance(identity, state, t, key=k))(keys)


def test_pcm_read_noise_repeated_reads_of_fixed_devices():
    """1e5 reads (different keys) of 8 default-PCM devices: each has the formula's std."""
    key = seeded(302)
    device = dm.PCM()
    g_target = jnp.linspace(0.1, 0.9, 8, dtype=jnp.float32) * PCM_G_MAX
    k_prog, k_read = jax.random.split(key)
    identity, state = program(device, g_target, k_prog)
    reads = f64(_reads_over_keys(device, identity, state, jnp.float32(T_READ_TEST), k_read))

    g_prog, z, gain = f64(state.g), f64(identity.drift_z), f64(identity.read_gain)
    stuck = f64(identity.stuck_on | identity.stuck_off).astype(bool)
    g_t = np.where(stuck, g_prog, pcm_drift(g_prog, f64(g_target), z, T_READ_TEST))
    sigma = gain * pcm_read_sigma(g_t, g_prog, T_READ_TEST)
    std = reads.std(axis=0)
    print("per-device read std / formula:", std / sigma)
    np.testing.assert_allclose(std, sigma, rtol=0.03)
    assert_means(reads.mean(axis=0), gain * g_t, sigma)
    assert_normal((reads - gain * g_t) / sigma, "read residuals (repeated reads)")


# --- 4. RRAM ----------------------------------------------------------------------------------


@eqx.filter_jit
def _spread_over_times(device, g, times):
    return jax.vmap(lambda t: device.spread(g, t))(times)


def test_rram_spread_is_wan2022_fit_at_fit_times():
    g_grid = np.linspace(0.0, 1.0, 41)
    for g_max in (RRAM_G_MAX, 20.0):  # aihwkit rescales the uS fit by g_max / 40 uS
        device = dm.RRAM(g_max=g_max)
        g = jnp.asarray(g_grid * g_max, jnp.float32)
        got = f64(_spread_over_times(device, g, jnp.asarray(FIT_TIMES, jnp.float32)))
        for t, row in zip(FIT_TIMES, got, strict=True):
            want = wan_spread_at_fit(g_grid * g_max, t, g_max)
            np.testing.assert_allclose(row, want, rtol=1e-4, atol=1e-4, err_msg=f"t={t}")


def test_rram_spread_interpolates_monotonically_in_log_t():
    device = dm.RRAM()
    g_np = np.linspace(0.0, 1.0, 41) * RRAM_G_MAX
    g = jnp.asarray(g_np, jnp.float32)
    seg1 = np.logspace(0.0, np.log10(86400.0), 17)
    seg2 = np.logspace(np.log10(86400.0), np.log10(172800.0), 9)
    outside = np.array([0.0, 0.3, 1e6, 1e9])
    times = np.concatenate([seg1, seg2, outside])
    got = f64(_spread_over_times(device, g, jnp.asarray(times, jnp.float32)))
    for t, row in zip(times, got, strict=True):
        np.testing.assert_allclose(row, wan_spread(g_np, t), rtol=1e-4, atol=1e-4, err_msg=f"{t}")
    s = [wan_spread_at_fit(g_np, t) for t in FIT_TIMES]
    for seg, rows, (a, b) in ((seg1, got[:17], (s[0], s[1])), (seg2, got[17:26], (s[1], s[2]))):
        lo, hi = np.minimum(a, b) - 1e-4, np.maximum(a, b) + 1e-4
        assert np.all((rows >= lo) & (rows <= hi)), "spread leaves its fit-time bracket"
        steps = np.diff(rows, axis=0) * np.sign(b - a)
        assert np.all(steps >= -1e-4), f"spread not monotone on [{seg[0]:g}, {seg[-1]:g}] s"
    np.testing.assert_allclose(got[-4:-2], np.broadcast_to(s[0], (2, 41)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[-2:], np.broadcast_to(s[2], (2, 41)), rtol=1e-5, atol=1e-5)


RRAM_PROG_LEVELS = (0.25, 0.5, 0.75)  # >= 4.4 sigma from both range ends: no clipping
RRAM_RELAX_LEVELS = (0.4, 0.5, 0.6)  # >= 4 sigma(1 day) from both range ends


def test_rram_readback_after_programming_is_1s_spread():
    """Published programming read back right after (t = 1 s: no relaxation yet): the gain
    absorbed, g + gain sigma(g, 1 s) z, so mean g and std sqrt(E[gain^2]) sigma(g, 1 s)."""
    key = seeded(401)
    device = dm.RRAM(variation=clean_variation(RRAM_GAIN_SIGMA))
    g_target = levels(RRAM_PROG_LEVELS, RRAM_G_MAX)
    _, _, _, r = program_and_read(device, g_target, key, jnp.float32(1.0))
    r = f64(r)
    g = RRAM_G_MAX * np.asarray(RRAM_PROG_LEVELS)
    sigma = wan_spread_at_fit(g, 1.0)
    std = r.std(axis=1)
    print("1 s read-back std / spread(g, 1 s):", std / sigma)
    np.testing.assert_allclose(std, np.sqrt(1.0 + gain_sd(RRAM_GAIN_SIGMA) ** 2) * sigma, rtol=0.01)
    assert_means(r.mean(axis=1), g, sigma)


def rram_relaxed_moments(g, t, gain_sigma=RRAM_GAIN_SIGMA, nodes=40):
    """(mean, std) of `drifted` and of gain * drifted at t for published programming to g,
    unclipped: g_p = g / gain + sigma(g, 1 s) z, drifted = g_p + shift(g_p, t) z_relax,
    shift^2 = sigma(g_p, t)^2 - sigma(g_p, 1 s)^2 (2-D Gauss-Hermite over gain and z; the
    relaxation draw, independent with mean 0, adds E[shift^2])."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    zg, zw = (a.ravel() for a in np.meshgrid(z, z, indexing="ij"))
    weight = np.outer(w, w).ravel() / (2 * np.pi)
    gain = np.exp(gain_sigma * zg - 0.5 * gain_sigma**2)
    g_p = g / gain + wan_spread(g, 1.0) * zw
    second = g_p**2 + wan_spread(g_p, t) ** 2 - wan_spread(g_p, 1.0) ** 2
    out = []
    for factor in (1.0, gain):
        mean = np.sum(weight * factor * g_p)
        out += [mean, np.sqrt(np.sum(weight * factor**2 * second) - mean**2)]
    return out


def test_rram_relaxation_reaches_published_spread():
    """Relaxation from the PROGRAMMED conductance: drifted = clip(g_p + shift(g_p, t) z_relax,
    0, g_max), shift = sqrt(sigma(g_p, t)^2 - sigma(g_p, 1 s)^2), device by device (float32
    precision). Over devices at 1 day / 2 days: a gain-including read (no read noise) has
    mean g and std within 0.6% of the published sigma(g, t), exactly the integral in
    `rram_relaxed_moments`; `drifted` alone has mean g E[1 / gain] and the gain's share
    (sd_gain g)^2 added to the variance, since programming aimed at g / gain."""
    key = seeded(402)
    device = dm.RRAM(variation=clean_variation(RRAM_GAIN_SIGMA))
    g_target = levels(RRAM_RELAX_LEVELS, RRAM_G_MAX)
    g = RRAM_G_MAX * np.asarray(RRAM_RELAX_LEVELS)
    for t in (86400.0, 172800.0):
        identity, state, drifted, r = program_and_read(device, g_target, key, jnp.float32(t))
        drifted, r, g_p = f64(drifted), f64(r), f64(state.g)
        shift = np.sqrt(np.maximum(wan_spread(g_p, t) ** 2 - wan_spread(g_p, 1.0) ** 2, 0.0))
        want = np.clip(g_p + shift * f64(state.relaxation_z), 0.0, RRAM_G_MAX)
        np.testing.assert_allclose(drifted, want, rtol=1e-5, atol=1e-4, err_msg=f"t={t:g}")
        np.testing.assert_allclose(r, f64(identity.read_gain) * drifted, rtol=1e-6)

        sigma_t = wan_spread_at_fit(g, t)
        moments = np.array([rram_relaxed_moments(gi, t) for gi in g])
        std_read, std_drift = r.std(axis=1), drifted.std(axis=1)
        print(f"t={t:g}: read std / sigma(t):", std_read / sigma_t)
        print(f"t={t:g}: read std / exact:", std_read / moments[:, 3])
        print(f"t={t:g}: drifted std / exact:", std_drift / moments[:, 1])
        np.testing.assert_allclose(std_read, moments[:, 3], rtol=0.01)
        np.testing.assert_allclose(std_drift, moments[:, 1], rtol=0.01)
        np.testing.assert_allclose(std_read, sigma_t, rtol=0.02)
        assert_means(drifted.mean(axis=1), moments[:, 0], sigma_t)
        assert_means(r.mean(axis=1), g, sigma_t)


# --- 5. Identity statistics -------------------------------------------------------------------

ID_VARIATION = dm.DeviceVariation(
    read_gain_sigma=0.05,
    range_sigma=0.1,
    stuck_on_prob=0.01,
    stuck_off_prob=0.02,
    iv_nonlinearity=0.05,
    iv_nonlinearity_sigma=0.02,
)


def _binomial_ok(count, p, n=N, k=4.0):
    return abs(count - n * p) <= k * np.sqrt(n * p * (1 - p))


def test_identity_stuck_fractions_scale_and_nest():
    key = seeded(501)
    device = dm.PCM(variation=ID_VARIATION)
    shape_like = jnp.zeros((N,), jnp.float32)
    id1 = draw(device, shape_like, key, 1.0)
    id2 = draw(device, shape_like, key, 2.0)
    more_off = dm.PCM(variation=eqx.tree_at(lambda v: v.stuck_off_prob, ID_VARIATION, 0.04))
    id_off = draw(more_off, shape_like, key, 1.0)
    on1, off1 = np.asarray(id1.stuck_on), np.asarray(id1.stuck_off)
    on2, off2 = np.asarray(id2.stuck_on), np.asarray(id2.stuck_off)

    for scale, on, off in ((1.0, on1, off1), (2.0, on2, off2)):
        p_on, p_off = scale * 0.01, scale * 0.02
        print(f"variation {scale}: stuck on {on.mean():.5f} (p {p_on}), off {off.mean():.5f}")
        assert _binomial_ok(on.sum(), p_on), f"stuck-on fraction at variation {scale}"
        assert _binomial_ok(off.sum(), p_off), f"stuck-off fraction at variation {scale}"
        assert not np.any(on & off)
    assert _binomial_ok(np.asarray(id_off.stuck_off).sum(), 0.04)
    # Common random numbers: a stuck device stays stuck as the spreads grow.
    assert np.all(on2[on1]), "stuck-on devices must stay stuck on at twice the variation"
    assert np.all(off2[off1]), "stuck-off devices must stay stuck off at twice the variation"
    assert np.all(np.asarray(id_off.stuck_off)[off1]), "stuck-off nested in stuck_off_prob"
    np.testing.assert_array_equal(np.asarray(id_off.stuck_on), on1)


@pytest.mark.parametrize("procedure", ["published", "open-loop"])
def test_stuck_devices_ignore_programming(procedure):
    """Stuck-on devices sit at their own g_max and stuck-off ones at their own g_min whatever
    they are programmed to, by either procedure; every other device stays inside its own
    range (the read gain absorbed by published programming must not push it out)."""
    key = seeded(504)
    device = dm.PCM(variation=ID_VARIATION)
    g_target = levels((0.0, 0.5, 1.0), PCM_G_MAX)
    identity, state = program(device, g_target, key, procedure=procedure)
    g, lo, hi = f64(state.g), f64(identity.g_min), f64(identity.g_max)
    on, off = np.asarray(identity.stuck_on), np.asarray(identity.stuck_off)
    assert on.sum() > 1000 and off.sum() > 1000
    np.testing.assert_array_equal(g[on], hi[on])
    np.testing.assert_array_equal(g[off], lo[off])
    assert np.all((g >= lo) & (g <= hi))


def test_identity_read_gain_and_range_are_log_normal():
    key = seeded(502)
    device = dm.PCM(variation=ID_VARIATION)
    shape_like = jnp.zeros((N,), jnp.float32)
    for scale in (1.0, 2.0):
        ident = draw(device, shape_like, key, scale)
        gain = f64(ident.read_gain)
        s = scale * 0.05
        assert_means(gain.mean(), 1.0, gain_sd(s))  # mean 1, not median 1
        log_gain = np.log(gain)
        assert abs(log_gain.std() / s - 1.0) < 0.01
        assert_normal((log_gain + 0.5 * s**2) / s, f"ln read gain at variation {scale}")

        r = scale * 0.1
        log_range = np.log(f64(ident.g_max) / PCM_G_MAX)
        assert abs(log_range.std() / r - 1.0) < 0.01
        assert _binomial_ok(np.sum(f64(ident.g_max) < PCM_G_MAX), 0.5), "median g_max = nominal"
        assert_normal(log_range / r, f"ln(g_max / nominal) at variation {scale}")
        np.testing.assert_array_equal(f64(ident.g_min), 0.0)


def test_identity_variation_zero_gives_identical_devices():
    key = seeded(503)
    device = dm.PCM(variation=ID_VARIATION)
    ident = draw(device, jnp.zeros((N,), jnp.float32), key, 0.0)
    np.testing.assert_array_equal(f64(ident.read_gain), 1.0)
    np.testing.assert_array_equal(f64(ident.g_max), PCM_G_MAX)
    np.testing.assert_array_equal(f64(ident.g_min), 0.0)
    assert not np.any(np.asarray(ident.stuck_on) | np.asarray(ident.stuck_off))
    np.testing.assert_array_equal(f64(ident.drift_z), 0.0)
    np.testing.assert_allclose(f64(ident.iv_nonlinearity), 0.05, rtol=1e-6)  # mean, not spread


# --- 6. Ideal device --------------------------------------------------------------------------


def test_ideal_programs_exactly_and_reads_without_noise():
    key = seeded(601)
    device = dm.Ideal()
    k_t, k_dev, k_read = jax.random.split(key, 3)
    g_target = jax.random.uniform(k_t, (N,), jnp.float32, 0.0, device.g_max)
    identity, state = program(device, g_target, k_dev)
    np.testing.assert_array_equal(f64(state.g), f64(g_target))
    np.testing.assert_array_equal(f64(identity.read_gain), 1.0)
    for t in (0.0, 1.0, 3600.0, 3.15e7):
        t = jnp.float32(t)
        np.testing.assert_array_equal(f64(read(device, identity, state, t)), f64(g_target))
        noisy = read(device, identity, state, t, k_read)
        np.testing.assert_array_equal(f64(noisy), f64(g_target))
