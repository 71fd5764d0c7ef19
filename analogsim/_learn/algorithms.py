"""The in-situ learning algorithms: plain pulsed SGD and the Tiki-Taka family, and their settings.

- `sgd`: the desired change is fired straight at the weights' devices (Gokmen & Vlasov,
  Front. Neurosci. 2016).
- `ttv2`: Tiki-Taka v2 (Gokmen & Haensch, Front. Neurosci. 2020; the digital buffer of
  Gokmen, Front. Artif. Intell. 2021): the gradient is fired at a second, "fast" array A
  read against a reference at each device's symmetry point; its rows are read one at a time
  through the chip's own read-out into a digital buffer H, and when |H| reaches one pulse of
  the weights' array C, that pulse is fired there.
- `c-ttv2`: chopped TTv2 (Rasch et al., Nat. Commun. 15:7133, 2024): each input row's
  gradient onto A is multiplied by a chopper sign that flips at random, and the read is
  multiplied by it again, so an offset of A's reference averages out of H.
- `agad`: analog gradient accumulation with dynamic reference (Rasch et al. 2024): choppers
  flip at a fixed period and A is read against the running mean of its reads in the previous
  chopper period instead of a reference device, so no symmetry point need be programmed.

Settings follow aihwkit's `ChoppedTransferCompound` and `DynamicTransferCompound` (and their
ReRamES presets' values) in this package's units: desired changes in weight units, H in
pulses of C.
"""

from __future__ import annotations

import difflib

import equinox as eqx
import jax
import numpy as np
from jaxtyping import ArrayLike

from device_models import PULSE_PRESETS, get_pulse_response
from device_models._checks import (
    ParameterError,
    check_int_range,
    check_nonnegative,
    check_range,
)

from .._chip.spec import HardwareSpec

ALGORITHMS: tuple[str, ...] = ("sgd", "ttv2", "c-ttv2", "agad")
TIKI_TAKA: tuple[str, ...] = ("ttv2", "c-ttv2", "agad")

# The chopper's flip probability per read of a row (c-ttv2: aihwkit's ChoppedTTv2ReRamESPreset),
# or one over its period in passes (agad: aihwkit's DynamicTransferCompound default; its
# ReRamES preset's 0.02, a period of 50 passes, outlasts a 10-epoch digits run before the
# first write).
_CHOP_PROB = {"sgd": 0.0, "ttv2": 0.0, "c-ttv2": 0.01, "agad": 0.1}


def _number(value: ArrayLike) -> ArrayLike:
    """A setting held as a float32 array (a traced value under `jit`, where a Python float
    would be a static one, compiled into the program); traced values pass as they are."""
    return value if isinstance(value, jax.Array) else np.asarray(value, np.float32)


class Algorithm(eqx.Module):
    """An in-situ learning algorithm and its settings (numbers traced, so a sweep over them
    compiles once).

    Attributes:
        name: one of `ALGORITHMS` (static).
        fast_lr: the fast array's desired change per step is `fast_lr` x chopper x the
            optimizer's desired weight change (Tiki-Taka only).
        transfer_lr: each read of a fast-array row adds `transfer_lr` x (read, weight units)
            / (one nominal pulse of the weights' array, weight units) to the buffer H.
        chop_prob: c-ttv2: each row's chopper flips with this probability after its read;
            agad: the choppers flip every max(ceil(1 / chop_prob), 2) passes over the rows.
        tail: agad's running mean weights its recent reads by min(tail / period, 1)
            (aihwkit's `tail_weightening`).
        reference_offset: ttv2 and c-ttv2: the spread (standard deviation, in w units of
            the pulse response, whose nominal range is about 2) of where each fast device's
            reference lands around its symmetry point: the paper's sigma_r.
        transfer_every: examples (matrix-vector products) per row read (static): a step of
            a batch of B reads max(B // transfer_every, 1) rows of each fast array.
        max_transfer_pulses: the most pulses one transfer fires at a device (static).

    The defaults of `fast_lr`, `transfer_lr` and `max_transfer_pulses` (aihwkit transfers one
    pulse at most) were chosen on the digits MLP on reram_es in 3 epochs (docs: in-situ
    learning algorithms); they are not the papers'.
    """

    name: str = eqx.field(default="sgd", static=True)
    fast_lr: ArrayLike = eqx.field(default=5.0, converter=_number)
    transfer_lr: ArrayLike = eqx.field(default=0.01, converter=_number)
    chop_prob: ArrayLike = eqx.field(default=0.0, converter=_number)
    tail: ArrayLike = eqx.field(default=5.0, converter=_number)
    reference_offset: ArrayLike = eqx.field(default=0.0, converter=_number)
    transfer_every: int = eqx.field(default=1, static=True)
    max_transfer_pulses: int = eqx.field(default=8, static=True)

    def __check_init__(self) -> None:
        if self.name not in ALGORITHMS:
            raise ParameterError(_unknown(self.name))
        check_range("fast_lr", self.fast_lr, 0.0, low_open=True)
        check_range("transfer_lr", self.transfer_lr, 0.0, low_open=True)
        check_range("chop_prob", self.chop_prob, 0.0, 1.0)
        if self.name == "agad":
            check_range("chop_prob", self.chop_prob, 0.0, 1.0, low_open=True)
        check_range("tail", self.tail, 0.0, low_open=True)
        check_nonnegative("reference_offset", self.reference_offset)
        check_int_range("transfer_every", self.transfer_every, 1, 1 << 20)
        check_int_range("max_transfer_pulses", self.max_transfer_pulses, 1, 1000)

    @property
    def tiki_taka(self) -> bool:
        """Whether the algorithm learns through a fast array."""
        return self.name in TIKI_TAKA


