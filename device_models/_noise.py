"""Per-event noise: a fast keyed counter-based generator for the draws made at every write,
read, conversion and pulse.

A chip simulation draws one number per device at every read and write, one per output at
every conversion and one per device and pulse in training: as many random numbers as
multiply-adds. `jax.random`'s threefry-2x32 (20 rounds) costs about 5 ns per 32-bit word on
one CPU core, more than the arithmetic it feeds, so these per-event draws use a cheaper
generator. Chip identities (drawn once per chip) keep `jax.random`.

Construction: the key's data, mixed, gives two 32-bit words (k0, k1) (`_seed_words`); keys
are derived and split exactly as elsewhere (`fold_in` by name and index). Element i of the
array (row-major index) gets

    h(i) = lowbias32(triple32(i xor k0) + k1)

where triple32 and lowbias32 are C. Wellons' integer hashes (hash-prospector, 2018-2020;
public domain), bijections of 32-bit words chosen by search for near-ideal avalanche
(every input bit flips every output bit with probability ~1/2). Each key is its own
bijection of the counter; two keys' streams are related only by chance (when their second
words coincide, probability 2^-32 per pair, one is the other re-indexed by an xor). About 7x
cheaper than threefry per word on CPU. Standard normals are sqrt(2) erfinv(x) of x, the
midpoint of one of 2^23 equal cells of (-1, 1), so their tails end at +-5.29 sigma: the
outermost midpoint is 1 - 2^-23, and sqrt(2) erfinv(1 - 2^-23) is the normal quantile of
1 - 2^-24, 5.2947. Its statistics are tested (tests/test_noise.py); benchmarks/dieharder.sh
streams its words into dieharder, and a dieharder run is reported in the docs ("The physical
model"). It is a statistical generator for simulation, not a cryptographic one.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, UInt32

_U = jnp.uint32
_SQRT2 = np.float32(math.sqrt(2.0))


def _triple32(x: Array) -> Array:
    x = x ^ (x >> 17)
    x = x * _U(0xED5AD4BB)
    x = x ^ (x >> 11)
    x = x * _U(0xAC4C1B51)
    x = x ^ (x >> 15)
    x = x * _U(0x31848BAB)
    return x ^ (x >> 14)


def _lowbias32(x: Array) -> Array:
    x = x ^ (x >> 16)
    x = x * _U(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * _U(0x846CA68B)
    return x ^ (x >> 16)


def noise_bits(key: Array, shape: tuple[int, ...]) -> UInt32[Array, "..."]:
    """Uniform 32-bit words of `shape` from `key` (see the module docstring)."""
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"noise draws are limited to 2^32 elements per key; got shape {shape}")
    k0, k1 = _seed_words(key)
    counter = lax.iota(_U, size).reshape(shape)
    return _lowbias32(_triple32(counter ^ k0) + k1)


def _seed_words(key: Array) -> tuple[Array, Array]:
    """Two 32-bit seed words from the key's own bits, the first depending on all of them.

    Read from the key data rather than drawn with `jax.random.bits`: on the CPU every threefry
    call is a small loop of its own, which in a training step costs more than the draws.
    Keys derived by `fold_in` or `split` already carry threefry output; the mixing also
    separates keys whose data differ in a few bits, such as `jax.random.key(0)` and `key(1)`.
    """
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    words = [data[..., i].astype(_U) for i in range(data.shape[-1])]
    k0, k1 = words[0], words[1]
    for extra in words[2:]:  # key types with more than two words (rbg)
        k1 = _lowbias32(k1 ^ extra)
    # one hash: XLA recomputes this scalar work for every element it draws
    return k0 ^ _lowbias32(k1 ^ _U(0x9E3779B9)), k1


def noise_uniform(key: Array, shape: tuple[int, ...]) -> Float[Array, "..."]:
    """Uniform floats in [0, 1) of `shape` on a 2^-24 grid, float32."""
    return (noise_bits(key, shape) >> 8).astype(jnp.float32) * np.float32(2.0**-24)


# M. Giles, "Approximating the erfinv function", GPU Computing Gems (2011): single precision,
# relative error below 4e-7 (the approximation XLA's own erf_inv uses).
_CENTRAL = (
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
)
_TAIL = (
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
)


def _horner(coefficients: tuple[float, ...], t: Array) -> Array:
    p = jnp.full_like(t, np.float32(coefficients[0]))
    for c in coefficients[1:]:
        p = np.float32(c) + p * t
    return p


def _erfinv(x: Float[Array, "..."]) -> Float[Array, "..."]:
    # written out rather than lax.erf_inv, with log of the product rather than log1p(-x^2)
    # (the same to float32 on this 2^-23 grid): 20-30% faster on CPU, measured
    w = -jnp.log((1.0 - x) * (1.0 + x))
    central = _horner(_CENTRAL, w - np.float32(2.5))
    tail = _horner(_TAIL, jnp.sqrt(w) - np.float32(3.0))
    return jnp.where(w < 5.0, central, tail) * x


def noise_normal(key: Array, shape: tuple[int, ...]) -> Float[Array, "..."]:
    """Standard normal floats of `shape`, float32."""
    b = noise_bits(key, shape) >> 9
    # the midpoints of 2^23 equal cells of (-1, 1): symmetric, never +-1
    x = (b.astype(jnp.float32) + np.float32(0.5)) * np.float32(2.0**-22) - np.float32(1.0)
    return _SQRT2 * _erfinv(x)
