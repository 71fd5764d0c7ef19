"""The simulator's products ask for full float32, so a chip reads the same on every backend.

XLA's default float32 product on NVIDIA GPUs (Ampere on) is TF32; on an H200 it made an exact
chip differ from its digital model by up to 1.5%. On the CPU both precisions give the same
numbers, so these tests read the compiled program's request instead of its result."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from jax import lax

import analogsim as A

HIGHEST = (lax.Precision.HIGHEST, lax.Precision.HIGHEST)


def products(fn, *args) -> list:
    """Every dot_general and convolution in fn's program, nested programs included. `args`
    may be shapes alone (`eqx.filter_eval_shape`): the program is traced, never run."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name in ("dot_general", "conv_general_dilated"):
                found.append(eqn)
            for value in eqn.params.values():
                for item in value if isinstance(value, (tuple, list)) else (value,):
                    inner = getattr(item, "jaxpr", item)  # a ClosedJaxpr's, or a Jaxpr
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def assert_full_float32(eqns):
    assert eqns, "no product found"
    for eqn in eqns:
        precision = eqn.params["precision"]
        if eqn.primitive.name == "conv_general_dilated":
            # im2col patches: JAX's filter is one-hot, exact at any precision, and it asks
            # for the caller's precision on the input alone
            precision = precision[:1] * 2
        assert precision == HIGHEST, (eqn.primitive.name, eqn.params["precision"])


# PWM inputs: the wire solver reads its currents as a product (amplitude encoding of a
# nonlinear device sums its devices' currents instead)
WIRED = A.spec_for("pcm", wire_resistance=0.5, input_encoding="pwm")


@pytest.mark.parametrize("spec", [A.spec_for("pcm"), WIRED], ids=["ideal wires", "wired"])
def test_a_layers_read_and_its_gradient_are_full_float32(spec):
    def programmed():
        chip = A.make_chip(spec, [(6, 4)], key=A.chip_key(A.root_key(0), 0))
        params = [{"w": jnp.ones((6, 4)) * 0.1, "b": jnp.zeros(4)}]
        state = A.program_chip(spec, chip, params, key=jax.random.key(1))
        return chip.layers[0], state.layers[0]

    layer, state = eqx.filter_eval_shape(programmed)  # shapes: nothing is computed

    def read(layer, state, x):
        y = A.analog_linear(spec, layer, state, x, t=1.0, key=jax.random.key(2))
        return jnp.sum(y)

    x = jax.ShapeDtypeStruct((3, 6), jnp.float32)
    assert_full_float32(products(read, layer, state, x))
    assert_full_float32(products(jax.grad(read, argnums=2), layer, state, x))


def test_a_user_models_linear_and_convolution_products_are_full_float32():
    spec = A.spec_for("pcm")
    key = jax.random.key(0)
    model = eqx.nn.Sequential(
        [
            eqx.nn.Conv2d(2, 3, 3, padding=1, key=key),
            eqx.nn.Lambda(jnp.ravel),
            eqx.nn.Linear(3 * 4 * 4, 5, key=key),
        ]
    )
    chip = eqx.filter_eval_shape(lambda: A.to_analog(model, spec, key=A.chip_key(A.root_key(0), 1)))
    params, static = eqx.partition(chip, lambda leaf: isinstance(leaf, jax.ShapeDtypeStruct))
    x = jax.ShapeDtypeStruct((2, 4, 4), jnp.float32)

    def call(params, x):
        return A.analog_call(eqx.combine(params, static), x, t=1.0, key=key)

    assert_full_float32(products(call, params, x))
