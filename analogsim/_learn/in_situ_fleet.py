"""In-situ training of a fleet of chips: one compiled program per epoch, vmapped over chips.

Module-level and compiled once per shape: the learning rate, spec numbers and the step
offset are traced, so every variation value, seed or epoch reuses the same program. The
update rule is plain SGD (stateless), so an epoch is a self-contained call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from device_models import fold_in

from .._chip.forward import apply_analog
from .._chip.identity import ChipIdentity
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState
from .._core.keys import stream
from .._fleet.members import ALIKE, Members
from .._fleet.mesh import to_host
from .._nn.digital import accuracy, cross_entropy
from .._nn.networks import Network
from .algorithms import SGD, Algorithm
from .device_update import with_pulse_residue
from .in_situ import (
    check_in_situ_spec,
    in_situ_step,
    init_in_situ,
    opt_init_tree,
    step_output_noise,
    step_rounding_draws,
)
from .tiki_taka import with_fast_arrays


class TrainingError(RuntimeError):
    """Training produced non-finite numbers; the message names the layer and step."""


@eqx.filter_jit
def init_fleet(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    keys: Array,
    variation: Array | None = None,
    members: Members = ALIKE,
    algorithm: Algorithm = SGD,
) -> tuple[ChipIdentity, ChipState]:
    """Draw the chips `keys` (chip keys, shape (chips,)) and write `params` onto each
    (`init_in_situ`); returns identities and states with a leading chip axis.

    `variation` (chips,), when given, is each chip's own variation multiplier in place of
    `spec.variation`; more generally each chip may have its own values of some sweepable
    parameters (`members`). Both are traced: a sweep over them compiles once. The chips are
    split over `members.mesh`. A Tiki-Taka `algorithm` also writes each chip's fast arrays.
    """
    if variation is not None:
        members = Members.varied(variation, members.mesh)
    values = members.values_for(keys.shape[0])
    one = lambda k, v: init_in_situ(members.spec(spec, v), net, params, key=k, algorithm=algorithm)
    return members.vmap(one)(keys, values)


@eqx.filter_jit
def fleet_with_fast_arrays(
    spec: HardwareSpec,
    algorithm: Algorithm,
    chip: ChipIdentity,
    state: ChipState,
    keys: Array,
    members: Members = ALIKE,
) -> tuple[ChipIdentity, ChipState]:
    """Each chip of a fleet (leading chip axis; keys (chips,)) with the fast arrays of a
    Tiki-Taka `algorithm` (`with_fast_arrays`): for teaching chips whose weights were
    written some other way (a copy)."""
    one = lambda c, s, k, v: with_fast_arrays(members.spec(spec, v), algorithm, c, s, key=k)
    return members.vmap(one)(chip, state, keys, members.values_for(keys.shape[0]))


@eqx.filter_jit
def in_situ_epoch(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    x: Array,
    targets: Array,
    keys: Array,
    shuffle_key: Array,
    first_step: Array,
    learning_rate: Array,
    *,
    batch_size: int,
    max_pulses: int = 31,
    loss: Callable[[Array, Array], Array] = cross_entropy,
    members: Members = ALIKE,
    algorithm: Algorithm = SGD,
) -> tuple[ChipState, Array, Array, Array]:
    """One epoch of in-situ SGD on every chip of a fleet, all in the same data order; under
    a Tiki-Taka `algorithm` SGD's change goes through each layer's fast array.

    Args:
        chip, state: the fleet's identities and states (leading chip axis).
        x: training inputs, (n, ...); targets: labels (n,) or soft targets (n, classes),
            whatever `loss(logits, targets)` takes.
        keys: each chip's key, (chips,); step s draws from `stream(key, "update", s)`.
        shuffle_key: this epoch's shuffle (shared by all chips).
        first_step: global index of this epoch's first step (int32).
        learning_rate: SGD step on the weight scale (traced): one for all chips, or (chips,).
        batch_size: examples per step (static); the last partial batch is dropped.
        members: each chip's own parameter values and the mesh the chips are split over.

    Returns:
        (state, mean loss (chips,), pulses fired (chips,), finite (chips, steps, layers + 1)):
        `finite[c, s]` says per layer whether step s kept chip c finite, then the loss.
    """
    # states written by a copy (transfer) start their mixed-precision residue here
    state = with_pulse_residue(spec, state)
    n = x.shape[0]
    steps = n // batch_size
    order = jax.random.permutation(shuffle_key, n)[: steps * batch_size]
    batches = order.reshape(steps, batch_size)
    values = members.values_for(keys.shape[0])
    rates = jnp.broadcast_to(jnp.asarray(learning_rate, jnp.float32), keys.shape)

    def one(chip: ChipIdentity, state: ChipState, key: Array, vals: Array, rate: Array):
        spec_c = members.spec(spec, vals)
        opt = optax.sgd(rate)

        def step(state: ChipState, inputs: tuple[Array, Array, Array], drawn: tuple):
            # step i of a block takes its draws by index rather than as scanned inputs: under
            # the fleet's vmap the draws come out chip by chip and a scan wants them step by
            # step, and XLA wrote the whole block's draws out once more, transposed (6% of a
            # 16-chip step)
            k, idx, i = inputs
            noise, rounding = jax.tree.map(lambda a: a[i], drawn)
            state, _, value, fired, layer_ok = in_situ_step(
                spec_c,
                net,
                chip,
                state,
                opt,
                opt.init(opt_init_tree(state)),
                x[idx],
                targets[idx],
                key=k,
                max_pulses=max_pulses,
                loss=loss,
                output_noise=noise,
                rounding=rounding,
                algorithm=algorithm,
            )
            finite = jnp.concatenate([layer_ok, jnp.isfinite(value)[None]])
            return state, (value, fired, finite)

        def block(state: ChipState, inputs: tuple[Array, Array]):
            # the block's step keys, output noise and rounding draws are made here, all steps
            # at once, outside the steps that use them (`layer_output_noise`,
            # `rounding_draws` say why): bitwise what each step would make
            js, idxs = inputs
            ks = jax.vmap(lambda j: stream(key, "update", first_step + j))(js)

            def draw(k: Array) -> tuple:
                noise = step_output_noise(spec_c, net, chip, batch_size, key=k)
                return noise, step_rounding_draws(spec_c, chip, key=k)

            drawn = jax.vmap(draw)(ks)
            at = jnp.arange(js.shape[0])
            return jax.lax.scan(lambda s, i: step(s, i, drawn), state, (ks, idxs, at))

        blocks = _block_size(steps, _most_steps(net, keys.shape[0]))
        state, (values, fired, finite) = jax.lax.scan(
            block,
            state,
            (jnp.arange(steps).reshape(-1, blocks), batches.reshape(-1, blocks, batch_size)),
        )
        return state, values.reshape(steps).mean(), fired.sum(), finite.reshape(steps, -1)

    return members.vmap(one)(chip, state, keys, values, rates)


# What the drawn-ahead rounding uniforms of one block may take, all chips together (bytes).
_DRAWS_BUDGET = 256 << 20


def _most_steps(net: Network, chips: int) -> int:
    """The most steps a block may hold: 16, fewer when one step's rounding draws (one
    float32 per device of every chip) would take the block over `_DRAWS_BUDGET`."""
    devices = sum(rows * cols for rows, cols in net.shapes)
    return max(1, min(16, _DRAWS_BUDGET // (4 * devices * chips)))


def _block_size(steps: int, most: int = 16) -> int:
    """Steps per block of drawn-ahead noise: the largest divisor of `steps` up to `most`,
    which bounds the draws held at once to `most` steps' worth."""
    return max((d for d in range(1, min(steps, most) + 1) if steps % d == 0), default=1)


