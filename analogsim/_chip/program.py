"""Programming a network onto a chip: the presets' published procedure, one open-loop write,
or an explicit program-and-verify loop through the chip's own reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from device_models import AbstractDeviceModel, DeviceIdentity, DeviceState
from device_models._checks import (
    ParameterError,
    check_finite,
    check_int_range,
    check_range,
)

from .._core.keys import stream
from .identity import ChipIdentity, LayerIdentity
from .mapping import weight_scale, weights_to_conductances
from .read import calibration_read
from .spec import HardwareSpec
from .state import ChipState, LayerState

ProgramMethod = Literal["published", "open-loop", "verify"]
PROGRAM_METHODS: tuple[str, ...] = ("published", "open-loop", "verify")


def layer_state(
    spec: HardwareSpec,
    layer: LayerIdentity,
    devices: DeviceState,
    scale: Float[Array, " cols"],
    bias: Float[Array, " cols"],
    *,
    key: Array,
) -> LayerState:
    """A freshly written layer's state; under drift compensation its calibration read is taken
    now (t = 0, key `stream(key, "calibrate")`), otherwise no read is spent on it."""
    state = LayerState(
        devices=devices, scale=scale, bias=jnp.asarray(bias), drift_reference=jnp.float32(1.0)
    )
    if not spec.drift_compensation:
        return state
    reference = calibration_read(spec, layer, state, 0.0, key=stream(key, "calibrate"))
    return eqx.tree_at(lambda s: s.drift_reference, state, reference)


def program_and_verify_counted(
    device: AbstractDeviceModel,
    identity: DeviceIdentity,
    g_target: Float[Array, "..."],
    *,
    key: Array,
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
    t_verify: ArrayLike = 1e-6,
    verify_reads: int = 4,
    correction: ArrayLike = 1.0,
) -> tuple[DeviceState, Array]:
    """Closed-loop write: write open loop, read each device back through this chip, rewrite
    those off by more than `tolerance`, up to `iterations` times; then programming settles.

    Args:
        device, identity: the device model and these devices' identity.
        g_target: target conductances (uS) as the chip's verify read should see them.
        key: programming key; write i and verify read i take their own sub-keys, the settling
            after the last write `stream(key, "settle")`.
        iterations: number of verify-and-rewrite rounds after the first write (static).
        tolerance: accepted |read - target|, microsiemens.
        t_verify: time of the verify read after each write, seconds (read noise acts); a
            chip's verify reads microseconds after its write.
        verify_reads: reads averaged per verify (static); averaging divides the read noise by
            sqrt(verify_reads), treating successive reads as independent.
        correction: fraction of the measured error each rewrite moves the device by, in (0, 1].

    The first write is `device.write` from scratch: the open-loop placement error, the
    device's read gain uncorrected. Each rewrite is an incremental write by
    `correction * (target - read)` from where the device is, landing with the device's
    relative `step_error`, so the error shrinks geometrically and a device's fixed read gain
    is absorbed (for gains below 2 / correction), while read noise in the verify, each
    device's range and stuck devices are not. A device that passes a verify is finished.
    After the last write every device settles (`device.settle`): the published spread, which
    no verify sees, so the loop converges to the published spread from above, never below.
    With a tolerance below the verify read noise the loop chases noise: average more reads or
    accept a wider tolerance.

    Returns:
        (state, writes): the devices' state and the number of device writes spent (the first
        write of every device plus every rewrite).
    """
    check_verify_settings(
        iterations=iterations,
        tolerance=tolerance,
        t_verify=t_verify,
        verify_reads=verify_reads,
        correction=correction,
    )
    g_target = jnp.asarray(g_target, jnp.float32)
    state = device.write(identity, g_target, key=stream(key, "program", 0))

    def body(i: Array, carry: tuple[DeviceState, Array, Array]):
        state, done, rewrites = carry
        keys = jax.random.split(stream(key, "verify", i), verify_reads)
        reads = jax.vmap(lambda k: device.conductance(identity, state, t_verify, key=k))(keys)
        error = g_target - reads.mean(axis=0)
        # a device that passed a verify is finished: later reads would only chase read noise
        done = done | (jnp.abs(error) <= tolerance)
        aim = state.g + correction * error
        rewritten = device.write(identity, aim, key=stream(key, "program", i + 1), g_from=state.g)
        state = jax.tree.map(lambda old, new: jnp.where(done, old, new), state, rewritten)
        return state, done, rewrites + jnp.sum(~done, dtype=jnp.int32)

    init = (state, jnp.zeros(g_target.shape, bool), jnp.int32(0))
    state, _, rewrites = jax.lax.fori_loop(0, iterations, body, init)
    settled = device.settle(identity, state.g, g_target, key=stream(key, "settle"))
    return settled, rewrites + g_target.size


def check_verify_settings(
    *,
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
    t_verify: ArrayLike = 1e-6,
    verify_reads: int = 4,
    correction: ArrayLike = 1.0,
) -> None:
    """Raise a `ParameterError` naming the first program-and-verify setting out of its range."""
    check_int_range("iterations", iterations, 0, 10_000)
    check_range("tolerance", tolerance, 0.0, 1e3, unit="uS")
    check_range("t_verify", t_verify, 0.0, 1e9, unit="s")
    check_int_range("verify_reads", verify_reads, 1, 10_000)
    check_range("correction", correction, 0.0, 1.0, low_open=True)


def program_and_verify(
    device: AbstractDeviceModel,
    identity: DeviceIdentity,
    g_target: Float[Array, "..."],
    *,
    key: Array,
    **settings: ArrayLike,
) -> DeviceState:
    """Closed-loop write (`program_and_verify_counted` without the count)."""
    return program_and_verify_counted(device, identity, g_target, key=key, **settings)[0]


def program_chip(
    spec: HardwareSpec,
    chip: ChipIdentity,
    params: Sequence[dict[str, Array]],
    *,
    key: Array,
    method: ProgramMethod = "published",
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
) -> ChipState:
    """Program digital weights onto a chip (`program_chip_counted` without the count)."""
    return program_chip_counted(
        spec, chip, params, key=key, method=method, iterations=iterations, tolerance=tolerance
    )[0]


def program_chip_counted(
    spec: HardwareSpec,
    chip: ChipIdentity,
    params: Sequence[dict[str, Array]],
    *,
    key: Array,
    method: ProgramMethod = "published",
    iterations: int = 10,
    tolerance: ArrayLike = 0.5,
) -> tuple[ChipState, Array]:
    """Program digital weights onto a chip; returns (state, device writes).

    Args:
        spec: hardware spec.
        chip: the chip's identity (`make_chip`), one layer per entry of `params`.
        params: per layer {"w": (rows, cols), "b": (cols,)}.
        key: the chip's programming key; layer l uses `stream(key, "program", l)`.
        method: "published" (the device preset's published procedure, converged: what its
            published spreads were measured after), "open-loop" (one write per device, no
            verify) or "verify" (an explicit program-and-verify loop, `iterations` rounds).
            Device writes count one per device for the first two: the published procedure's
            own rewrites are not modelled one by one.
        iterations, tolerance: program-and-verify settings (tolerance in uS).
    """
    if method not in PROGRAM_METHODS:
        raise ParameterError(f"method must be one of {PROGRAM_METHODS}; got {method!r}")
    if len(params) != len(chip.layers):
        raise ParameterError(
            f"params has {len(params)} layers but the chip was made for {len(chip.layers)}"
        )
    layers, writes = [], jnp.int32(0)
    for index, (layer_id, p) in enumerate(zip(chip.layers, params, strict=True)):
        w, b = p["w"], p["b"]
        check_finite(f"layer {index} weights", w)
        check_finite(f"layer {index} bias", b)
        expect = layer_id.devices.g_max.shape[1:]
        if tuple(w.shape) != tuple(expect) or tuple(b.shape) != (expect[1],):
            raise ParameterError(
                f"layer {index}: weights {tuple(w.shape)} / bias {tuple(b.shape)} do not match "
                f"the chip's layer shape {tuple(expect)}"
            )
        scale = weight_scale(spec, w)
        g_target = weights_to_conductances(spec, w, scale)
        k = stream(key, "program", index)
        if method == "verify":
            devices, n = program_and_verify_counted(
                spec.device,
                layer_id.devices,
                g_target,
                key=k,
                iterations=iterations,
                tolerance=tolerance,
            )
        else:
            devices = spec.device.program(layer_id.devices, g_target, key=k, procedure=method)
            n = g_target.size
        layers.append(layer_state(spec, layer_id, devices, scale, b, key=k))
        writes = writes + n
    return ChipState(layers=tuple(layers)), writes
