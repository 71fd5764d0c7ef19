"""A chip: the fixed identity of every device and converter, drawn from the chip's key."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
from jaxtyping import Array

from device_models import DeviceIdentity, PulseIdentity
from device_models._checks import ParameterError

from .._core.keys import stream
from .periphery import PeripheryIdentity, draw_periphery
from .spec import HardwareSpec


class LayerIdentity(eqx.Module):
    """The devices and converters one weight matrix of shape (rows, cols) is mapped onto.

    Attributes:
        devices: identity of the differential pairs, fields of shape (2, rows, cols);
            index 0 is the G+ device, 1 the G- device.
        periphery: that layer's DAC and ADC errors.
        pulses: each pulsed device's update response when the spec has a pulse response (in-situ
            training), None otherwise: shape (rows, cols) for the G+ devices, or (2, rows,
            cols) for both devices of each pair when the response is unidirectional (PCM).
            Those devices' own range (`devices.g_min`, `devices.g_max`) is their pulse bounds.
        fast: under a Tiki-Taka algorithm, the second array the gradient accumulates on
            before it reaches this one (the "fast" array A), with its own devices and
            converters, drawn from the chip's key; None otherwise.
    """

    devices: DeviceIdentity
    periphery: PeripheryIdentity
    pulses: PulseIdentity | None = None
    fast: LayerIdentity | None = None


class ChipIdentity(eqx.Module):
    """Everything fixed about one chip: one `LayerIdentity` per analog layer."""

    layers: tuple[LayerIdentity, ...]


def tile_counts(spec: HardwareSpec, rows: int, cols: int) -> tuple[int, int]:
    """Number of (row, column) tiles a (rows, cols) matrix occupies."""
    return -(-rows // spec.tile_rows), -(-cols // spec.tile_cols)


def make_chip(
    spec: HardwareSpec,
    shapes: Sequence[tuple[int, int]],
    *,
    key: Array,
    fast_arrays: bool = False,
) -> ChipIdentity:
    """Draw a chip's identity for layers of the given (rows, cols) shapes.

    Args:
        spec: the hardware spec (device preset, periphery spreads, `variation`).
        shapes: the (fan_in, fan_out) of each analog layer, in order.
        key: the chip's key (`chip_key(root, index)`); layer l draws from
            `stream(key, "identity", l)`, so layer l's devices do not depend on other layers.
        fast_arrays: also draw each layer's fast array (Tiki-Taka), from
            `stream(key, "fast", l)`: the layers' own devices are the same either way.
    """
    layers = []
    for index, shape in enumerate(shapes):
        if len(shape) != 2 or min(shape) < 1:
            raise ParameterError(f"layer {index} shape must be (rows, cols) >= 1; got {shape}")
        layer = draw_layer(spec, shape, key=stream(key, "identity", index))
        if fast_arrays:
            layer = dataclasses.replace(
                layer, fast=draw_fast_layer(spec, shape, key=key, index=index)
            )
        layers.append(layer)
    return ChipIdentity(layers=tuple(layers))


def draw_fast_layer(
    spec: HardwareSpec, shape: tuple[int, int], *, key: Array, index: int
) -> LayerIdentity:
    """Layer `index`'s fast array (Tiki-Taka) on the chip whose identity key is `key` (the
    key `make_chip` takes), from `stream(key, "fast", index)`."""
    return draw_layer(spec, shape, key=stream(key, "fast", index))


def draw_layer(spec: HardwareSpec, shape: tuple[int, int], *, key: Array) -> LayerIdentity:
    """One (rows, cols) array's devices, converters and pulse responses, drawn from `key`
    (layer l of `make_chip` draws from `stream(chip key, "identity", l)`)."""
    rows, cols = shape
    row_tiles, col_tiles = tile_counts(spec, rows, cols)
    devices = spec.device.draw_identity(
        (2, rows, cols), key=stream(key, "identity", 0), variation=spec.variation
    )
    periphery = draw_periphery(
        spec.periphery,
        rows,
        cols,
        row_tiles,
        col_tiles,
        spec.adc_range,
        key=stream(key, "identity", 1),
        scale=spec.variation,
    )
    pulses = None
    if spec.pulse_response is not None:
        response = spec.pulse_response
        # one-way devices pulse both devices of a pair, the others only G+
        pulse_shape = (2, rows, cols) if response.unidirectional else (rows, cols)
        pulses = response.draw_identity(
            pulse_shape, key=stream(key, "identity", 2), variation=spec.variation
        )
        # a pulsed device's range is its own pulse bounds: writes and pulses stop there
        lo, hi = response.to_g(pulses.w_min), response.to_g(pulses.w_max)
        pulsed = slice(None) if response.unidirectional else 0
        devices = eqx.tree_at(
            lambda d: (d.g_min, d.g_max),
            devices,
            (devices.g_min.at[pulsed].set(lo), devices.g_max.at[pulsed].set(hi)),
        )
    return LayerIdentity(devices=devices, periphery=periphery, pulses=pulses)