def raise_if_not_finite(
    finite: np.ndarray,
    epoch: int,
    what: str = "in-situ training",
    member: Callable[[int], str] = lambda c: f"chip {c}",
) -> None:
    """Raise `TrainingError` naming the first chip, step and layer that went non-finite.

    Args:
        finite: `in_situ_epoch`'s (chips, steps, layers + 1) flags for epoch `epoch`.
        member: names fleet member c in the message (a sweep names its grid point too).
    """
    finite = np.asarray(finite)
    if finite.all():
        return
    steps = finite.shape[1]
    c, s = (int(v[0]) for v in np.nonzero(~finite.all(axis=2)))
    bad = np.nonzero(~finite[c, s])[0]
    layers = [int(i) for i in bad if i < finite.shape[2] - 1]
    last = finite.shape[2] - 2
    where = f"layer {layers[0]}" if layers else f"the loss on layer {last}'s outputs"
    raise TrainingError(
        f"{what} produced NaN or infinity in {where} at step {epoch * steps + s} "
        f"(epoch {epoch}, {member(c)}); lower the learning rate"
    )


@eqx.filter_jit
def fleet_state_accuracy(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    x: Array,
    y: Array,
    keys: Array,
    t: Array,
    members: Members = ALIKE,
) -> Array:
    """Test accuracy of each chip of a fleet as it stands (leading chip axis), read `t` s after
    programming with read key `stream(key, "read", 0)`; shape (chips,). `members`: each
    chip's own parameter values and the mesh the chips are split over."""

    def one(chip: ChipIdentity, state: ChipState, key: Array, vals: Array) -> Array:
        spec_c = members.spec(spec, vals)
        logits = apply_analog(spec_c, net, chip, state, x, t=t, key=stream(key, "read", 0))
        return accuracy(logits, y)

    return members.vmap(one)(chip, state, keys, members.values_for(keys.shape[0]))


