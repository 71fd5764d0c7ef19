"""The weight-transfer experiment: what chip A learned, moved to chips B1..BN by each strategy.

A learns in situ; its knowledge is then moved by measurement (`conductances`, `weights`), by
teaching (`distill`, `finetune`), or the network is trained off-chip for any chip
(`hardware-aware`); the `digital` control copies float weights bit for bit. Every target
accuracy comes out of the chip model; nothing here assumes a loss.

Keys (all from `root_key(seed)`): A is `stream(root, "source")`; target i is
`chip_key(stream(root, "target"), i)` at every variation value (the same silicon with its
spreads scaled, which makes the curves over variation smooth); each strategy's writes,
updates and shuffles take their own `"transfer"` sub-stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import Mesh
from jaxtyping import Array

from device_models._checks import ParameterError, check_int_range, check_range

from .._chip.presets import hardware_table
from .._chip.spec import HardwareSpec, traced
from .._chip.state import ChipState
from .._core.keys import chip_key, root_key, stream
from .._core.progress import progress_bar
from .._core.provenance import provenance_attrs
from .._fleet.fleet import take
from .._fleet.mesh import chip_mesh, to_host
from .._learn.distill import distill_loss, soft_targets
from .._learn.hardware_aware import train_hardware_aware_sweep
from .._learn.in_situ import check_in_situ_spec
from .._learn.in_situ_fleet import fleet_state_accuracy, init_fleet, train_fleet
from .._learn.saved_state import SavedChip
from .._nn.data import Dataset
from .._nn.digital import accuracy, cross_entropy, train_digital
from .._nn.networks import Network, apply_digital, init_params
from .copy import verify_read_cycles
from .fleet import (
    draw_fleet,
    fleet_program,
    fleet_write_conductances,
    fleet_write_weights,
    measure_source,
)

STRATEGIES = ("conductances", "weights", "distill", "finetune", "hardware-aware", "digital")
DEFAULT_VARIATION = (0.0, 0.5, 1.0, 2.0, 4.0)
COSTS = {
    "read_cycles": "array read cycles (one input vector on one array), source and target",
    "device_writes": "device program operations (writes and rewrites)",
    "update_pulses": "in-situ update pulses fired on the target",
    "examples": "training examples run through the target",
    "labels": "labelled examples used",
}


def check_strategies(strategies: Sequence[str]) -> tuple[str, ...]:
    """The strategies, validated (unknown names raise, listing the valid ones)."""
    strategies = tuple(strategies)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ParameterError(
            f"unknown strategy {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid: {', '.join(STRATEGIES)}"
        )
    return tuple(dict.fromkeys(strategies))


def transfer(
    spec: HardwareSpec,
    net: Network,
    data: Dataset,
    *,
    chips: int = 32,
    variation: Sequence[float] = DEFAULT_VARIATION,
    strategies: Sequence[str] = STRATEGIES,
    seed: int = 0,
    epochs: int = 10,
    learning_rate: float = 0.2,
    batch_size: int = 16,
    distill_start: str = "weights",
    distill_epochs: int = 2,
    distill_examples: int | None = None,
    distill_batch_size: int = 64,
    temperature: float = 2.0,
    finetune_examples: int = 100,
    finetune_epochs: int = 5,
    hardware_aware_epochs: int = 20,
    reads: int = 4,
    probes: int = 8,
    progress: bool = False,
    bar: Any = None,
    devices: int | None = None,
    source: SavedChip | None = None,
) -> xr.Dataset:
    """Train a source chip in situ at each variation value and move what it learned to
    `chips` target chips by each strategy.

    Args:
        spec: a pulsed hardware spec (`spec_for`); its own `variation` is replaced by each
            value of `variation` (multipliers on every identity spread, 1 = nominal).
        net, data: the network and task.
        chips: target chips per variation value.
        strategies: any of `STRATEGIES`.
        epochs, learning_rate, batch_size: in-situ training of the source (plain SGD).
        distill_start: "weights" (the `weights` copy) or "scratch" (the source's starting
            weights, written open loop) as the distillation student's start.
        distill_epochs, distill_examples, distill_batch_size, temperature: distillation on
            the first `distill_examples` training inputs (all by default), no labels, soft
            targets at `temperature` from one read of the source. Its batches are larger than
            training's: a step's cost is mostly the pulses, whatever the batch.
        finetune_examples, finetune_epochs: the labelled budget after the `weights` copy.
        hardware_aware_epochs: Adam epochs of hardware-aware training (a fresh chip per batch).
        reads, probes: source reads averaged per conductance; probe batches per weight
            measurement.
        progress: show a progress bar; `bar`, when given, is an open bar (a sweep's) that
            the run advances by `transfer_steps(...)` instead.
        devices: the source fleet (one chip per variation value) and the target chips are
            split over this many devices (all JAX sees by default; `chip_mesh`).
        source: a saved chip (`load_chip`) to move what it learned, in place of training
            chip A in situ: the same chip at every variation value (only the targets' spreads
            scale); its spec and network must be `spec`'s and `net`'s.

    Returns:
        Dataset with `source_accuracy` (variation); `strategy_source_accuracy` (variation,
        strategy), the accuracy of the chip each strategy copies from (A trained in situ;
        A programmed with the hardware-aware weights; the digital network); `target_accuracy`
        and `transfer_loss` = strategy source - target (variation, strategy, chip); the cost
        variables of `COSTS` (variation, strategy, chip); provenance attributes.

    Raises:
        ParameterError: a setting out of range or an unknown strategy.
        TrainingError: in-situ training or distillation went non-finite.
    """
    strategies = check_strategies(strategies)
    check_int_range("chips", chips, 1, 1 << 16)
    variation = tuple(float(v) for v in variation)
    if not variation:
        raise ParameterError("variation needs at least one value")
    for v in variation:
        check_range("variation", v, 0.0)
    check_int_range("epochs", epochs, 1, 10**6)
    check_int_range("distill_epochs", distill_epochs, 1, 10**6)
    check_int_range("finetune_epochs", finetune_epochs, 1, 10**6)
    check_int_range("hardware_aware_epochs", hardware_aware_epochs, 1, 10**6)
    check_int_range("distill_batch_size", distill_batch_size, 1, 1 << 20)
    check_int_range("reads", reads, 1, 1 << 10)
    check_int_range("probes", probes, 1, 1 << 10)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    check_range("temperature", temperature, 0.0, low_open=True)
    if distill_start not in ("weights", "scratch"):
        raise ParameterError(f"distill_start must be 'weights' or 'scratch'; got {distill_start!r}")
    spec = check_in_situ_spec(spec)
    if source is not None:
        check_source(source, spec, net)
    spec = traced(spec)
    data = data.for_network(net)
    n_train = data.x_train.shape[0]
    check_int_range("finetune_examples", finetune_examples, 1, n_train)
    distill_examples = n_train if distill_examples is None else distill_examples
    check_int_range("distill_examples", distill_examples, 1, n_train)

    mesh = chip_mesh(devices)
    run = _Run(spec, net, data, chips, variation, strategies, seed, locals(), mesh)
    run.saved_source = source
    steps = transfer_steps(variation, strategies, epochs, distill_epochs, finetune_epochs)
    if bar is not None:
        return _run(run, bar)
    with progress_bar(total=steps, desc="weight transfer", unit="step", enabled=progress) as own:
        return _run(run, own)


def transfer_steps(
    variation: Sequence[float],
    strategies: Sequence[str],
    epochs: int,
    distill_epochs: int,
    finetune_epochs: int,
) -> int:
    """The progress steps of one `transfer` run: the source's epochs, then per variation
    value one per strategy, or one per epoch for those that train."""
    per = {"distill": distill_epochs, "finetune": finetune_epochs}
    return epochs + len(variation) * sum(per.get(s, 1) for s in strategies)


def _run(run: _Run, bar: Any) -> xr.Dataset:
    run.bar = bar
    s = run.settings
    run.train_sources(s["epochs"], s["learning_rate"], s["batch_size"])
    for vi in range(len(run.variation)):
        run.transfer_at(vi)
    return run.dataset()


class _Run:
    """One transfer experiment's state: sources, results so far, and the shared keys."""

    def __init__(
        self,
        spec: HardwareSpec,
        net: Network,
        data: Dataset,
        chips: int,
        variation: tuple[float, ...],
        strategies: tuple[str, ...],
        seed: int,
        settings: dict[str, Any],
        mesh: Mesh,
    ) -> None:
        self.spec, self.net, self.data = spec, net, data
        self.chips, self.variation, self.strategies, self.seed = chips, variation, strategies, seed
        self.settings = {
            k: settings[k]
            for k in (
                "epochs",
                "learning_rate",
                "batch_size",
                "distill_start",
                "distill_epochs",
                "distill_examples",
                "distill_batch_size",
                "temperature",
                "finetune_examples",
                "finetune_epochs",
                "hardware_aware_epochs",
                "reads",
                "probes",
            )
        }
        self.root = root_key(seed)
        self.params0 = init_params(net, key=stream(self.root, "train", 0))
        self.key_a = stream(self.root, "source")
        self.mesh = mesh  # every fleet program splits its chips over it
        self.keys_b = jax.vmap(lambda i: chip_key(stream(self.root, "target"), i))(
            jnp.arange(chips, dtype=jnp.uint32)
        )
        self.x_test, self.y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
        shape = (len(variation), len(strategies), chips)
        self.target = np.full(shape, np.nan, np.float32)
        self.strategy_source = np.full(shape[:2], np.nan, np.float32)
        self.costs = {name: np.zeros(shape, np.int64) for name in COSTS}
        self.bar: Any = None
        self.saved_source: SavedChip | None = None
        self._digital: tuple[float, np.ndarray] | None = None
        self._hwa: list[dict[str, np.ndarray]] | None = None

    # --- the source chips, one per variation value, trained together ----------------------

    def train_sources(self, epochs: int, learning_rate: float, batch_size: int) -> None:
        if self.saved_source is not None:
            return self._load_source(epochs)
        v = jnp.asarray(self.variation, jnp.float32)
        keys_a = jax.vmap(lambda _: self.key_a)(jnp.arange(len(self.variation)))
        self.chip_a, self.state_a = init_fleet(
            self.spec, self.net, self.params0, keys_a, v, mesh=self.mesh
        )
        x, y = jnp.asarray(self.data.x_train), jnp.asarray(self.data.y_train)
        self.state_a, *_ = train_fleet(
            self.spec,
            self.net,
            self.chip_a,
            self.state_a,
            x,
            y,
            keys_a,
            stream(self.root, "train", 1),
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            what="source training",
            on_epoch=lambda: self.bar.update(1),
            mesh=self.mesh,
        )
        self.source = to_host(self._accuracy(self.chip_a, self.state_a, keys_a))

    def _load_source(self, epochs: int) -> None:
        """The saved chip as every variation value's source (it is one chip, trained once)."""
        saved, n = self.saved_source, len(self.variation)
        copies = lambda tree: jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), tree)
        self.chip_a, self.state_a = copies(saved.identity), copies(saved.state)
        self.key_a = saved.key
        keys_a = jnp.broadcast_to(saved.key, (n,))
        self.bar.update(epochs)  # nothing to train
        self.source = to_host(self._accuracy(self.chip_a, self.state_a, keys_a))

    def _accuracy(
        self, chips: Any, states: ChipState, keys: Array, spec: HardwareSpec | None = None
    ) -> Array:
        """Test accuracy of each chip read 1 s after programming (`spec` defaults to the run's)."""
        spec = self.spec if spec is None else spec
        t = jnp.float32(1.0)
        return fleet_state_accuracy(
            spec, self.net, chips, states, self.x_test, self.y_test, keys, t, mesh=self.mesh
        )

    # --- the strategies at one variation value --------------------------------------------

    def transfer_at(self, vi: int) -> None:
        s = self.settings
        self.vi = vi
        chip_a, state_a = take(self.chip_a, vi), take(self.state_a, vi)
        x = jnp.asarray(self.data.x_train[: s["distill_examples"]])
        g, g_cycles, w, w_cycles, logits = measure_source(
            self.spec,
            self.net,
            chip_a,
            state_a,
            x,
            self.key_a,
            reads=s["reads"],
            probes=s["probes"],
        )
        v = jnp.full((self.chips,), self.variation[vi], jnp.float32)
        chips_b = draw_fleet(self.spec, self.net.shapes, self.keys_b, v, self.mesh)
        copied = None
        for name in self.strategies:
            if name == "conductances":
                st, cyc, wr = fleet_write_conductances(
                    self.spec, chips_b, g, state_a, self.keys_b, self.mesh
                )
                self._record(name, chips_b, st, self.source[vi], read_cycles=cyc + g_cycles)
                self._cost(name, device_writes=wr)
                self.bar.update(1)
            if name == "weights" or (name in ("distill", "finetune") and copied is None):
                copied = fleet_write_weights(
                    self.spec, chips_b, w, state_a, self.keys_b, probes=s["probes"], mesh=self.mesh
                )
                if name == "weights":
                    st, cyc, wr = copied
                    self._record(name, chips_b, st, self.source[vi], read_cycles=cyc + w_cycles)
                    self._cost(name, device_writes=wr)
                    self.bar.update(1)
            if name == "distill":
                self._distill(chips_b, v, copied, w_cycles, logits)
            if name == "finetune":
                self._finetune(chips_b, copied, w_cycles)
            if name == "hardware-aware":
                self._hardware_aware(chips_b)
            if name == "digital":
                self._digital_control()

    def _record(
        self, name: str, chips: Any, states: ChipState, source: float, **costs: Any
    ) -> None:
        si = self.strategies.index(name)
        self.target[self.vi, si] = to_host(self._accuracy(chips, states, self.keys_b))
        self.strategy_source[self.vi, si] = source
        self._cost(name, **costs)

    def _cost(self, name: str, **costs: Any) -> None:
        si = self.strategies.index(name)
        for cost, value in costs.items():
            self.costs[cost][self.vi, si] += np.asarray(to_host(value), np.int64)

    def _teach(
        self,
        name: str,
        chips_b: Any,
        state: ChipState,
        x: Array,
        targets: Array,
        epochs: int,
        index: int,
        loss: Any,
        batch_size: int,
    ) -> ChipState:
        """In-situ epochs on the targets (update keys `stream(key_b, "transfer", index)`)."""
        keys = jax.vmap(lambda k: stream(k, "transfer", index))(self.keys_b)
        state, _, pulses, _ = train_fleet(
            self.spec,
            self.net,
            chips_b,
            state,
            x,
            targets,
            keys,
            stream(self.root, "transfer", index, 1),
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=self.settings["learning_rate"],
            loss=loss,
            what=name,
            on_epoch=lambda: self.bar.update(1),
            mesh=self.mesh,
        )
        batch_size = min(batch_size, x.shape[0])
        examples = epochs * (x.shape[0] // batch_size) * batch_size
        self._cost(name, update_pulses=pulses, examples=examples)
        return state

    def _distill(self, chips_b: Any, v: Array, copied: Any, w_cycles: Array, logits: Array) -> None:
        s = self.settings
        if s["distill_start"] == "weights":
            state, cyc, wr = copied
            self._cost("distill", read_cycles=cyc + w_cycles, device_writes=wr)
        else:
            _, state = init_fleet(self.spec, self.net, self.params0, self.keys_b, v, mesh=self.mesh)
            self._cost("distill", device_writes=2 * sum(np.prod(sh) for sh in self.net.shapes))
        temperature = jnp.float32(s["temperature"])
        targets = soft_targets(logits, temperature)
        x = jnp.asarray(self.data.x_train[: s["distill_examples"]])
        loss = jax.tree_util.Partial(distill_loss, temperature=temperature)
        epochs, batch = s["distill_epochs"], s["distill_batch_size"]
        state = self._teach("distill", chips_b, state, x, targets, epochs, 2, loss, batch)
        # the teacher's outputs: each input once through both arrays of every source layer
        self._record("distill", chips_b, state, self.source[self.vi])
        self._cost("distill", read_cycles=x.shape[0] * 2 * len(self.net.shapes))

    def _finetune(self, chips_b: Any, copied: Any, w_cycles: Array) -> None:
        s = self.settings
        state, cyc, wr = copied
        self._cost("finetune", read_cycles=cyc + w_cycles, device_writes=wr)
        n = self.data.x_train.shape[0]
        pick = np.asarray(jax.random.permutation(stream(self.root, "transfer", 3, 0), n))
        pick = pick[: s["finetune_examples"]]
        x, y = jnp.asarray(self.data.x_train[pick]), jnp.asarray(self.data.y_train[pick])
        state = self._teach(
            "finetune",
            chips_b,
            state,
            x,
            y,
            s["finetune_epochs"],
            3,
            cross_entropy,
            s["batch_size"],
        )
        self._record("finetune", chips_b, state, self.source[self.vi], labels=len(pick))

    def _hardware_aware(self, chips_b: Any) -> None:
        """Weights trained off-chip against this variation's chip statistics, then written
        with program-and-verify (no pulses) onto A's and each B's devices."""
        v = self.variation[self.vi]
        spec = _deploy_spec(self.spec, v)
        if self._hwa is None:  # all variation values at once, in one batched run
            self._hwa = train_hardware_aware_sweep(
                spec,
                self.net,
                self.data,
                self.variation,
                key=stream(self.root, "transfer", 4),
                epochs=self.settings["hardware_aware_epochs"],
            )[0]
        params = take(self._hwa, self.vi)
        # A and the targets as one fleet (A first): one compiled program for all of them
        keys = jnp.concatenate([self.key_a[None], self.keys_b])
        chips = draw_fleet(spec, self.net.shapes, keys, jnp.full((self.chips + 1,), v), self.mesh)
        states, writes = fleet_program(spec, chips, params, keys, self.mesh)
        acc = to_host(self._accuracy(chips, states, keys, spec))
        si = self.strategies.index("hardware-aware")
        self.target[self.vi, si] = acc[1:]
        self.strategy_source[self.vi, si] = acc[0]
        writes = to_host(writes)[1:]
        rows = sum(r for r, _ in self.net.shapes)
        self._cost("hardware-aware", device_writes=writes, read_cycles=verify_read_cycles(rows))
        self.bar.update(1)

    def _digital_control(self) -> None:
        """Float weights trained once, copied bit for bit to `chips` replicas: loss exactly 0."""
        if self._digital is None:
            params = train_digital(self.net, self.data, key=stream(self.root, "transfer", 5))
            replicas = [jax.tree.map(np.copy, params) for _ in range(self.chips)]
            for replica in replicas:
                for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(replica), strict=True):
                    if not np.array_equal(a, b):
                        raise AssertionError("a digital replica differs from its source")
            source = float(accuracy(apply_digital(self.net, params, self.x_test), self.y_test))
            target = np.array(
                [accuracy(apply_digital(self.net, r, self.x_test), self.y_test) for r in replicas],
                np.float32,
            )
            self._digital = (source, target)
        source, target = self._digital
        si = self.strategies.index("digital")
        self.target[self.vi, si] = target
        self.strategy_source[self.vi, si] = source
        self.bar.update(1)

    # --- the result ----------------------------------------------------------------------

    def dataset(self) -> xr.Dataset:
        dims = ("variation", "strategy", "chip")
        loss = self.strategy_source[:, :, None] - self.target
        ds = xr.Dataset(
            {
                "source_accuracy": (("variation",), self.source),
                "strategy_source_accuracy": (dims[:2], self.strategy_source),
                "target_accuracy": (dims, self.target),
                "transfer_loss": (dims, loss),
                **{name: (dims, value.astype(np.int32)) for name, value in self.costs.items()},
            },
            coords={
                "variation": np.asarray(self.variation, np.float32),
                "strategy": list(self.strategies),
                "chip": np.arange(self.chips, dtype=np.int32),
            },
        )
        label_transfer(ds, self.data.name)
        ds.attrs.update(
            provenance_attrs(
                self.spec,
                experiment="transfer",
                network=self.net.name,
                dataset=self.data.name,
                seed=self.seed,
                chips=self.chips,
                **{k: v for k, v in self.settings.items()},
            )
        )
        return ds


