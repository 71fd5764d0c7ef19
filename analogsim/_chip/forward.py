"""The analog forward pass: read a programmed chip at time t and run inputs through it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from device_models import fold_in
from device_models._checks import check_finite, check_nonnegative

from .._nn.networks import Network, apply
from .identity import ChipIdentity, LayerIdentity
from .meter import metered
from .read import read_conductances
from .spec import HardwareSpec
from .state import ChipState, LayerState
from .tile import analog_mvm, array_load, output_noise_draws


def analog_linear(
    spec: HardwareSpec,
    layer: LayerIdentity,
    state: LayerState,
    x: Float[Array, "batch rows"],
    *,
    t: ArrayLike,
    key: Array,
    output_noise: Float[Array, "row_tiles batch cols"] | None = None,
    example: Array | None = None,
    meter: Array | None = None,
) -> Float[Array, "batch cols"]:
    """One analog layer: x @ W + b as the chip computes it at `t` seconds after programming.

    One read of the array (one read-noise draw) serves the whole batch and, under drift
    compensation, the calibration input that rides along as an extra row of the batch; output
    noise is drawn per conversion. Digital steps: input scaling (noise management), the
    weight scale, the drift-compensation factor and the bias.

    `output_noise`, when given, are the output-noise draws to use, drawn beforehand by
    `layer_output_noise` with the same `key` (the same numbers). `example`, when given, is
    folded into the output-noise key: a model run one example at a time under `vmap` shares
    the array read (the same `key`) and converts each example with its own noise.
    `meter`, when given (`meter_zero()`), records the crossbar's load and the vectors read
    (`metered`); the outputs are the same.
    """
    g = read_conductances(spec, layer, state, t, key=fold_in(key, 0))
    if spec.noise_management == "abs_max":
        # the scale is a digital bookkeeping number: held constant for gradients, so tiny
        # inputs cannot blow the backward pass up through 1 / s^2
        s = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
        s = jnp.where(s > 0, s, 1.0)
    else:
        s = jnp.ones((1, 1), x.dtype)
    x_dac = x / s  # DAC units: full scale 1
    y = analog_mvm(
        spec,
        layer,
        g,
        x_dac,
        key=_mvm_key(key) if example is None else fold_in(_mvm_key(key), example),
        calibration=spec.drift_compensation,
        noise=output_noise,
    )
    if spec.drift_compensation:
        y, now = y[:-1], jnp.sum(jnp.abs(y[-1]))
        factor = jnp.where(now > 1e-12, state.drift_reference / now, 1.0)
        y = y * jax.lax.stop_gradient(factor)
    y = y * s * state.scale + state.bias
    if meter is None:
        return y
    reading = jnp.stack([array_load(spec, layer, g, x_dac), jnp.float32(x.shape[0])])
    return metered(y, meter, reading)


def _mvm_key(key: Array) -> Array:
    return fold_in(key, 1)


def layer_output_noise(
    spec: HardwareSpec, layer: LayerIdentity, batch: int, *, key: Array
) -> Float[Array, "row_tiles batch cols"]:
    """The output-noise draws `analog_linear(spec, layer, ..., key=key)` makes for `batch`
    inputs, drawn ahead (as `output_noise`).

    Why ahead: inside a training step XLA fuses the draws into every computation that uses
    the layer's outputs (forward, finiteness check, each gradient mask) and so computes them
    once per use; drawn outside the step they are computed once.
    """
    rows, cols = layer.devices.read_gain.shape[1:]
    batch += 1 if spec.drift_compensation else 0
    return output_noise_draws(spec, rows, cols, batch, key=_mvm_key(key))


def apply_analog(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    x: Array,
    *,
    t: ArrayLike,
    key: Array,
) -> Float[Array, "batch classes"]:
    """Run `x` through the network programmed on `chip`, read `t` seconds after programming.

    Args:
        key: the read key of this evaluation; layer l uses `fold_in(key, l)`.
    """
    check_nonnegative("t", t, unit="s")
    check_finite("inputs", x)

    def matmul(index: int, h: Array) -> Array:
        k = fold_in(key, index)
        return analog_linear(spec, chip.layers[index], state.layers[index], h, t=t, key=k)

    return apply(net, x, matmul)
