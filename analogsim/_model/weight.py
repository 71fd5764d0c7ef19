"""An analog weight: one weight matrix of a user's model, programmed on its own crossbar
devices, standing in for the array wherever the model multiplies by it.

`AnalogWeight` is a quax value: inside `analog_call` every matrix product with it
(`lax.dot_general`) and every convolution by it (`lax.conv_general_dilated`, as im2col
products) runs the chip's signal path (`analog_linear`: DAC, tiled crossbar read at time t,
ADC, digital scale), whatever module or function wrote it. Any other operation on it is an
error naming the weight, so nothing silently runs digital.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import quax
from jax import lax
from jaxtyping import Array, ArrayLike

from device_models._checks import ParameterError
from device_models._noise import _lowbias32

from .._chip.forward import analog_linear
from .._chip.identity import LayerIdentity, make_chip
from .._chip.mapping import conductance_span
from .._chip.spec import HardwareSpec
from .._chip.state import LayerState
from .._core.precision import PRECISION

# the vmap axis `analog_call` names when it runs a model one example at a time
EXAMPLE_AXIS = "analogsim_example"


class AnalogWeight(quax.ArrayValue):
    """A weight matrix of `shape` programmed on a layer of crossbar devices.

    Attributes:
        spec: the hardware it runs on.
        identity, state: its devices and converters, and what programming left in them, for
            the matrix as the crossbar holds it: (rows, cols) = (inputs, outputs). `identity`
            is None when it is regenerated: drawn again from `identity_key` at every
            product, the same devices bit for bit, so the chip holds only its state.
        identity_key: the data of the key `make_chip` drew the identity from (None when it
            is held).
        weight_shape: the weight's own shape in the model (static).
        rows_axis: which axis of the weight a product contracts, 0 (`x @ w`) or 1 (`w @ x`,
            equinox's `Linear`); for a convolution kernel (out, in / groups, *window), 1:
            its input channels and window are the crossbar's rows, (in / groups) x window,
            its output channels the columns (static).
        groups: a convolution's feature groups (static): group j drives the rows with its
            own input channels and reads its own block of columns.
        kernel_spec: a convolution kernel's layout (static), as `lax.conv_general_dilated`'s
            rhs_spec names it: the axes of (out, in / groups, *window), (0, 1, 2, ...) for
            equinox's kernels, (n-1, n-2, 0, ..., n-3) for flax's channels-last (*window,
            in / groups, out). The crossbar holds the kernel as ((in / groups) x window,
            out) in either layout. None for a matrix.
        path: the weight's place in the model (static; it names the weight in errors and
            derives its keys).
        t: read time, seconds after programming (bound by `analog_call`).
        key: this weight's read key (bound by `analog_call`; None before).
        per_example: the model runs one example at a time under `analog_call`'s vmap: each
            example is converted with its own output noise (static).
        meter: a meter (`meter_zero()`) its products record their crossbar load and vectors
            on, or None (`_cost.counts.measure`).
    """

    spec: HardwareSpec
    identity: LayerIdentity | None
    state: LayerState
    weight_shape: tuple[int, ...] = eqx.field(static=True)
    rows_axis: int = eqx.field(static=True)
    path: str = eqx.field(static=True)
    groups: int = eqx.field(static=True, default=1)
    kernel_spec: tuple[int, ...] | None = eqx.field(static=True, default=None)
    t: Array | None = None
    key: Array | None = None
    per_example: bool = eqx.field(static=True, default=False)
    identity_key: Array | None = None
    meter: Array | None = None

    def aval(self) -> jax.core.ShapedArray:
        return jax.core.ShapedArray(self.weight_shape, jnp.float32)

    def materialise(self) -> Array:
        raise ParameterError(
            f"analog weight {self.path}: an operation other than a matrix product reached it, "
            "and it has no analog rule; keep it digital (to_analog's `where`)"
        )

    def devices(self) -> LayerIdentity:
        """Its devices and converters: held, or drawn again from `identity_key`."""
        if self.identity is not None:
            return self.identity
        shape = self.state.devices.g.shape[1:]
        key = jax.random.wrap_key_data(self.identity_key)
        # a Tiki-Taka fast array's devices are regenerated with the weight's own
        fast = self.state.fast is not None
        return make_chip(self.spec, [shape], key=key, fast_arrays=fast).layers[0]

    def held(self) -> Array:
        """The weight its conductance state holds, scale (G+ - G-) / span, in the model's
        own shape and layout (`weight_shape`): what copying this chip's weights would copy.
        A read differs from it by the devices' identity (gains, stuck devices, I-V
        nonlinearity), noise and drift."""
        g_lo, g_hi = conductance_span(self.spec)
        g = self.state.devices.g
        matrix = self.state.scale * (g[0] - g[1]) / (g_hi - g_lo)  # (rows, cols)
        if self.kernel_spec is None:
            return matrix if self.rows_axis == 0 else matrix.T
        # the crossbar holds ((in / groups) x window, out) of the kernel (out, in / groups,
        # *window); undo that, then the layout's transpose
        standard = tuple(self.weight_shape[d] for d in self.kernel_spec)
        kernel = matrix.T.reshape(standard)
        return jnp.transpose(kernel, np.argsort(self.kernel_spec))

    def product(self, x: Array) -> Array:
        """`x` (batch, rows) through the crossbar: (batch, cols), as the chip computes it."""
        if self.key is None or self.t is None:
            raise ParameterError(
                f"analog weight {self.path} has no read time or key: call the model through "
                "analog_call(model, *args, t=..., key=...)"
            )
        x = x.astype(jnp.float32)
        example = None
        if self.per_example:
            example = lax.axis_index(EXAMPLE_AXIS).astype(jnp.uint32)
        if x.shape[0] == 1:
            # one vector per call: a vmap outside analog_call (a user's own, over examples)
            # gives every example this call's key; the input's own bits tell them apart. (A
            # vmap inside the model, as equinox's attention maps its projections over
            # positions, reaches this rule as one batched product.)
            content = _content_id(x[0])
            example = content if example is None else _lowbias32(example * _GOLDEN ^ content)
        return analog_linear(
            self.spec,
            self.devices(),
            self.state,
            x,
            t=self.t,
            key=self.key,
            example=example,
            meter=self.meter,
        )


_GOLDEN = np.uint32(0x9E3779B9)  # numpy: importing analogsim must not start JAX


def _content_id(v: Array) -> Array:
    """A 32-bit number that differs, but for chance, between input vectors that differ in any
    bit: each element's bits mixed with its index, summed with wraparound, avalanched."""
    bits = lax.bitcast_convert_type(v, jnp.uint32)
    index = jnp.arange(bits.shape[0], dtype=jnp.uint32)
    return _lowbias32(jnp.sum(_lowbias32(bits ^ index * _GOLDEN)))