def train_fleet(
    spec: HardwareSpec,
    net: Network,
    chip: ChipIdentity,
    state: ChipState,
    x: Array,
    targets: Array,
    keys: Array,
    shuffle: Array,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float | Array,
    loss: Callable[[Array, Array], Array] = cross_entropy,
    max_pulses: int = 31,
    what: str = "in-situ training",
    on_epoch: Callable[[], None] | None = None,
    members: Members = ALIKE,
    member: Callable[[int], str] = lambda c: f"chip {c}",
    algorithm: Algorithm = SGD,
) -> tuple[ChipState, np.ndarray, np.ndarray, list[float]]:
    """`epochs` in-situ epochs of a fleet (`in_situ_epoch`), checked for non-finite numbers.

    The spec runs as `check_in_situ_spec` makes it (drift compensation off). Epoch e shuffles
    with `fold_in(shuffle, e)`; chip c's update at global step s draws from
    `stream(keys[c], "update", s)`. `on_epoch` is called after each epoch (a progress bar).
    `learning_rate` is one number or one per chip; `members` gives each chip its own
    parameter values and the mesh the chips are split over; `member(c)` names member c in an
    error; `algorithm` the learning rule (the state must have been written for it).

    Returns:
        (state, mean loss (chips, epochs), pulses fired (chips,), seconds per epoch).

    Raises:
        TrainingError: naming the first chip, step and layer that went non-finite.
    """
    spec = check_in_situ_spec(spec)
    batch_size = min(batch_size, x.shape[0])
    steps = x.shape[0] // batch_size
    losses, pulses, seconds = [], 0, []
    for e in range(epochs):
        started = time.perf_counter()
        state, value, fired, finite = in_situ_epoch(
            spec,
            net,
            chip,
            state,
            x,
            targets,
            keys,
            fold_in(shuffle, e),
            jnp.int32(e * steps),
            jnp.asarray(learning_rate, jnp.float32),
            batch_size=batch_size,
            max_pulses=max_pulses,
            loss=loss,
            members=members,
            algorithm=algorithm,
        )
        finite, value, fired = to_host((finite, value, fired))
        raise_if_not_finite(finite, e, what, member)
        losses.append(value)
        pulses = pulses + fired.astype(np.int64)
        seconds.append(time.perf_counter() - started)
        if on_epoch is not None:
            on_epoch()
    return state, np.stack(losses, axis=1), np.asarray(pulses), seconds


def learn_fleet(
    spec: HardwareSpec,
    net: Network,
    params: Sequence[dict[str, Array]],
    keys: Array,
    train: tuple[Array, Array],
    test: tuple[Array, Array],
    shuffle: Array,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float | Array,
    max_pulses: int = 31,
    on_epoch: Callable[[], None] | None = None,
    members: Members = ALIKE,
    member: Callable[[int], str] = lambda c: f"chip {c}",
    algorithm: Algorithm = SGD,
) -> dict[str, object]:
    """Write `params` onto the chips `keys` (`init_fleet`), train them in situ (`train_fleet`,
    labels `train` = (x, y)) and read their accuracy on `test` 1 s later; `members` as for
    `train_fleet`.

    Returns:
        Dict: `test_accuracy` (chips,), `loss` (chips, epochs), `pulses` (chips,),
        `epoch_seconds` (epochs,), and `state`, `chip` with a leading chip axis.
    """
    spec = check_in_situ_spec(spec)
    chip, state = init_fleet(spec, net, params, keys, members=members, algorithm=algorithm)
    state, losses, pulses, seconds = train_fleet(
        spec,
        net,
        chip,
        state,
        *train,
        keys,
        shuffle,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_pulses=max_pulses,
        on_epoch=on_epoch,
        members=members,
        member=member,
        algorithm=algorithm,
    )
    t = jnp.float32(1.0)
    acc = fleet_state_accuracy(spec, net, chip, state, *test, keys, t, members)
    return {
        "test_accuracy": to_host(acc),
        "loss": losses,
        "pulses": pulses,
        "epoch_seconds": np.asarray(seconds),
        "state": state,
        "chip": chip,
    }
