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
    """Every dot_general and convolution in fn's program, nested programs included."""
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
    chip = A.make_chip(spec, [(6, 4)], key=A.chip_key(A.root_key(0), 0))
    state = A.program_chip(
        spec, chip, [{"w": jnp.ones((6, 4)) * 0.1, "b": jnp.zeros(4)}], key=jax.random.key(1)
    )
    layer, layer_state = chip.layers[0], state.layers[0]
    x = jnp.ones((3, 6)) * 0.5

    def read(x):
        y = A.analog_linear(spec, layer, layer_state, x, t=1.0, key=jax.random.key(2))
        return jnp.sum(y)

    assert_full_float32(products(read, x))
    assert_full_float32(products(jax.grad(read), x))


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
    chip = A.to_analog(model, spec, key=A.chip_key(A.root_key(0), 1))
    x = jnp.ones((2, 4, 4))
    assert_full_float32(products(lambda x: A.analog_call(chip, x, t=1.0, key=key), x))