def _check_contraction(w: AnalogWeight, contract: tuple[int, ...], batch: tuple[int, ...]):
    if batch or contract != (w.rows_axis,):
        raise ParameterError(
            f"analog weight {w.path} {w.weight_shape}: programmed to contract its axis "
            f"{w.rows_axis}, but a product contracts axes {contract} (batch axes {batch}); a "
            "crossbar computes one orientation, the one to_analog chose"
        )


def _flat(x: Array, axis: int) -> tuple[Array, tuple[int, ...]]:
    """`x` with its contracted `axis` last, flattened to (batch, rows); and its free shape."""
    moved = jnp.moveaxis(x, axis, -1)
    free = moved.shape[:-1]
    return moved.reshape(-1, moved.shape[-1]), free


@quax.register(lax.dot_general_p)
def _weight_times(lhs: AnalogWeight, rhs: ArrayLike, *, dimension_numbers, **_) -> Array:
    """`w @ x` (equinox's Linear): the output's weight axis comes first."""
    (lc, rc), (lb, rb) = dimension_numbers
    _check_contraction(lhs, tuple(lc), tuple(lb))
    x, free = _flat(jnp.asarray(rhs), rc[0])
    y = lhs.product(x)  # (batch, cols)
    return jnp.moveaxis(y.reshape(*free, y.shape[-1]), -1, 0)


@quax.register(lax.dot_general_p)
def _times_weight(lhs: ArrayLike, rhs: AnalogWeight, *, dimension_numbers, **_) -> Array:
    """`x @ w`: the input's free axes come first, the weight's output axis last."""
    (lc, rc), (lb, rb) = dimension_numbers
    _check_contraction(rhs, tuple(rc), tuple(rb))
    x, free = _flat(jnp.asarray(lhs), lc[0])
    y = rhs.product(x)
    return y.reshape(*free, y.shape[-1])


@quax.register(lax.conv_general_dilated_p)
def _convolution(
    lhs: ArrayLike,
    rhs: AnalogWeight,
    *,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    dimension_numbers,
    feature_group_count,
    batch_group_count,
    **_,
) -> Array:
    """A convolution as im2col products: every output position's input patch, (input
    channels x window) features, driven into the crossbar's rows; feature group j drives its
    own channels and reads its own block of output columns."""
    w = rhs
    layout = w.kernel_spec
    if (
        layout is None
        or tuple(dimension_numbers.rhs_spec) != layout
        or batch_group_count != 1
        or feature_group_count != w.groups
    ):
        programmed = (
            "a matrix"
            if layout is None
            else f"a kernel of layout {layout} (out, in, *window axes) with {w.groups} "
            "feature groups"
        )
        raise ParameterError(
            f"analog weight {w.path} {w.weight_shape}: a convolution reached it with kernel "
            f"layout {tuple(dimension_numbers.rhs_spec)}, {feature_group_count} feature groups "
            f"and {batch_group_count} batch groups; it was programmed as {programmed}"
        )
    # (out, in / groups, *window) whatever the layout; the window in rhs_spec's order, the
    # order conv_general_dilated_patches wants it and lays its features in, channel-major
    out_channels, _, *window = (w.weight_shape[d] for d in layout)
    patches = lax.conv_general_dilated_patches(
        jnp.asarray(lhs, jnp.float32),
        filter_shape=tuple(window),
        window_strides=window_strides,
        padding=padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        # a copy of the input, exact whatever precision the caller's product asked for
        precision=PRECISION,
    )
    feature = dimension_numbers.out_spec[1]
    x, free = _flat(patches, feature)  # (positions, in x window), channel-major
    rows, out = x.shape[1] // w.groups, out_channels // w.groups
    blocks = [
        w.product(x[:, j * rows : (j + 1) * rows])[:, j * out : (j + 1) * out]
        for j in range(w.groups)
    ]
    y = jnp.concatenate(blocks, axis=-1).reshape(*free, out_channels)
    return jnp.moveaxis(y, -1, feature)
