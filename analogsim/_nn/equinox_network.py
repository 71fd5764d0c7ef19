"""The built-in networks (`mlp`, `cnn`) as equinox models, so that `to_analog` and
`analog_call` run them as they run any user's model.

The model holds the built-in parameters in equinox's layouts: a `Dense` weight (fan_in,
fan_out) as `eqx.nn.Linear`'s (out, in), its transpose; a `Conv2d` im2col matrix
(kernel * kernel * in, out), whose rows are in `conv_general_dilated_patches`' channel-major
order (in, kh, kw), as `eqx.nn.Conv2d`'s kernel (out, in, kh, kw). `to_analog` holds that
kernel as `reshape(out, -1).T`: the built-in matrix itself, row for row.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from device_models._checks import ParameterError

from .networks import Activation, Conv2d, Network


class EquinoxNetwork(eqx.Module):
    """A built-in `Network` as equinox layers: (batch, *input_shape) -> (batch, classes).

    It takes a batch, channels last as the built-in forward does, not one example: run by
    `analog_call(model, x, t=..., key=...)` without `in_axes`, each layer's whole batch
    reaches the chip as one product, one read of the array and one output-noise draw, as in
    `apply_analog`. (Under `in_axes=0` each example would be converted with its own noise; a
    batch of one reaches a dense layer as one vector, whose output-noise key `AnalogWeight`
    derives from its content, so only batches of two or more match `apply_analog` exactly.)
    Activations stay channels last between layers so that the ReLU, the pooling and the
    flattening before a dense layer are the built-in's own operations; only the convolutions
    see channels first, as `eqx.nn.Conv2d` takes one (channels, height, width) example.

    Attributes:
        layers: one `eqx.nn.Linear` or `eqx.nn.Conv2d` per built-in layer, in order, so
            weight `.layers[l].weight` is the built-in's analog layer l.
        activations: each layer's activation, "relu" or "none" (static).
        pools: each convolution's average-pooling factor, 0 for dense layers (static).
        input_shape: one example's shape, (features,) or (height, width, channels) (static).
    """

    layers: tuple[eqx.nn.Linear | eqx.nn.Conv2d, ...]
    activations: tuple[Activation, ...] = eqx.field(static=True)
    pools: tuple[int, ...] = eqx.field(static=True)
    input_shape: tuple[int, ...] = eqx.field(static=True)

    def __call__(self, x: Float[Array, "batch ..."]) -> Float[Array, "batch classes"]:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ParameterError(
                f"inputs must have shape (batch, {', '.join(map(str, self.input_shape))}); "
                f"got {tuple(x.shape)}"
            )
        h = x
        for layer, activation, pool in zip(self.layers, self.activations, self.pools, strict=True):
            if isinstance(layer, eqx.nn.Conv2d):
                y = jnp.moveaxis(jax.vmap(layer)(jnp.moveaxis(h, -1, 1)), 1, -1)
                y = _activate(y, activation)
                n, height, width, channels = y.shape
                shape = (n, height // pool, pool, width // pool, pool, channels)
                h = y.reshape(shape).mean(axis=(2, 4))
            else:
                h = _activate(jax.vmap(layer)(h.reshape(h.shape[0], -1)), activation)
        return h


def _activate(x: Array, activation: Activation) -> Array:
    return jax.nn.relu(x) if activation == "relu" else x


def equinox_network(net: Network, params: Sequence[dict[str, Array]]) -> EquinoxNetwork:
    """The built-in network `net` with parameters `params` as an equinox model that computes
    `apply_digital(net, params, x)` for a batch `x` (batch, *net.input_shape).

    Args:
        net: a built-in network (`mlp()`, `cnn()`).
        params: per layer {"w": (fan_in, fan_out), "b": (fan_out,)}, as `init_params` makes
            and `train_digital` returns.

    Returns:
        An `EquinoxNetwork`; on a chip, `analog_call(to_analog(model, spec, key=...), x,
        t=..., key=...)`.

    Raises:
        ParameterError: the parameters do not match the network's layers.
    """
    if len(params) != len(net.layers):
        raise ParameterError(
            f"params has {len(params)} layers but {net.name} has {len(net.layers)}"
        )
    layers = []
    for index, (layer, p) in enumerate(zip(net.layers, params, strict=True)):
        w, b = jnp.asarray(p["w"]), jnp.asarray(p["b"])
        if tuple(w.shape) != layer.shape or tuple(b.shape) != (layer.shape[1],):
            raise ParameterError(
                f"layer {index}: weights {tuple(w.shape)} / bias {tuple(b.shape)} do not match "
                f"the layer's shape {layer.shape}"
            )
        # shapes only: the weights are replaced, so no random initialization is computed
        key = jax.random.key(0)
        if isinstance(layer, Conv2d):
            k = layer.kernel
            shell = eqx.filter_eval_shape(
                eqx.nn.Conv2d, layer.in_ch, layer.out_ch, k, padding="SAME", key=key
            )
            weight = w.T.reshape(layer.out_ch, layer.in_ch, k, k)
            bias = b.reshape(layer.out_ch, 1, 1)
        else:
            shell = eqx.filter_eval_shape(eqx.nn.Linear, layer.n_in, layer.n_out, key=key)
            weight, bias = w.T, b
        layers.append(eqx.tree_at(lambda m: (m.weight, m.bias), shell, (weight, bias)))
    return EquinoxNetwork(
        layers=tuple(layers),
        activations=tuple(layer.activation for layer in net.layers),
        pools=tuple(layer.pool if isinstance(layer, Conv2d) else 0 for layer in net.layers),
        input_shape=tuple(net.input_shape),
    )