SGD = Algorithm()


def get_algorithm(name: str, **settings: object) -> Algorithm:
    """The algorithm `name` with its default settings (`_CHOP_PROB` says where the chopper's
    come from), `settings` overriding them (None: the default). An unknown name lists the
    known ones; a setting the algorithm has no use for is refused, not ignored."""
    if name not in ALGORITHMS:
        raise ParameterError(_unknown(name))
    settings = {k: v for k, v in settings.items() if v is not None}
    unused = sorted(set(settings) & _UNUSED[name])
    if unused:
        users = [a for a in TIKI_TAKA if unused[0] not in _UNUSED[a]]
        raise ParameterError(
            f"algorithm {name!r} has no use for {unused[0]}; it is a setting of {', '.join(users)}"
        )
    settings.setdefault("chop_prob", _CHOP_PROB[name])
    return Algorithm(name=name, **settings)


_TIKI_TAKA_SETTINGS = {
    "fast_lr", "transfer_lr", "chop_prob", "tail", "reference_offset", "transfer_every",
    "max_transfer_pulses",
}  # fmt: skip
# what each algorithm does not read: ttv2 has no choppers, agad no reference device
_UNUSED = {
    "sgd": _TIKI_TAKA_SETTINGS,
    "ttv2": {"chop_prob", "tail"},
    "c-ttv2": {"tail"},
    "agad": {"reference_offset"},
}


def algorithm_attrs(algorithm: Algorithm) -> dict[str, object]:
    """Dataset attributes recording `algorithm`: its name, and its settings when it is of the
    Tiki-Taka family."""
    if not algorithm.tiki_taka:
        return {"algorithm": algorithm.name}
    names = [n for n in sorted(_TIKI_TAKA_SETTINGS) if n not in _UNUSED[algorithm.name]]
    settings = {f"algorithm_{n}": float(getattr(algorithm, n)) for n in names}
    return {"algorithm": algorithm.name, **settings}


def _unknown(name: str) -> str:
    near = difflib.get_close_matches(str(name), ALGORITHMS, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"unknown algorithm {name!r}{hint}; the algorithms are {', '.join(ALGORITHMS)}"


def algorithm_presets(name: str) -> list[str]:
    """The pulsed presets algorithm `name` applies to: all of them for sgd; the Tiki-Taka
    family needs devices that move both ways (not one-way PCM)."""
    if name not in TIKI_TAKA:
        return sorted(PULSE_PRESETS)
    return sorted(n for n in PULSE_PRESETS if not get_pulse_response(n).unidirectional)


def check_algorithm(spec: HardwareSpec, algorithm: Algorithm) -> None:
    """Raise `ParameterError` when `algorithm` cannot run on `spec`'s devices, naming the
    presets it applies to."""
    response = spec.pulse_response
    if not algorithm.tiki_taka:
        return
    if response is None or response.unidirectional:
        what = "no pulse response" if response is None else "one-way devices"
        device = spec.device.name if response is None else response.name
        raise ParameterError(
            f"algorithm {algorithm.name!r} does not apply to device {device!r} ({what}); "
            f"it applies to {', '.join(algorithm_presets(algorithm.name))}"
        )
    if spec.pulse_update != "stochastic":
        raise ParameterError(
            f"algorithm {algorithm.name!r} fires its fast array by stochastic rounding and "
            "its slow array from its own buffer; it does not combine with "
            f"pulse_update={spec.pulse_update!r}"
        )
