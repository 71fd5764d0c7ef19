"""One weight-transfer run of a user's model: chip A at each variation value, the targets, the
results so far, and what every strategy shares (accuracy, teaching, recording).

Keys (all from `root_key(seed)`): A is `stream(root, "source")` and target i is
`chip_key(stream(root, "target"), i)` at every variation value, as in the built-in
experiment; a weight's devices on either come from `weight_key(chip key, path)` as
`to_analog` draws them. The digital model trains from `stream(root, "transfer", 5)`, the
hardware-aware weights at variation value v from `stream(root, "transfer", 4, v)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array

from ..._chip.spec import HardwareSpec
from ..._core.dataset import experiment_dataset
from ..._core.keys import chip_key, root_key, stream
from ..._fleet.model_fleet import converted_accuracy_jit, test_batches
from ..._learn.distill import soft_targets
from ..._learn.fit_in_situ import Taught, chip_loss, teach_in_situ
from ..._learn.model_in_situ import with_model_fast_arrays, without_model_fast_arrays
from ..._learn.train_model import hardware_aware_model_loss
from ..._model.convert import analog_call, analog_weights, to_analog
from ..._model.products import read_vectors
from ..._nn.data import Dataset
from ..._nn.fit_model import fit_model
from ..run import COSTS
from ..strategies.hardware_aware import deploy_spec
from .copy import measure_conductances, measure_weights
from .settings import ModelTransferSettings

TEACHERS = ("distill", "finetune")  # the strategies whose accuracy is followed as they teach


class ModelStrategy(NamedTuple):
    """One way of moving what chip A learned, for a converted model: `run(run, at, i)` fills
    target chip i's results at one variation value."""

    run: Callable[[ModelRun, ModelTargets, int], None]


@dataclasses.dataclass
class ModelTargets:
    """Chip A trained and measured at one variation value, and what the targets share.

    Attributes:
        vi: index of the variation value; spec: the in-situ spec at it; deploy: the spec
            hardware-aware weights are programmed with at it.
        hardware_aware: the hardware-aware weights (a digital model) trained for it.
        chip_a: A after in-situ training; g, g_cycles / w, w_cycles: its conductances and
            effective weights as measured, per analog weight, and the read cycles spent.
        soft: A's soft targets (`soft_targets` at the temperature) on the distillation
            inputs, (distill_examples, classes).
    """

    vi: int
    spec: HardwareSpec
    deploy: HardwareSpec
    hardware_aware: Any
    chip_a: Any
    g: list[Array]
    g_cycles: Array
    w: list[Array]
    w_cycles: Array
    soft: Array