def check_source(source: SavedChip, spec: HardwareSpec, net: Network) -> None:
    """Raise `ParameterError` unless the saved chip was made for this spec and network."""
    mine, theirs = hardware_table(spec), hardware_table(source.spec)
    if mine != theirs:
        raise ParameterError(
            f"the source chip was made for hardware {theirs}, not {mine}; transfer it with "
            "its own spec (the command line does)"
        )
    if net.shapes != source.net.shapes:
        raise ParameterError(
            f"the source chip holds a network of layers {source.net.shapes}, not {net.shapes}"
        )


def label_transfer(ds: xr.Dataset, dataset: str) -> xr.Dataset:
    """Units and long names of the transfer experiment's variables (in place; returned)."""
    task = f"test accuracy on {dataset}"
    ds["variation"].attrs.update(units="1", long_name="multiplier on all identity spreads")
    ds["source_accuracy"].attrs.update(units="1", long_name=f"source chip (in situ) {task}")
    ds["strategy_source_accuracy"].attrs.update(
        units="1", long_name=f"{task} of what each strategy copies from"
    )
    ds["target_accuracy"].attrs.update(units="1", long_name=f"target chip {task}")
    ds["transfer_loss"].attrs.update(units="1", long_name="source accuracy minus target accuracy")
    for name, text in COSTS.items():
        ds[name].attrs.update(units="1", long_name=text)
    return ds


def _deploy_spec(spec: HardwareSpec, variation: float) -> HardwareSpec:
    """The spec for weights deployed by programming rather than pulses: the same devices and
    periphery, no pulse response (so each G+ device spans its full range), drift
    compensation as in `spec`'s deployments (on), at `variation`."""
    return dataclasses.replace(
        spec, pulse_response=None, drift_compensation=True, variation=jnp.float32(variation)
    )
