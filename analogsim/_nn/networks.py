"""Network architectures (MLP, small CNN) as static descriptions plus pure forward passes.

A network is a tuple of layers; every layer that multiplies by weights does so through a
`matmul(index, x2d)` callback, so the same forward runs digitally (x @ w + b) or on a chip.
Convolutions are im2col (patches) followed by that matrix product: this is how a conv layer
is mapped onto crossbar tiles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from device_models import fold_in
from device_models._checks import ParameterError

from .._core.precision import PRECISION, matmul

Activation = Literal["relu", "none"]
MatMul = Callable[[int, Float[Array, "n fan_in"]], Float[Array, "n fan_out"]]


@dataclasses.dataclass(frozen=True)
class Dense:
    """Fully connected layer: (batch, n_in) -> (batch, n_out)."""

    n_in: int
    n_out: int
    activation: Activation = "relu"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_in, self.n_out)


@dataclasses.dataclass(frozen=True)
class Conv2d:
    """3x3-style convolution, 'SAME' padding, stride 1, then average pooling by `pool`.

    Input (batch, H, W, in_ch); weights stored as the im2col matrix (kernel*kernel*in_ch, out_ch).
    """

    in_ch: int
    out_ch: int
    kernel: int = 3
    pool: int = 2
    activation: Activation = "relu"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.kernel * self.kernel * self.in_ch, self.out_ch)


@dataclasses.dataclass(frozen=True)
class Network:
    """A feed-forward network: input shape (without batch) and its layers."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Dense | Conv2d, ...]

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of each weight matrix, i.e. of each analog layer."""
        return [layer.shape for layer in self.layers]


def mlp(sizes: Sequence[int] = (64, 128, 10), name: str = "mlp") -> Network:
    """A ReLU MLP with the given layer widths (input first, classes last)."""
    if len(sizes) < 2 or min(sizes) < 1:
        raise ParameterError(f"mlp sizes must be >= 2 positive widths; got {tuple(sizes)}")
    layers = tuple(
        Dense(a, b, "relu" if i < len(sizes) - 2 else "none")
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
    )
    return Network(name=name, input_shape=(sizes[0],), layers=layers)


def cnn(image: tuple[int, int, int] = (8, 8, 1), classes: int = 10) -> Network:
    """A small CNN for 8x8 images: conv(8) -> pool -> conv(16) -> pool -> dense."""
    h, w, c = image
    if h % 4 or w % 4:
        raise ParameterError(f"cnn needs image sides divisible by 4; got {image}")
    layers = (
        Conv2d(c, 8),
        Conv2d(8, 16),
        Dense((h // 4) * (w // 4) * 16, classes, "none"),
    )
    return Network(name="cnn", input_shape=image, layers=layers)


def get_network(name: str) -> Network:
    """The digits networks by name: 'mlp' (64-128-10) or 'cnn'."""
    if name == "mlp":
        return mlp()
    if name == "cnn":
        return cnn()
    raise ParameterError(f"unknown network {name!r}; known networks: cnn, mlp")


def init_params(net: Network, *, key: Array) -> list[dict[str, Array]]:
    """He-normal weights and zero biases, one dict {"w", "b"} per layer."""
    params = []
    for index, (fan_in, fan_out) in enumerate(net.shapes):
        k = fold_in(key, index)
        w = jax.random.normal(k, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in)
        params.append({"w": w, "b": jnp.zeros((fan_out,))})
    return params


def _patches(x: Array, kernel: int) -> Array:
    return jax.lax.conv_general_dilated_patches(
        x,
        (kernel, kernel),
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=PRECISION,  # a copy of the input: exact, not TF32-rounded
    )


def _activate(x: Array, activation: Activation) -> Array:
    return jax.nn.relu(x) if activation == "relu" else x


def apply(net: Network, x: Array, matmul: MatMul) -> Float[Array, "batch classes"]:
    """Forward pass of `net` on `x` (batch, *input_shape), multiplying through `matmul`."""
    if tuple(x.shape[1:]) != tuple(net.input_shape):
        raise ParameterError(
            f"inputs must have shape (batch, {', '.join(map(str, net.input_shape))}); "
            f"got {tuple(x.shape)}"
        )
    h = x
    for index, layer in enumerate(net.layers):
        if isinstance(layer, Conv2d):
            p = _patches(h, layer.kernel)
            n, hh, ww, f = p.shape
            y = matmul(index, p.reshape(n * hh * ww, f)).reshape(n, hh, ww, layer.out_ch)
            y = _activate(y, layer.activation)
            k = layer.pool
            h = y.reshape(n, hh // k, k, ww // k, k, layer.out_ch).mean(axis=(2, 4))
        else:
            h = h.reshape(h.shape[0], -1)
            h = _activate(matmul(index, h), layer.activation)
    return h


def matmul_rows(net: Network, batch: int) -> list[int]:
    """How many input vectors each layer's matrix multiply takes for `batch` examples: the
    batch for dense layers, the batch times the output positions for convolutions."""
    rows = []

    def matmul(index: int, h: Array) -> Array:
        rows.append(h.shape[0])
        return jnp.zeros((h.shape[0], net.shapes[index][1]), h.dtype)

    example = jax.ShapeDtypeStruct((batch, *net.input_shape), jnp.float32)
    jax.eval_shape(lambda x: apply(net, x, matmul), example)
    return rows


def apply_digital(
    net: Network, params: Sequence[dict[str, Array]], x: Array
) -> Float[Array, "batch classes"]:
    """The plain floating-point forward pass (the digital reference)."""
    return apply(net, x, lambda i, h: matmul(h, params[i]["w"]) + params[i]["b"])
