"""`cost`: energy per inference split by component, latency, throughput and area of a model
on a chip, and the digital reference's energy for the same network, from one run.

The counts come from the simulation itself: each analog weight's input vectors and crossbar
load from meters on the analog run (`measure`), the model's own digital operations from its
program (`program_counts`); the cost model (`CostModel`) turns them into joules, seconds and
square millimetres.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
import xarray as xr
from jaxtyping import Array, ArrayLike

from device_models._checks import ParameterError

from .._chip.identity import tile_counts
from .._chip.spec import HardwareSpec
from .._core.dataset import experiment_dataset
from .._model.convert import analog_weights, to_analog
from .._model.products import program_counts
from .._nn.equinox_network import EquinoxNetwork, equinox_network
from .._nn.networks import Network
from .chip_costs import COMPONENTS, CostModel
from .digital_reference import Precision, WeightMemory, digital_costs
from .measure import measure
from .presets import cost_model_for

REFERENCE_COMPONENTS = {
    "mac": "multiply-accumulates of every weight product",
    "weights": "every weight fetched once per batch",
    "activations": "inputs and outputs of every product through SRAM",
    "digital": "the model's own digital operations (the same count as on the chip)",
}
# partial sums and outputs leave a tile at this width, bits
_OUTPUT_BITS = 16

LABELS = {
    "energy": ("J", "energy per inference, by layer and component"),
    "energy_per_inference": ("J", "energy per inference on the chip"),
    "digital_reference": ("J", "energy per inference on the digital reference"),
    "reference_energy": ("J", "digital reference energy per inference, by component"),
    "reference_layer_energy": ("J", "digital reference energy per inference, by layer"),
    "digital_ratio": ("1", "digital reference energy / chip energy"),
    "latency": ("s", "one inference alone, layer after layer"),
    "throughput": ("1/s", "inferences a second with the layers pipelined"),
    "area": ("mm^2", "tiles the model occupies, with their converters"),
    "chips_needed": ("1", "chips of the cost model's size the model needs"),
    "tops_per_watt": ("TOPS/W", "2 x weight MACs per joule on the chip, 1e12"),
    "vectors": ("1", "input vectors per inference"),
    "macs": ("1", "weight multiply-accumulates per inference"),
    "tiles": ("1", "crossbar tiles"),
    "rows": ("1", "crossbar rows (inputs)"),
    "cols": ("1", "crossbar columns (outputs)"),
    "digital_macs": ("1", "digital multiply-accumulates per inference outside the weights"),
    "digital_ops": ("1", "other digital operations per inference"),
}


def cost(
    spec: HardwareSpec,
    model: Any,
    batch: ArrayLike,
    *,
    key: Array,
    cost_model: CostModel | None = None,
    params: Any = None,
    t: ArrayLike = 1.0,
    method: str = "published",
    precision: Precision = "int8",
    weight_memory: WeightMemory = "dram",
    in_axes: Any = 0,
) -> xr.Dataset:
    """What `model` costs on chip `key` of `spec`, per inference, over the inputs `batch`.

    Args:
        spec: the hardware; its converters, tiles and encoding decide the counts.
        model: a model called one example at a time (converted with `to_analog` or not: a
            digital one is programmed on chip `key` first), or a built-in `Network` with
            `params` (it takes the whole batch).
        batch: inputs (examples, ...); the energy is their mean, and the digital reference
            fetches its weights once for the whole batch.
        key: the chip's key (programming a digital model, by `method` as `to_analog` takes
            it) and the read's (`fold_in(key, 1)`).
        cost_model: the chip's costs; default `cost_model_for(spec)`.
        t: read time, seconds after programming (the conductances read, hence the array's
            energy, drift).
        precision, weight_memory: the digital reference (`digital_costs`).
        in_axes: as `analog_call`'s; None for models that take a batch.

    Returns:
        A dataset over (layer, component): `energy` (J per inference), with
        `energy_per_inference`, `latency` (s), `throughput` (1/s), `area` (mm^2), `chips_needed`,
        `tops_per_watt`, the digital reference's `reference_energy` by component and
        `digital_reference`, `digital_ratio`, and per layer `vectors`, `macs`, `tiles`,
        `rows`, `cols`. The layer `digital` holds the model's own digital operations.

    Raises:
        ParameterError: a spec with no cost model and none given; an empty batch.
    """
    costs = cost_model if cost_model is not None else cost_model_for(spec)
    if isinstance(model, Network):
        if params is None:
            raise ParameterError("cost of a built-in Network needs its params")
        model, in_axes = equinox_network(model, params), None
    elif isinstance(model, EquinoxNetwork):
        in_axes = None
    batch = np.asarray(batch)
    if batch.ndim == 0 or len(batch) == 0:
        raise ParameterError("cost needs a batch of at least one input")
    n = len(batch)
    chip = model if analog_weights(model) else to_analog(model, spec, key=key, method=method)
    weights = analog_weights(chip)
    example = batch[0] if in_axes is not None else batch[:1]
    counted = program_counts(chip, example)
    metered = measure(chip, batch, t=t, key=jax.random.fold_in(key, 1), in_axes=in_axes)
    shapes = [w.state.devices.g.shape[1:] for w in weights]
    layers = [w.path for w in weights]
    per_layer = [
        layer_energy(spec, costs, shape, vectors / n, load / n)
        for shape, vectors, load in zip(shapes, metered.vectors, metered.array_load, strict=True)
    ]
    rest = counted.digital_ops * costs.op_energy + counted.digital_macs * costs.mac_energy
    energy = np.zeros((len(layers) + 1, len(COMPONENTS)))
    for i, parts in enumerate(per_layer):
        energy[i] = [float(parts[c]) for c in COMPONENTS]
    energy[-1, list(COMPONENTS).index("digital")] = float(rest)

    vectors = metered.vectors / n
    rows = np.array([s[0] for s in shapes])
    cols = np.array([s[1] for s in shapes])
    tiles = np.array([math.prod(tile_counts(spec, *s)) for s in shapes])
    macs = vectors * rows * cols
    step = float(mvm_time(spec, costs))
    reference, reference_layers = _reference(
        counted, macs, vectors, rows, cols, n, precision, weight_memory
    )
    total = float(energy.sum())
    area = float(tiles.sum() * tile_area(spec, costs))
    return experiment_dataset(
        {
            "energy": (("layer", "component"), energy),
            "energy_per_inference": total,
            "latency": float(np.sum(vectors * step)),
            "throughput": 1.0 / float(np.max(vectors * step)),
            "area": area,
            "chips_needed": int(-(-int(tiles.sum()) // costs.tiles_per_chip)),
            "tops_per_watt": 2 * float(macs.sum()) / total / 1e12,
            "reference_energy": ("reference_component", reference),
            "reference_layer_energy": ("layer", reference_layers),
            "digital_reference": float(reference.sum()),
            "digital_ratio": float(reference.sum()) / total,
            "vectors": ("layer", np.append(vectors, 0.0)),
            "macs": ("layer", np.append(macs, 0.0)),
            "tiles": ("layer", np.append(tiles, 0)),
            "rows": ("layer", np.append(rows, 0)),
            "cols": ("layer", np.append(cols, 0)),
            "digital_macs": counted.digital_macs,
            "digital_ops": counted.digital_ops,
        },
        {
            "layer": [*layers, "digital"],
            "component": list(COMPONENTS),
            "reference_component": list(REFERENCE_COMPONENTS),
        },
        labels=LABELS,
        spec=spec,
        experiment="cost",
        cost_model=costs.name,
        cost_model_source=costs.source,
        node_nm=costs.node_nm,
        phases=costs.phases,
        batch=n,
        t=float(t),
        method=method,
        precision=precision,
        weight_memory=weight_memory,
        components=dict(COMPONENTS),
        reference_components=dict(REFERENCE_COMPONENTS),
    )


def read_time(spec: HardwareSpec, costs: CostModel) -> Any:
    """One phase's read window, s: under PWM it doubles with each input bit beyond the cost
    model's reference (an ideal DAC is taken at the reference)."""
    if spec.input_encoding != "pwm" or spec.dac_bits is None:
        return costs.read_time
    return costs.read_time * 2.0 ** (spec.dac_bits - costs.reference_bits)


