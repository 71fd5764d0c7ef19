"""Pulsed-update families against their equations (fixed keys, 1e5 devices)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import device_models as dm

N = 100_000
NO_SPREAD = dict(dw_min_dtod=0.0, up_down_dtod=0.0, w_min_dtod=0.0, w_max_dtod=0.0)


def expected_step(family, w, up, dw_up, dw_down, w_min=-1.0, w_max=1.0):
    """The documented equations, in float64."""
    if isinstance(family, dm.ConstantStep):
        return dw_up if up else dw_down
    if isinstance(family, dm.SoftBounds):
        return dw_up * (1 - w / w_max) if up else dw_down * (1 - w / w_min)
    if isinstance(family, dm.LinearStep):
        if up:
            return dw_up * (1 - family.gamma_up * w / w_max)
        return dw_down * (1 - family.gamma_down * w / w_min)
    if isinstance(family, dm.ExpStep):
        z = 2 * family.a * w / (w_max - w_min) + family.b
        if up:
            return dw_up * max(1 - family.A_up * np.exp(family.gamma_up * z), 0)
        return dw_down * max(1 - family.A_down * np.exp(-family.gamma_down * z), 0)
    r = w_max - w_min
    if up:
        return dw_up * (2 * (w_max - w) / r) ** family.gamma_up
    return dw_down * (2 * (w - w_min) / r) ** family.gamma_down


FAMILIES = [
    dm.ConstantStep(**NO_SPREAD, up_down=0.1, dw_min=0.01, dw_min_std=0.3),
    dm.SoftBounds(**NO_SPREAD, up_down=-0.05, dw_min=0.01, dw_min_std=0.3),
    dm.LinearStep(
        **NO_SPREAD, dw_min=0.01, dw_min_std=0.3, gamma_up=0.3, gamma_down=0.6, gamma_dtod=0.0
    ),
    dm.ExpStep(**NO_SPREAD, dw_min=0.01, dw_min_std=0.3, A_up=-1.18, A_down=-0.08),
    dm.PowStep(**NO_SPREAD, dw_min=0.01, dw_min_std=0.3, gamma_up=1.5, gamma_down=0.7),
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: type(f).__name__)
@pytest.mark.parametrize("w0", [-0.4, 0.3])
@pytest.mark.parametrize("up", [True, False])
def test_one_pulse_matches_family_equation(family, w0, up):
    identity = family.draw_identity((N,), key=jax.random.key(11))
    g0 = family.to_g(jnp.full((N,), w0, jnp.float32))
    pulses = jnp.full((N,), 1 if up else -1, jnp.int32)
    g1 = family.apply_pulses(identity, g0, pulses, key=jax.random.key(12))
    moved = np.asarray(family.to_w(g1) - family.to_w(g0), np.float64) * (1 if up else -1)
    dw_up = float(family.dw_min) * (1 + float(family.up_down))
    dw_down = float(family.dw_min) * (1 - float(family.up_down))
    mean = expected_step(family, w0, up, dw_up, dw_down)
    std = 0.3 * mean
    print(f"{type(family).__name__} w0={w0} up={up}: mean {moved.mean():.6g} vs {mean:.6g}")
    assert abs(moved.mean() - mean) < 5 * std / np.sqrt(N) + 1e-7
    assert abs(moved.std() / std - 1) < 0.03
    assert stats.kstest((moved - mean) / std, "norm").pvalue > 0.01


def test_constant_step_train_in_closed_form_has_pulse_by_pulse_statistics():
    family = FAMILIES[0]
    identity = family.draw_identity((N,), key=jax.random.key(0))
    g0 = family.to_g(jnp.zeros((N,), jnp.float32))
    g = family.apply_pulses(identity, g0, jnp.full((N,), 9, jnp.int32), key=jax.random.key(1))
    moved = np.asarray(family.to_w(g) - family.to_w(g0), np.float64)
    step = 0.01 * 1.1
    assert abs(moved.mean() / (9 * step) - 1) < 1e-3
    assert abs(moved.std() / (0.3 * 3 * step) - 1) < 0.03


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: type(f).__name__)
def test_long_trains_stop_at_each_devices_own_bounds(family):
    spread = dataclasses.replace(family, w_min_dtod=0.2, w_max_dtod=0.2, dw_min=0.2)
    identity = spread.draw_identity((2000,), key=jax.random.key(3))
    g = spread.to_g(jnp.zeros((2000,), jnp.float32))
    up = spread.apply_pulses(
        identity, g, jnp.full((2000,), 200, jnp.int32), key=jax.random.key(4), max_pulses=200
    )
    down = spread.apply_pulses(
        identity, g, jnp.full((2000,), -200, jnp.int32), key=jax.random.key(5), max_pulses=200
    )
    assert np.all(up <= spread.to_g(identity.w_max) + 1e-4)
    assert np.all(down >= spread.to_g(identity.w_min) - 1e-4)
    assert np.all(down >= 0.0)  # no device conducts negatively
    assert np.std(np.asarray(up)) > 0.5  # bounds differ device to device


def test_identity_spreads_and_variation():
    family = dm.ConstantStep(dw_min=0.01, dw_min_dtod=0.2, up_down=0.1, up_down_dtod=0.0)
    a = family.draw_identity((N,), key=jax.random.key(0))
    b = family.draw_identity((N,), key=jax.random.key(0), variation=2.0)
    z = family.draw_identity((N,), key=jax.random.key(0), variation=0.0)
    dw = np.asarray(a.dw_up) / 1.1
    assert abs(dw.mean() / 0.01 - 1) < 0.01 and abs(dw.std() / 0.002 - 1) < 0.03
    assert abs((np.asarray(b.dw_up) / 1.1).std() / 0.004 - 1) < 0.03
    assert np.all(np.asarray(z.dw_up) == np.float32(0.01 * 1.1))
    np.testing.assert_array_equal(a.dw_up, family.draw_identity((N,), key=jax.random.key(0)).dw_up)
    log = dm.ConstantStep(dw_min=0.01, dw_min_dtod=0.2, log_normal_steps=True)
    steps = np.log(np.asarray(log.draw_identity((N,), key=jax.random.key(1)).dw_up) / 0.01)
    assert stats.kstest(steps / 0.2, "norm").pvalue > 0.01


def test_zero_pulses_change_nothing_and_counts_are_capped():
    family = FAMILIES[1]
    identity = family.draw_identity((100,), key=jax.random.key(0))
    g = family.to_g(jnp.zeros((100,), jnp.float32))
    same = family.apply_pulses(identity, g, jnp.zeros((100,), jnp.int32), key=jax.random.key(1))
    np.testing.assert_array_equal(same, g)
    capped = family.apply_pulses(
        identity, g, jnp.full((100,), 1000, jnp.int32), key=jax.random.key(1), max_pulses=3
    )
    three = family.apply_pulses(
        identity, g, jnp.full((100,), 3, jnp.int32), key=jax.random.key(1), max_pulses=3
    )
    np.testing.assert_array_equal(capped, three)


def test_presets_states_and_bad_values():
    states = {n: float((p().w_max - p().w_min) / p().dw_min) for n, p in dm.PULSE_PRESETS.items()}
    assert 9_000 < states["idealized"] < 11_000
    assert 1_100 < states["gokmen_vlasov"] < 1_300
    assert 900 < states["ecram"] < 1_100
    with pytest.raises(dm.ParameterError, match="known presets"):
        dm.get_pulse_response("nope")
    for bad, needle in [
        (dict(dw_min=0.0), "dw_min"),
        (dict(dw_min_dtod=-0.1), "dw_min_dtod"),
        (dict(g_min=30.0), "g_min must be below g_max"),
        (dict(w_max=-0.5), "w_max"),
    ]:
        with pytest.raises(dm.ParameterError, match=needle):
            dm.ConstantStep(**bad)
    with pytest.raises(dm.ParameterError, match="gamma_dtod"):
        dm.LinearStep(gamma_dtod=-1.0)
