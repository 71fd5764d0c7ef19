"""A small decoder-only transformer (equinox) that classifies a token sequence from its last
position: the shipped sequence workload (`associative_recall`), and a model like the ones
the field's users bring, run on chips through `to_analog` as any other model is.

Pre-norm blocks (LayerNorm, causal multi-head attention, LayerNorm, GELU MLP of 4 x width),
learned token and position embeddings, a linear read-out of the last position. On a chip the
attention projections, the MLP and the read-out are crossbar products; embeddings (looked up
by index), norms and attention's activation-by-activation products stay digital.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from device_models._checks import ParameterError, check_int_range


class Block(eqx.Module):
    """One pre-norm transformer block over a sequence (length, width)."""

    attention_norm: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    mlp_norm: eqx.nn.LayerNorm
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, width: int, heads: int, *, key: Array):
        ka, ku, kd = jax.random.split(key, 3)
        self.attention_norm = eqx.nn.LayerNorm(width)
        self.attention = eqx.nn.MultiheadAttention(heads, width, key=ka)
        self.mlp_norm = eqx.nn.LayerNorm(width)
        self.up = eqx.nn.Linear(width, 4 * width, key=ku)
        self.down = eqx.nn.Linear(4 * width, width, key=kd)

    def __call__(self, h: Float[Array, "length width"]) -> Float[Array, "length width"]:
        length = h.shape[0]
        causal = jnp.tril(jnp.ones((length, length), bool))
        a = jax.vmap(self.attention_norm)(h)
        h = h + self.attention(a, a, a, mask=causal)
        m = jax.vmap(self.mlp_norm)(h)
        return h + jax.vmap(lambda v: self.down(jax.nn.gelu(self.up(v))))(m)


class Transformer(eqx.Module):
    """Tokens (length,) -> logits (classes,), read from the last position."""

    embedding: eqx.nn.Embedding
    positions: Float[Array, "length width"]
    blocks: tuple[Block, ...]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __call__(self, tokens: Int[Array, " length"]) -> Float[Array, " classes"]:
        if tokens.shape[0] > self.positions.shape[0]:
            raise ParameterError(
                f"sequence of {tokens.shape[0]} tokens; the model was built for at most "
                f"{self.positions.shape[0]}"
            )
        h = jax.vmap(self.embedding)(tokens.astype(jnp.int32))
        h = h + self.positions[: tokens.shape[0]]
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h[-1]))


def transformer(
    *,
    vocab: int,
    length: int,
    classes: int,
    width: int = 64,
    depth: int = 2,
    heads: int = 4,
    key: Array,
) -> Transformer:
    """A `Transformer` with `depth` blocks of `width` features and `heads` heads, for
    sequences of at most `length` tokens from a vocabulary of `vocab`, initialized from `key`
    (equinox's initializers; positions N(0, 0.02^2), as GPT-2 does)."""
    for name, value in (("vocab", vocab), ("length", length), ("classes", classes)):
        check_int_range(name, value, 1, 1 << 24)
    check_int_range("depth", depth, 1, 1024)
    check_int_range("heads", heads, 1, 1024)
    if width % heads:
        raise ParameterError(f"width ({width}) must be a multiple of heads ({heads})")
    ke, kp, kb, kh = jax.random.split(key, 4)
    return Transformer(
        embedding=eqx.nn.Embedding(vocab, width, key=ke),
        positions=0.02 * jax.random.normal(kp, (length, width)),
        blocks=tuple(Block(width, heads, key=k) for k in jax.random.split(kb, depth)),
        norm=eqx.nn.LayerNorm(width),
        head=eqx.nn.Linear(width, classes, key=kh),
    )
