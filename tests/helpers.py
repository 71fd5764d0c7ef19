"""Small shared set-ups for the tests (tiny networks so compiles stay short)."""

import jax
import jax.numpy as jnp

import analogsim as A

TINY_NET = A.mlp((8, 6, 3), name="tiny")


def tiny_params(seed: int = 0):
    return A.init_params(TINY_NET, key=jax.random.key(seed))


def tiny_inputs(batch: int = 5, seed: int = 1):
    return jax.random.uniform(jax.random.key(seed), (batch, 8), jnp.float32)


def tiny_chip(spec, index: int = 0, seed: int = 0, params=None):
    """(chip identity, programmed state) of chip `index` for the tiny network."""
    params = tiny_params() if params is None else params
    ck = A.chip_key(A.root_key(seed), index)
    chip = A.make_chip(spec, TINY_NET.shapes, key=A.stream(ck, "identity"))
    state = A.program_chip(spec, chip, params, key=A.stream(ck, "program"))
    return chip, state