class ModelRun:
    """One transfer experiment on a converted model: its data, keys, and results so far."""

    def __init__(
        self,
        spec: HardwareSpec,
        model: Any,
        data: Dataset,
        *,
        name: str,
        chips: int,
        variation: tuple[float, ...],
        strategies: tuple[str, ...],
        seed: int,
        settings: ModelTransferSettings,
        schedule: dict[str, Any],
        trained: Any = None,
        bar: Any = None,
    ) -> None:
        self.spec, self.model, self.data, self.name = spec, model, data, name
        self.chips, self.variation, self.strategies, self.seed = chips, variation, strategies, seed
        self.settings, self.schedule, self.bar = settings, schedule, bar
        self.root = root_key(seed)
        self.key_a = stream(self.root, "source")
        self.keys_b = [chip_key(stream(self.root, "target"), i) for i in range(chips)]
        self.x_test, self.y_test, self.per_read = test_batches(data, settings.eval_batch_size)
        self.digital = trained
        teachers = tuple(s for s in TEACHERS if s in strategies)
        self.teachers = teachers
        shape = (len(variation), len(strategies), chips)
        self.target = np.full(shape, np.nan, np.float32)
        self.strategy_source = np.full(shape[:2], np.nan, np.float32)
        self.source = np.full(len(variation), np.nan, np.float32)
        self.source_start = np.full(len(variation), np.nan, np.float32)
        self.source_moved = np.full(len(variation), np.nan, np.float32)
        self.source_pulses = np.zeros(len(variation), np.int64)
        self.entropy = np.full(len(variation), np.nan, np.float32)
        self.costs = {name: np.zeros(shape, np.int64) for name in COSTS}
        self.curve = np.full(
            (len(variation), len(teachers), settings.curve_points, chips), np.nan, np.float32
        )
        self.curve_examples = np.zeros((len(teachers), settings.curve_points), np.int64)
        self.memo: dict[Any, Any] = {}  # what strategies compute once for the whole run
        self.per_target: dict[str, Any] = {}  # ... and once for the target in hand
        self.model_chip: Any = None  # a converted model, for what every chip holds
        n = data.x_train.shape[0]
        pick = jax.random.permutation(stream(self.root, "transfer", 3, 0), n)
        self.finetune_pick = np.asarray(pick)[: settings.finetune_examples]

    # --- the models every value shares -----------------------------------------------------

    def digital_model(self) -> Any:
        """The model trained digitally (`fit_model`, its schedule), once; or the one given."""
        if self.digital is None:
            self.digital, _ = fit_model(
                self.model, self.data, key=stream(self.root, "transfer", 5), **self.schedule
            )
        return self.digital

    def hardware_aware_model(self, vi: int, deploy: HardwareSpec) -> Any:
        """The digital model trained further through fresh chips at variation value `vi`
        (AdamW at 1e-3, batch 32, on the first `hardware_aware_examples` examples)."""
        s = self.settings
        loss = jax.tree_util.Partial(hardware_aware_model_loss, deploy, jnp.float32(1.0))
        n = s.hardware_aware_examples
        data = dataclasses.replace(self.data, x_train=self.data.x_train[:n],
                                   y_train=self.data.y_train[:n])  # fmt: skip
        model, _ = fit_model(
            self.digital_model(), data, loss, key=stream(self.root, "transfer", 4, vi),
            epochs=s.hardware_aware_epochs, batch_size=32, learning_rate=1e-3,
        )  # fmt: skip
        return model

    # --- chip A and the targets at one variation value -------------------------------------

    def accuracy(self, chip: Any, key: Array) -> float:
        """Test accuracy of converted model `chip` (chip key `key`) read 1 s after programming."""
        times = jnp.ones(1, jnp.float32)
        return float(
            converted_accuracy_jit(
                chip, times, self.x_test, self.y_test, key=key, batch_size=self.per_read
            )[0]
        )

    def targets(self, vi: int) -> ModelTargets:
        """Train chip A at variation value `vi` and measure it."""
        s = self.settings
        v = jnp.float32(self.variation[vi])
        spec = dataclasses.replace(self.spec, variation=v)
        deploy = deploy_spec(self.spec, v)
        hardware_aware = self.hardware_aware_model(vi, deploy)
        self.bar.update(1)
        start = to_analog(
            hardware_aware, spec, key=self.key_a, method="in-situ", headroom=s.headroom
        )
        self.source_start[vi] = self.accuracy(start, self.key_a)
        n = s.source_examples
        taught = self.teach(
            self.with_fast_arrays(start, self.key_a), self.data.x_train[:n],
            self.data.y_train[:n], key=stream(self.key_a, "train"), epochs=s.epochs,
            batch_size=s.batch_size, desc="chip A learns",
        )  # fmt: skip
        chip_a = self.model_chip = without_model_fast_arrays(taught.chip)
        self.source[vi] = self.accuracy(chip_a, self.key_a)
        self.source_moved[vi] = weight_change(start, chip_a)
        self.source_pulses[vi] = taught.pulses
        g, g_cycles = measure_conductances(
            chip_a, key=stream(self.key_a, "transfer", 0), reads=s.reads
        )
        w, w_cycles = measure_weights(
            chip_a, key=stream(self.key_a, "transfer", 1), probes=s.probes
        )
        x = jnp.asarray(self.data.x_train[: s.distill_examples])
        logits = outputs(chip_a, x, key=stream(self.key_a, "transfer", 2), batch=s.eval_batch_size)
        soft = soft_targets(logits, jnp.float32(s.temperature))
        self.entropy[vi] = float(-jnp.mean(jnp.sum(soft * jnp.log2(jnp.maximum(soft, 1e-30)), -1)))
        return ModelTargets(
            vi, spec, deploy, hardware_aware, chip_a, g, g_cycles, w, w_cycles, soft
        )

    def with_fast_arrays(self, chip: Any, key: Array) -> Any:
        """Converted model `chip` (chip `key`) ready to learn by the run's algorithm: with
        the fast arrays of a Tiki-Taka one (`with_model_fast_arrays`, drawn at the
        variation of the chip's own weights), as it is for plain SGD."""
        algorithm = self.settings.algorithm
        return with_model_fast_arrays(chip, algorithm, key=key) if algorithm.tiki_taka else chip

    def teach(self, chip: Any, x: Any, y: Any, *, loss: Any = chip_loss, **kwargs: Any) -> Taught:
        """`teach_in_situ` at the run's learning rate and by its algorithm (the chip carries
        its fast arrays: `with_fast_arrays`), advancing the bar by epochs."""
        return teach_in_situ(
            chip, x, y, loss=loss, learning_rate=self.settings.learning_rate,
            algorithm=self.settings.algorithm, on_epoch=lambda: self.bar.update(1), **kwargs,
        )  # fmt: skip

    def read_cycles_per_example(self, chip: Any) -> int:
        """Read cycles one example's forward costs on `chip` (both arrays of each pair)."""
        if "reads" not in self.memo:
            vectors = read_vectors(chip, jnp.asarray(self.data.x_train[0]))
            self.memo["reads"] = 2 * sum(vectors.values())
        return self.memo["reads"]

    # --- results -----------------------------------------------------------------------------

    def record(self, vi: int, name: str, i: int, accuracy: float, source: float, **costs) -> None:
        """Target chip i's accuracy after strategy `name`, what it copied from, and its costs."""
        si = self.strategies.index(name)
        self.target[vi, si, i] = accuracy
        self.strategy_source[vi, si] = source
        for cost, value in costs.items():
            self.costs[cost][vi, si, i] += int(value)

    def record_curve(self, vi: int, name: str, i: int, curve: list[tuple[int, float]]) -> None:
        """The accuracy of target i as teacher `name` taught it, at its checkpoints."""
        ti = self.teachers.index(name)
        for p, (examples, accuracy) in enumerate(curve):
            self.curve[vi, ti, p, i] = accuracy
            self.curve_examples[ti, p] = examples

    def bits(self, crossbar: int) -> tuple[dict[str, int], np.ndarray]:
        """Information each strategy moves from A to a target, in bits: {strategy: bits}, and
        the teachers' bits at each point of their curves (teacher, point).

        The digital and hardware-aware copies send every float of the model (32 bits); a
        conductance copy every device's read at the ADC's resolution, a weight copy every
        crossbar weight's, each with the model's digital numbers (biases, norms, embeddings,
        each weight's column scales) at 32 bits (`crossbar`: the weights on crossbars).
        Teaching adds to the weight copy it starts
        from: distillation A's outputs on each input (classes x 32 bits a distinct input;
        inputs are shared data, repeated epochs resend nothing), fine-tuning a label
        (log2 classes bits) per distinct example.
        """
        scales = sum(int(w.state.scale.size) for w in analog_weights(self.model_chip))
        params = sum(
            int(np.size(a)) for a in jax.tree.leaves(eqx.filter(self.model, eqx.is_inexact_array))
        )
        digital = (params - crossbar + scales) * 32
        adc = self.spec.adc_bits or 32  # an ideal ADC reads a float
        copy = crossbar * adc + digital
        classes = self.data.classes
        per_example = {"distill": classes * 32, "finetune": float(np.log2(classes))}
        distinct = {"distill": self.settings.distill_examples,
                    "finetune": self.settings.finetune_examples}  # fmt: skip
        bits = {
            "conductances": 2 * crossbar * adc + digital,
            "weights": copy,
            "hardware-aware": params * 32,
            "digital": params * 32,
        }
        taught = np.zeros(self.curve_examples.shape, np.float64)
        for ti, name in enumerate(self.teachers):
            sent = np.minimum(self.curve_examples[ti], distinct[name])
            taught[ti] = copy + sent * per_example[name]
            bits[name] = int(taught[ti, -1])
        return {s: int(bits[s]) for s in self.strategies}, taught

    def dataset(self, attrs: dict[str, Any]) -> xr.Dataset:
        dims = ("variation", "strategy", "chip")
        loss = self.strategy_source[:, :, None] - self.target
        weights = sum(int(np.prod(w.weight_shape)) for w in analog_weights(self.model_chip))
        bits, taught_bits = self.bits(weights)
        curve_dims = ("variation", "teacher", "point", "chip")
        return experiment_dataset(
            {
                "source_accuracy": (("variation",), self.source),
                "source_start_accuracy": (("variation",), self.source_start),
                "source_weight_change": (("variation",), self.source_moved),
                "source_pulses": (("variation",), self.source_pulses),
                "strategy_source_accuracy": (dims[:2], self.strategy_source),
                "target_accuracy": (dims, self.target),
                "transfer_loss": (dims, loss),
                **{name: (dims, value) for name, value in self.costs.items()},
                "taught_accuracy": (curve_dims, self.curve),
                "examples_taught": (("teacher", "point"), self.curve_examples),
                "bits_moved": (("strategy",), np.array([bits[k] for k in self.strategies], float)),
                "taught_bits": (("teacher", "point"), taught_bits),
                "teacher_entropy_bits": (("variation",), self.entropy),
            },
            {
                "variation": np.asarray(self.variation, np.float32),
                "strategy": list(self.strategies),
                "chip": np.arange(self.chips, dtype=np.int32),
                "teacher": list(self.teachers),
                "point": np.arange(self.settings.curve_points, dtype=np.int32),
            },
            labels=model_transfer_labels(self.data.name),
            spec=self.spec,
            experiment="transfer",
            network=self.name,
            dataset=self.data.name,
            seed=self.seed,
            chips=self.chips,
            analog_weights=weights,
            classes=self.data.classes,
            **self.settings.attrs(),
            **attrs,
        )