def mvm_time(spec: HardwareSpec, costs: CostModel) -> Any:
    """One input vector through one tile, every phase, s."""
    return costs.phases * (read_time(spec, costs) + costs.readout_time)


def tile_area(spec: HardwareSpec, costs: CostModel) -> Any:
    """One tile of the spec's size with its converters, mm^2: the array part scaled by
    rows x columns, the converters by columns, from the cost model's tile."""
    cells = spec.tile_rows * spec.tile_cols / (costs.tile_rows * costs.tile_cols)
    columns = spec.tile_cols / costs.tile_cols
    return costs.tile_area * (costs.array_fraction * cells + (1 - costs.array_fraction) * columns)


def layer_energy(
    spec: HardwareSpec, costs: CostModel, shape: tuple[int, int], vectors: Any, load: Any
) -> dict[str, Any]:
    """One analog weight of `shape` (rows, cols): its energy by component, J, for `vectors`
    input vectors that put `load` on its crossbars (uS, `array_load`)."""
    rows, cols = shape
    row_tiles, col_tiles = tile_counts(spec, rows, cols)
    adc_bits = spec.adc_bits if spec.adc_bits is not None else costs.reference_bits
    dac_bits = spec.dac_bits if spec.dac_bits is not None else costs.reference_bits
    volts = spec.read_voltage
    # each output: the weight scale and bias, times the input scale back under abs_max, and
    # the drift-compensation factor; each input: its share of the abs-max search and scaling
    per_output = 2 + (spec.noise_management == "abs_max") + spec.drift_compensation
    per_input = 2 * (spec.noise_management == "abs_max")
    ops = cols * per_output + rows * per_input + (row_tiles - 1) * cols
    bits = rows * dac_bits + cols * _OUTPUT_BITS + (row_tiles - 1) * cols * _OUTPUT_BITS
    return {
        "array": volts**2 * read_time(spec, costs) * 1e-6 * load,
        "dac": costs.dac_energy * vectors * rows * col_tiles,
        "adc": costs.adc_step_energy * 2.0**adc_bits * vectors * cols * row_tiles * costs.phases,
        "control": costs.control_power
        * tile_area(spec, costs)
        / costs.tile_area
        * mvm_time(spec, costs)
        * vectors
        * row_tiles
        * col_tiles,
        "periphery": costs.op_energy * vectors * ops,
        "memory": costs.sram_bit_energy * vectors * bits,
        "digital": 0.0,
    }


def _reference(counted, macs, vectors, rows, cols, n, precision, weight_memory):
    """The digital reference's energy per inference by component and by layer, J."""
    d = digital_costs(precision, weight_memory)
    mac = macs * d.mac
    weights = rows * cols * d.bits * d.weight_bit / n
    activations = vectors * (rows + cols) * d.bits * d.sram_bit
    rest = counted.digital_ops * d.op + counted.digital_macs * d.mac
    by_component = np.array([mac.sum(), weights.sum(), activations.sum(), rest])
    by_layer = np.append(mac + weights + activations, rest)
    return by_component, by_layer
