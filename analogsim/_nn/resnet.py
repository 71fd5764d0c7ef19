"""A small ResNet (equinox) for CIFAR-shaped images: the shipped image workload
(`synthetic_images`, or a user's CIFAR-10), and a model like the ones the field's users bring,
run on chips through `to_analog` as any other model is.

A 3x3 stem convolution, then stages of residual basic blocks (two 3x3 convolutions and an
identity shortcut; the first block of each later stage halves the resolution with stride 2 and
doubles the width, its shortcut a strided 1x1 projection: He et al., 2016, Deep residual
learning for image recognition, CVPR, section 3.3 and option B), global average pooling and
a linear read-out. Normalization is GroupNorm (Wu & He, 2018, Group normalization, ECCV).
On a chip every convolution (im2col products) and the read-out are crossbar products; the
norms, ReLUs, additions and pooling stay digital.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from device_models._checks import ParameterError, check_int_range


def _norm(channels: int) -> eqx.nn.GroupNorm:
    # GroupNorm, not BatchNorm: BatchNorm's running statistics are state that equinox threads
    # separately (eqx.nn.State, a second argument and result of every call), and its output
    # depends on the batch; GroupNorm normalizes each example by itself, so the model stays one
    # pure function of (parameters, image), trained by `fit_model` and run by `analog_call`
    # as any other. Up to 8 groups: Wu & He find 8 to 32 groups about equally good.
    return eqx.nn.GroupNorm(math.gcd(channels, 8), channels)


def _conv(inputs: int, outputs: int, size: int, stride: int, *, key: Array) -> eqx.nn.Conv2d:
    # no bias: the norm that follows subtracts each channel's mean and adds its own shift
    return eqx.nn.Conv2d(
        inputs, outputs, size, stride=stride, padding=size // 2, use_bias=False, key=key
    )


class BasicBlock(eqx.Module):
    """Two 3x3 convolutions and a shortcut, (channels, h, w) -> (out, h / stride, w / stride):
    relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))."""

    conv1: eqx.nn.Conv2d
    norm1: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d
    norm2: eqx.nn.GroupNorm
    projection: eqx.nn.Conv2d | None
    projection_norm: eqx.nn.GroupNorm | None

    def __init__(self, inputs: int, outputs: int, stride: int, *, key: Array):
        k1, k2, kp = jax.random.split(key, 3)
        self.conv1 = _conv(inputs, outputs, 3, stride, key=k1)
        self.norm1 = _norm(outputs)
        self.conv2 = _conv(outputs, outputs, 3, 1, key=k2)
        self.norm2 = _norm(outputs)
        if stride != 1 or inputs != outputs:
            self.projection = _conv(inputs, outputs, 1, stride, key=kp)
            self.projection_norm = _norm(outputs)
        else:
            self.projection = self.projection_norm = None

    def __call__(self, x: Float[Array, "channels h w"]) -> Float[Array, "out h2 w2"]:
        h = jax.nn.relu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        if self.projection is not None and self.projection_norm is not None:
            x = self.projection_norm(self.projection(x))
        return jax.nn.relu(h + x)


class ResNet(eqx.Module):
    """One image (height, width, channels), channels last as CIFAR stores it, values about
    [0, 1] -> logits (classes,). Run a batch with `jax.vmap`."""

    stem: eqx.nn.Conv2d
    stem_norm: eqx.nn.GroupNorm
    blocks: tuple[BasicBlock, ...]
    head: eqx.nn.Linear
    image: tuple[int, int, int] = eqx.field(static=True)

    def __call__(self, image: Float[Array, "height width channels"]) -> Float[Array, " classes"]:
        if tuple(image.shape) != self.image:
            raise ParameterError(
                f"image of shape {tuple(image.shape)}; the model takes one (height, width, "
                f"channels) = {self.image} image at a time (vmap it over a batch)"
            )
        # equinox's convolutions take channels first
        h = jnp.transpose(image, (2, 0, 1))
        h = jax.nn.relu(self.stem_norm(self.stem(h)))
        for block in self.blocks:
            h = block(h)
        return self.head(jnp.mean(h, axis=(1, 2)))


def resnet(
    *,
    key: Array,
    classes: int = 10,
    width: int = 16,
    blocks: tuple[int, ...] = (1, 1, 1),
    image: tuple[int, int, int] = (32, 32, 3),
) -> ResNet:
    """A `ResNet` with `len(blocks)` stages of `blocks[i]` basic blocks, `width * 2**i`
    channels in stage i (the first stage at the stem's `width` and the image's full
    resolution, each later one at half the previous), for images of shape `image` =
    (height, width, channels) and `classes` classes, initialized from `key` (equinox's
    initializers).

    The defaults, width 16 and one block per stage, are an 8-layer ResNet of about 78,000
    weights; `blocks=(3, 3, 3)` is He et al.'s ResNet-20 for CIFAR-10 (with GroupNorm).

    Raises:
        ParameterError: a count out of range, no stages, or an image shape that is not three
            positive sizes.
    """
    check_int_range("classes", classes, 2, 1 << 24)
    check_int_range("width", width, 1, 1 << 16)
    blocks = tuple(blocks) if isinstance(blocks, list | tuple) else blocks
    if not isinstance(blocks, tuple) or not 1 <= len(blocks) <= 16:
        raise ParameterError(
            f"blocks must be a tuple of 1 to 16 block counts, one per stage; got {blocks!r}"
        )
    for i, n in enumerate(blocks):
        check_int_range(f"blocks[{i}]", n, 1, 1024)
    if width << (len(blocks) - 1) > 1 << 16:
        raise ParameterError(
            f"width {width} doubled over {len(blocks)} stages is {width << (len(blocks) - 1)} "
            f"channels; at most {1 << 16}"
        )
    image = tuple(image) if isinstance(image, list | tuple) else image
    if not isinstance(image, tuple) or len(image) != 3:
        raise ParameterError(f"image must be (height, width, channels); got {image!r}")
    for name, n in zip(("height", "width", "channels"), image, strict=True):
        check_int_range(f"image {name}", n, 1, 1 << 16)
    ks, kb, kh = jax.random.split(key, 3)
    block_keys = iter(jax.random.split(kb, sum(blocks)))
    stack, channels = [], width
    for stage, count in enumerate(blocks):
        outputs = width << stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            stack.append(BasicBlock(channels, outputs, stride, key=next(block_keys)))
            channels = outputs
    return ResNet(
        stem=_conv(image[2], width, 3, 1, key=ks),
        stem_norm=_norm(width),
        blocks=tuple(stack),
        head=eqx.nn.Linear(channels, classes, key=kh),
        image=tuple(int(n) for n in image),
    )