def weight_change(start: Any, end: Any) -> float:
    """How far training moved a chip's weights: |held(end) - held(start)| / |held(start)|
    over all analog weights (Frobenius norms of the held weights, `AnalogWeight.held`)."""
    a = [w.held() for w in analog_weights(start)]
    b = [w.held() for w in analog_weights(end)]
    moved = sum(float(jnp.sum((y - x) ** 2)) for x, y in zip(a, b, strict=True))
    size = sum(float(jnp.sum(x**2)) for x in a)
    return float(np.sqrt(moved / size))


@eqx.filter_jit
def _outputs(chip: Any, x: Array, key: Array) -> Array:
    return analog_call(chip, x, t=1.0, key=key, in_axes=0)


def outputs(chip: Any, x: Array, *, key: Array, batch: int) -> Array:
    """`chip`'s outputs (logits) on `x`, read 1 s after programming, `batch` examples a read
    (read b from `fold_in(key, b)`)."""
    parts = [
        _outputs(chip, x[s : s + batch], jax.random.fold_in(key, b))
        for b, s in enumerate(range(0, x.shape[0], batch))
    ]
    return jnp.concatenate(parts)


def model_transfer_labels(dataset: str) -> dict[str, tuple[str, str]]:
    """Units and long names of the model transfer experiment's variables."""
    from ..run import transfer_labels

    return {
        **transfer_labels(dataset),
        "source_start_accuracy": (
            "1",
            f"chip A right after programming, test accuracy on {dataset}",
        ),
        "source_weight_change": ("1", "relative change of chip A's weights by in-situ training"),
        "source_pulses": ("1", "update pulses chip A's in-situ training fired"),
        "taught_accuracy": ("1", f"target chip test accuracy on {dataset} while being taught"),
        "examples_taught": ("1", "examples taught to the target when measured"),
        "bits_moved": ("bit", "information each strategy moves from chip A to a target"),
        "taught_bits": ("bit", "information moved when the teaching curve was measured"),
        "teacher_entropy_bits": ("bit", "mean entropy of chip A's soft targets per input"),
    }
