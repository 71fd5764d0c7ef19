"""A chip's identity as maps: what makes one piece of silicon unlike another, device by device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from device_models._checks import ParameterError, check_int_range

from .._core.dataset import experiment_dataset
from .._core.keys import chip_key, root_key, stream
from .identity import make_chip
from .spec import HardwareSpec


def chip_map(
    spec: HardwareSpec,
    shapes: Sequence[tuple[int, int]],
    *,
    seed: int = 0,
    chip: int = 0,
    layer: int = 0,
) -> xr.Dataset:
    """The identity of one layer of chip `chip` (`chip_key(root_key(seed), chip)`), the very
    chip that `simulate`, `train` and the sweeps draw under that seed and index.

    Args:
        shapes: the (rows, cols) of every analog layer of the network (layer l's devices
            depend only on l, but the map names the network it belongs to).
        layer: which layer to map.

    Returns:
        Dataset over `pair` (G+, G-), `row` (inputs) and `col` (outputs): `read_gain`,
        `g_max` (the device's own upper conductance, uS), `stuck` (+1 on, -1 off, 0 free),
        `drift_z` and `iv_nonlinearity`; the converters' `dac_gain` (col_tile, row) and
        `adc_gain`, `adc_offset` (row_tile, col); for pulsed specs each pulsed device's
        steps `dw_up`, `dw_down` (row, col, or pair, row, col for one-way devices; w units).
    """
    check_int_range("chip", chip, 0, 2**32 - 1)
    if not 0 <= layer < len(shapes):
        raise ParameterError(f"layer must be in [0, {len(shapes) - 1}]; got {layer}")
    key = chip_key(root_key(seed), chip)
    identity = make_chip(spec, shapes, key=stream(key, "identity")).layers[layer]
    d, p = identity.devices, identity.periphery
    stuck = np.asarray(d.stuck_on, np.int32) - np.asarray(d.stuck_off, np.int32)
    dims = ("pair", "row", "col")
    variables = {
        "read_gain": (dims, np.asarray(d.read_gain, np.float64)),
        "g_max": (dims, np.asarray(d.g_max, np.float64)),
        "stuck": (dims, stuck),
        "drift_z": (dims, np.asarray(d.drift_z, np.float64)),
        "iv_nonlinearity": (dims, np.asarray(d.iv_nonlinearity, np.float64)),
        "dac_gain": (("col_tile", "row"), np.asarray(p.dac_gain, np.float64)),
        "adc_gain": (("row_tile", "col"), np.asarray(p.adc_gain, np.float64)),
        "adc_offset": (("row_tile", "col"), np.asarray(p.adc_offset, np.float64)),
    }
    if identity.pulses is not None:
        # one-way devices (PCM) pulse both devices of a pair, the others G+ alone
        pulse_dims = dims if identity.pulses.dw_up.ndim == 3 else ("row", "col")
        variables["dw_up"] = (pulse_dims, np.asarray(identity.pulses.dw_up, np.float64))
        variables["dw_down"] = (pulse_dims, np.asarray(identity.pulses.dw_down, np.float64))
    rows, cols = shapes[layer]
    return experiment_dataset(
        variables,
        {"pair": ["G+", "G-"], "row": np.arange(rows), "col": np.arange(cols)},
        labels={
            "read_gain": ("1", "multiplicative read gain"),
            "g_max": ("uS", "the device's own highest conductance"),
            "stuck": ("1", "+1 stuck on (at its g_max), -1 stuck off (at g_min), 0 free"),
            "drift_z": ("1", "place in the drift-exponent distribution (sigma_nu units)"),
            "iv_nonlinearity": ("1", "k of I = g V (1 + k ((V / V_read)^2 - 1))"),
            "dac_gain": ("1", "input converter gain per row and column tile"),
            "adc_gain": ("1", "output converter gain per column and row tile"),
            "adc_offset": ("1", "output converter offset (normalized output units)"),
            "dw_up": ("1", "step of one up pulse (weight units)"),
            "dw_down": ("1", "step of one down pulse (weight units)"),
        },
        spec=spec,
        experiment="chip",
        seed=seed,
        chip=chip,
        layer=layer,
        shapes=list(shapes),
    )
