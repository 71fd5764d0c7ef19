"""The settings of one weight-transfer run of a user's model, as one frozen object."""

from __future__ import annotations

import dataclasses

from device_models._checks import check_int_range, check_range

from ..settings import TransferSettings


@dataclasses.dataclass(frozen=True)
class ModelTransferSettings(TransferSettings):
    """How `transfer_model` trains chip A and runs each strategy on a converted model.

    The fields of `TransferSettings`, with defaults for the shipped transformer, chosen on a
    validation split held out of the training data (`docs/transfer.md`), and:

    Attributes:
        epochs, learning_rate, batch_size: chip A's in-situ training (plain SGD fired as
            pulses, `fit_model_in_situ`) on `source_examples` training examples; the same
            rate and batch for `finetune`.
        distill_epochs, distill_examples, distill_batch_size, temperature: distillation on
            the first `distill_examples` training inputs, SGD at `learning_rate`.
        hardware_aware_epochs, hardware_aware_examples: AdamW epochs (rate 1e-3, batch 32)
            of hardware-aware training from the digital weights, on that many examples.
        headroom: chip A's in-situ mapping (`to_analog(..., method="in-situ")`): each
            weight's digital scale is `headroom` x max|w| of the weights written.
        curve_points: how many times the teaching strategies are measured while they teach
            (log-spaced in examples taught, the last at the end), for the bandwidth figure.
        eval_batch_size: test examples per read of a chip.
    """

    epochs: int = 1
    learning_rate: float = 0.05
    batch_size: int = 16
    distill_epochs: int = 1
    distill_examples: int | None = 2000
    distill_batch_size: int = 16
    finetune_examples: int = 500
    finetune_epochs: int = 1
    hardware_aware_epochs: int = 1
    hardware_aware_examples: int | None = 4000
    source_examples: int | None = 4000
    headroom: float = 1.25
    curve_points: int = 6
    eval_batch_size: int = 500

    def check(self) -> None:
        super().check()
        check_range("headroom", self.headroom, 1.0)
        check_int_range("curve_points", self.curve_points, 1, 1000)
        check_int_range("eval_batch_size", self.eval_batch_size, 1, 1 << 20)
        for name in ("source_examples", "hardware_aware_examples"):
            if getattr(self, name) is not None:
                check_int_range(name, getattr(self, name), 1, 1 << 40)

    def for_examples(self, train_examples: int) -> ModelTransferSettings:
        """These settings for a training set of `train_examples`: every example budget
        (None: all of them) cut to the training set, so the defaults suit a small task."""
        budgets = ("distill_examples", "finetune_examples", "source_examples",
                   "hardware_aware_examples")  # fmt: skip
        resolved = {}
        for name in budgets:
            n = getattr(self, name)
            resolved[name] = train_examples if n is None else min(n, train_examples)
        return TransferSettings.for_examples(dataclasses.replace(self, **resolved), train_examples)
