"""The per-event noise generator: distributions, independence, determinism (fixed keys)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from device_models import fold_in, noise_bits, noise_normal, noise_uniform

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


@pytest.mark.parametrize("data", [0, 1, 4, 2**31 - 1, 2**32 - 1])
def test_fold_in_is_jax_fold_in_bit_for_bit(data):
    """Every key the simulator derives goes through `fold_in`: it must be JAX's own, or every
    chip and figure would change."""
    same = lambda a, b: np.testing.assert_array_equal(
        jax.random.key_data(a), jax.random.key_data(b)
    )
    for key in (jax.random.key(0), jax.random.key(12345), jax.random.fold_in(jax.random.key(7), 3)):
        same(fold_in(key, data), jax.random.fold_in(key, data))
        same(jax.jit(fold_in)(key, jnp.uint32(data)), jax.random.fold_in(key, data))  # traced
    raw = jax.random.PRNGKey(3)  # raw uint32 key data
    np.testing.assert_array_equal(fold_in(raw, data), jax.random.fold_in(raw, data))


def test_fold_in_under_vmap_and_other_generators():
    keys = jax.random.split(jax.random.key(1), 6)
    index = jnp.arange(6, dtype=jnp.int32)
    ours = jax.vmap(fold_in)(keys, index)
    np.testing.assert_array_equal(
        jax.random.key_data(ours), jax.random.key_data(jax.vmap(jax.random.fold_in)(keys, index))
    )
    rbg = jax.random.key(1, impl="rbg")  # not threefry: JAX's own fold_in
    np.testing.assert_array_equal(
        jax.random.key_data(fold_in(rbg, 2)), jax.random.key_data(jax.random.fold_in(rbg, 2))
    )
    with pytest.raises(TypeError, match="scalar"):
        fold_in(keys[0], index)


def test_fold_in_compiles_without_a_loop():
    """Why it exists: on the CPU, JAX emits threefry as a loop of 5 iterations, a dozen small
    kernels each, in every training step."""
    hlo = jax.jit(fold_in).lower(jax.random.key(0), 3).compile().as_text()
    assert " while(" not in hlo


def test_fold_in_is_computed_once_not_per_draw(key):
    """XLA must not fuse the key's rounds into the draws from it: it would then compute them
    again for every number drawn (a forward of a large MLP took 8x as long)."""
    hlo = jax.jit(lambda k: noise_normal(fold_in(k, 1), (64, 64))).lower(key).compile().as_text()
    computations = hlo.split("\n\n")
    rounds = [c for c in computations if "shift-left" in c]  # threefry's rotations
    assert rounds  # the rounds are there
    assert not any("[64,64]" in c for c in rounds)
