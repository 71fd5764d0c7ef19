"""The per-event noise generator: distributions, independence, determinism (fixed keys)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from device_models import noise_bits, noise_normal, noise_uniform

N = 1 << 20


def test_uniform_is_uniform_on_256_bins(key):
    u = np.asarray(noise_uniform(key, (N,)), np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 256).astype(int), minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-4
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 1e-3


def test_every_bit_is_a_fair_coin(key):
    b = np.asarray(noise_bits(key, (N,)))
    ones = np.unpackbits(b.view(np.uint8)).reshape(N, 32).mean(axis=0)
    assert np.all(np.abs(ones - 0.5) < 5 * 0.5 / np.sqrt(N))


def test_normal_matches_the_standard_normal(key):
    z = np.asarray(noise_normal(key, (N,)), np.float64)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    assert abs(z.mean()) < 5 / np.sqrt(N)
    assert abs(z.std() - 1.0) < 5 / np.sqrt(2 * N)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / N)
    # tails: P(|z| > 3) = 0.0027, binomial sd ~5e-5
    assert abs(np.mean(np.abs(z) > 3.0) - 0.0026998) < 5 * np.sqrt(0.0027 / N)
    assert np.abs(z).max() < 5.5


def test_neighbours_and_neighbouring_keys_are_uncorrelated(key):
    limit = 5 / np.sqrt(N)
    z = np.asarray(noise_normal(key, (N,)), np.float64)
    for lag in (1, 2, 7, 256):
        assert abs(np.corrcoef(z[:-lag], z[lag:])[0, 1]) < limit
    # streams of keys one index apart, element by element and shifted by one
    other = np.asarray(noise_normal(jax.random.fold_in(key, 1), (N,)), np.float64)
    same = np.asarray(noise_normal(jax.random.fold_in(key, 0), (N,)), np.float64)
    assert abs(np.corrcoef(same, other)[0, 1]) < limit
    assert abs(np.corrcoef(same[1:], other[:-1])[0, 1]) < limit
    assert not np.array_equal(same, z)
    # root keys differ in one bit of their data; their streams must not overlap either
    a = np.asarray(noise_bits(jax.random.key(0), (N,)))
    b = np.asarray(noise_bits(jax.random.key(1), (N,)))
    # two independent streams of 2^20 words share ~2^40 / 2^32 = 256 values
    assert len(np.intersect1d(a, b)) < 400


def test_same_key_same_draws_and_vmap_equals_loop(key):
    keys = jax.random.split(key, 4)
    batched = jax.vmap(lambda k: noise_normal(k, (3, 5)))(keys)
    looped = jnp.stack([noise_normal(k, (3, 5)) for k in keys])
    np.testing.assert_array_equal(batched, looped)
    np.testing.assert_array_equal(
        jax.jit(noise_normal, static_argnums=1)(keys[0], (3, 5)), looped[0]
    )
    np.testing.assert_array_equal(noise_uniform(keys[1], (7,)), noise_uniform(keys[1], (7,)))


def test_more_than_2_to_the_32_draws_are_refused(key):
    with pytest.raises(ValueError, match="2\\^32"):
        noise_bits(key, (1 << 16, 1 << 16))
