"""Speed of a user-scale model on a chip: the analog forward of a 10M-parameter transformer
against its digital forward and its products' floor, side by side.

    python benchmarks/bench_models.py [--repeats 5] [--json FILE]

The model is the shipped decoder-only transformer (`A.transformer`) at width 384, 6 blocks,
6 heads, on sequences of 128 tokens from a vocabulary of 256: 10.8 M weights, 10.6 M of
them on crossbars (every attention projection, MLP product and the read-out). A batch of 32
sequences is 4096 tokens. Three forwards run alternately (medians after compilation):

  digital   the model's own forward, jitted, `jax.vmap` over the batch;
  analog    `analog_call` of the model programmed on one PCM chip (8-bit DAC/ADC, read
            noise, drift at t = 1 day, all variation on), every product through the chip's
            signal path, reading the array on every call;
  products  the floor of the products: the same forward with each crossbar weight's product
            done as amplitude encoding needs it (x @ W and x^3 @ W3, the I-V law's linear
            and cubic terms, bench_forward.py's `products_s`), nothing else: no converter,
            read, drift or noise draw.
"""

from __future__ import annotations

import argparse
import math
import statistics

import equinox as eqx
import jax
import jax.numpy as jnp
import quax
from _record import machine, report
from _timing import interleaved  # benchmarks/ (the script's own directory)
from jax import lax

import analogsim as A
from analogsim._model.convert import analog_weights


class TwoProducts(quax.ArrayValue):
    """A weight whose product is the linear and the cubic term's: the floor of a crossbar."""

    w: jax.Array
    w3: jax.Array

    def aval(self):
        return jax.core.ShapedArray(self.w.shape, self.w.dtype)

    def materialise(self):
        raise ValueError("the floor only multiplies")


@quax.register(lax.dot_general_p)
def _floor_product(lhs: TwoProducts, rhs: jax.Array, *, dimension_numbers, **params):
    # equinox's Linear: w @ x
    dot = lambda w, x: lax.dot_general(w, x, dimension_numbers, **params)
    return dot(lhs.w, rhs) + dot(lhs.w3, rhs * rhs * rhs)


def floor_model(model):
    """`model` with every Linear weight a `TwoProducts`."""
    is_linear = lambda n: isinstance(n, eqx.nn.Linear)

    def swap(node):
        if not is_linear(node):
            return node
        return eqx.tree_at(lambda m: m.weight, node, TwoProducts(node.weight, 0.01 * node.weight))

    return jax.tree.map(swap, model, is_leaf=is_linear)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    length, vocab = 128, 256
    model = A.transformer(
        vocab=vocab, length=length, classes=vocab, width=384, depth=6, heads=6,
        key=jax.random.key(0),
    )  # fmt: skip
    params = eqx.filter(model, eqx.is_inexact_array)
    total = sum(x.size for x in jax.tree.leaves(params))
    tokens = jax.random.randint(jax.random.key(1), (args.batch, length), 0, vocab)
    chip = A.to_analog(model, A.spec_for("pcm"), key=A.chip_key(A.root_key(0), 0))
    on_chip = sum(math.prod(w.weight_shape) for w in analog_weights(chip))
    floor = floor_model(model)

    digital = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    analog = eqx.filter_jit(
        lambda c, x: A.analog_call(c, x, t=86400.0, key=jax.random.key(2), in_axes=0)
    )
    # the floor's weights are arguments of the quaxified function (a closure's are not seen)
    products = eqx.filter_jit(quax.quaxify(lambda f, x: jax.vmap(f)(x)))
    times = interleaved(
        (digital, (model, tokens)),
        (analog, (chip, tokens)),
        (products, (floor, tokens)),
        repeats=args.repeats,
    )
    d, a, p = (statistics.median(t) for t in times)
    result = {
        "weights": total,
        "weights_on_crossbars": on_chip,
        "tokens_per_call": args.batch * length,
        "digital_s": d,
        "analog_s": a,
        "products_s": p,
        "analog_over_digital": a / d,
        "analog_over_products": a / p,
        "repeats": args.repeats,
        "machine": machine(),
    }
    report("bench_models", result, args.json)


if __name__ == "__main__":
    jnp.zeros(1)  # start JAX before timing
    main()
