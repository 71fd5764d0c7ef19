"""One weight-transfer run's state: the source chips, the targets at each variation value,
the results so far, and what every strategy shares (recording, costs, in-situ teaching)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import Mesh
from jaxtyping import Array

from .._chip.spec import HardwareSpec
from .._chip.state import ChipState
from .._core.dataset import experiment_dataset
from .._core.keys import chip_key, root_key, stream
from .._fleet.fleet import take
from .._fleet.members import Members
from .._fleet.mesh import to_host
from .._learn.in_situ_fleet import (
    fleet_state_accuracy,
    fleet_with_fast_arrays,
    init_fleet,
    train_fleet,
)
from .._learn.saved_state import SavedChip
from .._learn.tiki_taka import without_fast_arrays
from .._nn.data import Dataset
from .._nn.networks import Network, init_params
from .fleet import draw_fleet, fleet_write_weights, measure_source
from .settings import TransferSettings

COSTS = {
    "read_cycles": "array read cycles (one input vector on one array), source and target",
    "device_writes": "device program operations (writes and rewrites)",
    "update_pulses": "in-situ update pulses fired on the target",
    "examples": "training examples run through the target",
    "labels": "labelled examples used",
}


class Strategy(NamedTuple):
    """One way of moving what chip A learned: `run(run, at)` fills its results at one
    variation value; `steps(settings)` is how many progress steps that takes."""

    run: Callable[[Run, Targets], None]
    steps: Callable[[TransferSettings], int] = lambda settings: 1


@dataclasses.dataclass
class Targets:
    """The source chip measured and the target chips drawn at one variation value.

    Attributes:
        vi: index of the variation value; v: its value for every target (chips,).
        chip_a, state_a: the source chip and its trained state.
        chips_b: the target chips' identities.
        g, g_cycles: the source's conductances as read (averaged), and the read cycles spent.
        w, w_cycles: the source's effective weights as probed, and the read cycles spent.
        logits: the source's outputs on the distillation inputs.
        copy_weights: writes `w` onto the targets (`copied` calls it once).
    """

    vi: int
    v: Array
    chip_a: Any
    state_a: ChipState
    chips_b: Any
    g: Any
    g_cycles: Array
    w: Any
    w_cycles: Array
    logits: Array
    copy_weights: Callable[[], tuple[ChipState, Array, Array]]

    @functools.cached_property
    def copied(self) -> tuple[ChipState, Array, Array]:
        """A's measured weights written onto every target (states, read cycles, writes),
        computed once at this variation value and shared by the strategies that start there."""
        return self.copy_weights()


class Run:
    """One transfer experiment: sources, results so far, and the shared keys.

    Keys (all from `root_key(seed)`): A is `stream(root, "source")`; target i is
    `chip_key(stream(root, "target"), i)` at every variation value; each strategy's writes,
    updates and shuffles take their own `"transfer"` sub-stream.
    """

    def __init__(
        self,
        spec: HardwareSpec,
        net: Network,
        data: Dataset,
        chips: int,
        variation: tuple[float, ...],
        strategies: tuple[str, ...],
        seed: int,
        settings: TransferSettings,
        mesh: Mesh,
    ) -> None:
        self.spec, self.net, self.data = spec, net, data
        self.chips, self.variation, self.strategies, self.seed = chips, variation, strategies, seed
        self.settings = settings
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
        self.bar: Any = None  # the progress bar each step advances
        # what a strategy computes once for every variation value (keyed by its name)
        self.memo: dict[str, Any] = {}

    @property
    def members(self) -> Members:
        """The targets (or sources) as fleet members: alike but for their keys, on the mesh."""
        return Members(mesh=self.mesh)

    # --- the source chips, one per variation value, trained together ----------------------

    def train_sources(self) -> None:
        s = self.settings
        v = jnp.asarray(self.variation, jnp.float32)
        keys_a = jax.vmap(lambda _: self.key_a)(jnp.arange(len(self.variation)))
        self.chip_a, self.state_a = init_fleet(
            self.spec, self.net, self.params0, keys_a, v, self.members, s.algorithm
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
            epochs=s.epochs,
            batch_size=s.batch_size,
            learning_rate=s.learning_rate,
            what="source training",
            on_epoch=lambda: self.bar.update(1),
            members=self.members,
            algorithm=s.algorithm,
        )
        # what A learned is in its weights' arrays: every strategy reads and copies those
        self.chip_a, self.state_a = without_fast_arrays(self.chip_a, self.state_a)
        self.source = to_host(self.accuracy(self.chip_a, self.state_a, keys_a))

    def load_source(self, saved: SavedChip) -> None:
        """The saved chip as every variation value's source (it is one chip, trained once)."""
        n = len(self.variation)
        copies = lambda tree: jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), tree)
        self.chip_a, self.state_a = copies(saved.identity), copies(saved.state)
        self.key_a = saved.key
        keys_a = jnp.broadcast_to(saved.key, (n,))
        self.bar.update(self.settings.epochs)  # nothing to train
        self.source = to_host(self.accuracy(self.chip_a, self.state_a, keys_a))

    def accuracy(
        self, chips: Any, states: ChipState, keys: Array, spec: HardwareSpec | None = None
    ) -> Array:
        """Test accuracy of each chip read 1 s after programming (`spec` defaults to the run's)."""
        spec = self.spec if spec is None else spec
        t = jnp.float32(1.0)
        return fleet_state_accuracy(
            spec, self.net, chips, states, self.x_test, self.y_test, keys, t, self.members
        )

    # --- the targets at one variation value ------------------------------------------------

    def targets(self, vi: int) -> Targets:
        """Measure source `vi` and draw the targets at its variation value."""
        s = self.settings
        chip_a, state_a = take(self.chip_a, vi), take(self.state_a, vi)
        x = jnp.asarray(self.data.x_train[: s.distill_examples])
        g, g_cycles, w, w_cycles, logits = measure_source(
            self.spec, self.net, chip_a, state_a, x, self.key_a, reads=s.reads, probes=s.probes
        )
        v = jnp.full((self.chips,), self.variation[vi], jnp.float32)
        chips_b = draw_fleet(self.spec, self.net.shapes, self.keys_b, v, self.mesh)
        copy = lambda: fleet_write_weights(
            self.spec, chips_b, w, state_a, self.keys_b, probes=s.probes, mesh=self.mesh
        )
        return Targets(vi, v, chip_a, state_a, chips_b, g, g_cycles, w, w_cycles, logits, copy)

    def record(
        self, at: Targets, name: str, chips: Any, states: ChipState, source: float, **costs: Any
    ) -> None:
        """The targets' accuracy after strategy `name`, what it copied from, and its costs."""
        si = self.strategies.index(name)
        self.target[at.vi, si] = to_host(self.accuracy(chips, states, self.keys_b))
        self.strategy_source[at.vi, si] = source
        self.cost(at, name, **costs)

    def cost(self, at: Targets, name: str, **costs: Any) -> None:
        """Add to strategy `name`'s costs (names of `COSTS`; per target chip or scalars)."""
        si = self.strategies.index(name)
        for cost, value in costs.items():
            self.costs[cost][at.vi, si] += np.asarray(to_host(value), np.int64)

    def teach(
        self,
        at: Targets,
        name: str,
        state: ChipState,
        x: Array,
        targets: Array,
        epochs: int,
        index: int,
        loss: Any,
        batch_size: int,
    ) -> ChipState:
        """In-situ epochs on the targets (update keys `stream(key_b, "transfer", index)`), by
        the run's algorithm: a Tiki-Taka one teaches through each target's own fast arrays,
        written for it first (`fleet_with_fast_arrays`) and set aside after."""
        keys = jax.vmap(lambda k: stream(k, "transfer", index))(self.keys_b)
        algorithm, chips = self.settings.algorithm, at.chips_b
        if algorithm.tiki_taka:
            # drawn at the targets' own variation, as their weights' arrays were
            members = Members.varied(at.v, self.mesh)
            chips, state = fleet_with_fast_arrays(
                self.spec, algorithm, chips, state, self.keys_b, members
            )
        state, _, pulses, _ = train_fleet(
            self.spec,
            self.net,
            chips,
            state,
            x,
            targets,
            keys,
            stream(self.root, "transfer", index, 1),
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=self.settings.learning_rate,
            loss=loss,
            what=name,
            on_epoch=lambda: self.bar.update(1),
            members=self.members,
            algorithm=algorithm,
        )
        _, state = without_fast_arrays(chips, state)
        batch_size = min(batch_size, x.shape[0])
        examples = epochs * (x.shape[0] // batch_size) * batch_size
        self.cost(at, name, update_pulses=pulses, examples=examples)
        return state

    # --- the result ----------------------------------------------------------------------

    def dataset(self) -> xr.Dataset:
        dims = ("variation", "strategy", "chip")
        loss = self.strategy_source[:, :, None] - self.target
        return experiment_dataset(
            {
                "source_accuracy": (("variation",), self.source),
                "strategy_source_accuracy": (dims[:2], self.strategy_source),
                "target_accuracy": (dims, self.target),
                "transfer_loss": (dims, loss),
                **{name: (dims, value.astype(np.int32)) for name, value in self.costs.items()},
            },
            {
                "variation": np.asarray(self.variation, np.float32),
                "strategy": list(self.strategies),
                "chip": np.arange(self.chips, dtype=np.int32),
            },
            labels=transfer_labels(self.data.name),
            spec=self.spec,
            experiment="transfer",
            network=self.net.name,
            dataset=self.data.name,
            seed=self.seed,
            chips=self.chips,
            **self.settings.attrs(),
        )


def transfer_labels(dataset: str) -> dict[str, tuple[str, str]]:
    """Units and long names of the transfer experiment's variables (`dataset`: the task)."""
    task = f"test accuracy on {dataset}"
    return {
        "variation": ("1", "multiplier on all identity spreads"),
        "source_accuracy": ("1", f"source chip (in situ) {task}"),
        "strategy_source_accuracy": ("1", f"{task} of what each strategy copies from"),
        "target_accuracy": ("1", f"target chip {task}"),
        "transfer_loss": ("1", "source accuracy minus target accuracy"),
        **{name: ("1", text) for name, text in COSTS.items()},
    }
