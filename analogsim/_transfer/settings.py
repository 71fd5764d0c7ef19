"""The settings of one weight-transfer run, as one frozen object."""

from __future__ import annotations

import dataclasses
from typing import Literal

from device_models._checks import ParameterError, check_int_range, check_range

from .._learn.algorithms import SGD, Algorithm, algorithm_attrs


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    """How `transfer` trains the source chip and runs each strategy.

    Attributes:
        epochs, learning_rate, batch_size: in-situ training of the source (plain SGD), and
            the learning rate and batch of the strategies that train targets in situ.
        distill_start: "weights" (the `weights` copy) or "scratch" (the source's starting
            weights, programmed as published) as the distillation student's start.
        distill_epochs, distill_examples, distill_batch_size, temperature: distillation on
            the first `distill_examples` training inputs (None: all of them), no labels, soft
            targets at `temperature` from one read of the source. Its batches are larger than
            training's: a step's cost is mostly the pulses, whatever the batch.
        finetune_examples, finetune_epochs: the labelled budget after the `weights` copy.
        hardware_aware_epochs: Adam epochs of hardware-aware training (a fresh chip per batch).
        reads, probes: source reads averaged per conductance; probe batches per weight
            measurement.
        algorithm: how the source and the targets taught in situ (`distill`, `finetune`)
            learn: plain pulsed SGD or a Tiki-Taka algorithm (`get_algorithm`).
    """

    epochs: int = 10
    learning_rate: float = 0.2
    batch_size: int = 16
    distill_start: Literal["weights", "scratch"] = "weights"
    distill_epochs: int = 2
    distill_examples: int | None = None
    distill_batch_size: int = 64
    temperature: float = 2.0
    finetune_examples: int = 100
    finetune_epochs: int = 5
    hardware_aware_epochs: int = 20
    reads: int = 4
    probes: int = 8
    algorithm: Algorithm = SGD

    def check(self) -> None:
        """Raise `ParameterError` naming the first setting out of its range (the example
        budgets are checked against the data by `for_examples`)."""
        check_int_range("epochs", self.epochs, 1, 10**6)
        check_int_range("batch_size", self.batch_size, 1, 1 << 20)
        check_int_range("distill_epochs", self.distill_epochs, 1, 10**6)
        check_int_range("finetune_epochs", self.finetune_epochs, 1, 10**6)
        check_int_range("hardware_aware_epochs", self.hardware_aware_epochs, 1, 10**6)
        check_int_range("distill_batch_size", self.distill_batch_size, 1, 1 << 20)
        check_int_range("reads", self.reads, 1, 1 << 10)
        check_int_range("probes", self.probes, 1, 1 << 10)
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_range("temperature", self.temperature, 0.0, low_open=True)
        if self.distill_start not in ("weights", "scratch"):
            raise ParameterError(
                f"distill_start must be 'weights' or 'scratch'; got {self.distill_start!r}"
            )

    def for_examples(self, train_examples: int) -> TransferSettings:
        """These settings for a training set of `train_examples`: the example budgets checked
        against it, and `distill_examples` None resolved to all of them."""
        check_int_range("finetune_examples", self.finetune_examples, 1, train_examples)
        distill = train_examples if self.distill_examples is None else self.distill_examples
        check_int_range("distill_examples", distill, 1, train_examples)
        return dataclasses.replace(self, distill_examples=distill)

    def attrs(self) -> dict[str, object]:
        """These settings as dataset attributes: every field, the algorithm as its name and
        the settings it uses (`algorithm_attrs`)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del fields["algorithm"]
        return {**fields, **algorithm_attrs(self.algorithm)}

    def replace(self, **changes: object) -> TransferSettings:
        """A copy with `changes`; an unknown name raises TypeError listing the known ones."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(self))
            raise TypeError(f"unknown transfer setting {unknown[0]!r}; known: {known}")
        return dataclasses.replace(self, **changes)
