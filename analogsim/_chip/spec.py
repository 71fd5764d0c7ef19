"""The hardware spec: a device preset, its periphery, tiling and weight mapping."""

from __future__ import annotations

import dataclasses
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike

from device_models import PCM, AbstractDeviceModel, AbstractPulseResponse
from device_models._checks import (
    ParameterError,
    check_int_range,
    check_nonnegative,
    check_range,
)

from .periphery import PeripheryVariation

WeightScale = Literal["column", "layer"]
InputEncoding = Literal["amplitude", "pwm"]
PulseUpdate = Literal["stochastic", "mixed-precision"]


class HardwareSpec(eqx.Module):
    """Everything fixed about a kind of chip (not one chip: that is its key).

    Signals are in normalized units: a row voltage of 1 is the read voltage V_read (the DAC's
    full scale); a column output of 1 is the current of one device at the mapping's full
    conductance span driven at V_read. Numbers are traced leaves (sweepable without
    recompiling); fields marked static decide the compiled program's shape.

    Attributes:
        device: the device model of every crossbar cell.
        dac_bits: input converter resolution, 1..24, or None for an ideal DAC (static).
        adc_bits: output converter resolution, 1..24, or None for an ideal ADC (static).
        adc_range: ADC full scale, normalized output units (12, aihwkit's default `out_bound`).
        output_noise: std of additive noise per conversion, normalized output units
            (0.04, the forward `out_noise` of Rasch et al., Nat. Commun. 14:5282, 2023).
        periphery: spreads of DAC/ADC gain and offset (chip identity).
        variation: multiplier on every identity spread, device and periphery (1 = nominal).
        g_max_fraction: the largest weight maps to this fraction of the device's g_max.
        tile_rows, tile_cols: crossbar tile size; larger layers are split over tiles and the
            row tiles' digitized partial sums added digitally (static).
        weight_scale: one digital scale per output column or per layer (static).
        input_encoding: "amplitude" drives rows with a voltage proportional to the input, so
            each device's I-V nonlinearity acts; "pwm" encodes the input in pulse duration at
            V_read (IBM HERMES), so it does not (static).
        noise_management: "abs_max" divides each input vector by its largest magnitude before
            the DAC and multiplies the output back (aihwkit's default); "none" clips inputs to
            the DAC's range of +-1 (static).
        drift_compensation: apply one digital factor per layer from calibration reads right
            after programming and at read time (aihwkit's GlobalDriftCompensation) (static).
        pulse_response: how the G+ devices answer programming pulses (in-situ training), or
            None for chips that are only programmed and read. Its conductance range should
            match the device's.
        wire_resistance: ohms per wire segment inside each tile (row and column alike), or
            None for ideal wires. A number makes every read solve each tile's G+ and G-
            crossbars as circuits (`solve_crossbar`): IR drop, which grows with tile size
            and depends on the conductances and inputs. An assumption to sweep: about 1
            ohm per cell-to-cell segment at advanced nodes.
        read_voltage: V_read in volts, the DAC's full scale (0.2 V, an assumption; it sets
            the currents, hence the IR drop).
        wire_iterations: None solves each tile to tolerance; a number runs exactly that many
            conjugate-gradient iterations per solve (`solve_crossbar`'s fast approximate
            mode, for training loops) (static).
        pulse_update: how in-situ training turns a desired change into pulses (static).
            "stochastic": stochastic rounding at the nominal step (Gupta et al. 2015), a fresh
            decision every update. "mixed-precision": the desired change accumulates in a
            digital variable beside the array and only whole steps are fired, the rest carried
            to the next update (Nandakumar et al., Front. Neurosci. 14:406, 2020).
    """

    device: AbstractDeviceModel = eqx.field(default_factory=PCM)
    dac_bits: int | None = eqx.field(default=8, static=True)
    adc_bits: int | None = eqx.field(default=8, static=True)
    adc_range: ArrayLike = 12.0
    output_noise: ArrayLike = 0.04
    periphery: PeripheryVariation = eqx.field(default_factory=PeripheryVariation)
    variation: ArrayLike = 1.0
    g_max_fraction: ArrayLike = 1.0
    tile_rows: int = eqx.field(default=256, static=True)
    tile_cols: int = eqx.field(default=256, static=True)
    weight_scale: WeightScale = eqx.field(default="column", static=True)
    input_encoding: InputEncoding = eqx.field(default="amplitude", static=True)
    noise_management: Literal["abs_max", "none"] = eqx.field(default="abs_max", static=True)
    drift_compensation: bool = eqx.field(default=True, static=True)
    pulse_response: AbstractPulseResponse | None = None
    wire_resistance: ArrayLike | None = None
    read_voltage: ArrayLike = 0.2
    wire_iterations: int | None = eqx.field(default=None, static=True)
    pulse_update: PulseUpdate = eqx.field(default="stochastic", static=True)

    def __check_init__(self) -> None:
        if not isinstance(self.device, AbstractDeviceModel):
            raise ParameterError(f"device must be a device model, got {type(self.device)}")
        for name in ("dac_bits", "adc_bits"):
            if getattr(self, name) is not None:
                check_int_range(name, getattr(self, name), 1, 24)
        check_int_range("tile_rows", self.tile_rows, 1, 1 << 16)
        check_int_range("tile_cols", self.tile_cols, 1, 1 << 16)
        check_range("adc_range", self.adc_range, 0.0, low_open=True)
        check_nonnegative("output_noise", self.output_noise)
        check_nonnegative("variation", self.variation)
        check_range("g_max_fraction", self.g_max_fraction, 0.0, 1.0, low_open=True)
        if self.wire_resistance is not None:
            check_nonnegative("wire_resistance", self.wire_resistance)
        check_range("read_voltage", self.read_voltage, 0.0, low_open=True)
        if self.wire_iterations is not None:
            check_int_range("wire_iterations", self.wire_iterations, 1, 10_000)
        if self.pulse_response is not None and not isinstance(
            self.pulse_response, AbstractPulseResponse
        ):
            raise ParameterError("pulse_response must be a pulse response model or None")
        _check_choice("weight_scale", self.weight_scale, ("column", "layer"))
        _check_choice("input_encoding", self.input_encoding, ("amplitude", "pwm"))
        _check_choice("noise_management", self.noise_management, ("abs_max", "none"))
        _check_choice("pulse_update", self.pulse_update, ("stochastic", "mixed-precision"))


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def noiseless(spec: HardwareSpec) -> HardwareSpec:
    """The same spec with every cycle-to-cycle noise off: write noise, read noise, relaxation,
    converter noise and pulse-to-pulse step noise. Chip identity (variation) is untouched, so
    `noiseless(spec)` with `variation=0` makes every chip the same deterministic machine."""
    device = spec.device
    for name in ("prog_noise_scale", "read_noise_scale", "relaxation_scale"):
        if hasattr(device, name):
            device = dataclasses.replace(device, **{name: 0.0})
    pulses = spec.pulse_response
    if pulses is not None:
        pulses = dataclasses.replace(pulses, dw_min_std=0.0)
    return dataclasses.replace(spec, device=device, output_noise=0.0, pulse_response=pulses)


def traced(spec: HardwareSpec) -> HardwareSpec:
    """The same spec with every Python float as a float32 array, so that compiled functions
    trace it instead of baking it in: specs that differ only in numbers (a noise scale, a
    spread) then share one compiled program."""
    return jax.tree.map(lambda leaf: jnp.float32(leaf) if isinstance(leaf, float) else leaf, spec)
