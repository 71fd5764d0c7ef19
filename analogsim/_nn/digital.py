"""Digital training (optax) of the networks whose weights are then programmed onto chips."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from device_models._checks import check_int_range, check_range

from .._core.keys import stream
from .data import Dataset
from .networks import Network, apply_digital, init_params


def cross_entropy(logits: Array, labels: Array) -> Array:
    """Mean softmax cross-entropy with integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: Array, labels: Array) -> Array:
    """Fraction of argmax predictions equal to `labels`."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def digital_loss(
    net: Network, params: Sequence[dict[str, Array]], x: Array, y: Array, key: Array
) -> Array:
    """Cross-entropy of the plain digital forward pass (`key` unused; `fit`'s signature)."""
    return cross_entropy(apply_digital(net, params, x), y)


def fit(
    net: Network,
    data: Dataset,
    loss_fn: Callable[[Sequence[dict[str, Array]], Array, Array, Array], Array],
    *,
    key: Array,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    over: Array | None = None,
) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Minimize `loss_fn(params, x_batch, y_batch, step_key)` over the training set with Adam.

    With `over` (values, shape (n,)), `loss_fn(value)` gives the loss instead, and one fit per
    value runs in a single batched run (a sweep); the results gain a leading axis of n.

    Deterministic for a given key: initialization from `stream(key, "train", 0)`, the shuffle
    of epoch e from `stream(key, "train", 1, e)`, step s's key `stream(key, "train", 2, s)`.
    All epochs run in one compiled `scan`, compiled once per loss function, network and
    shape: pass the loss as a `jax.tree_util.Partial` of a module-level function, so that its
    arrays (a hardware spec, say) are traced and new values reuse the program. Returns the
    parameters and the mean loss per epoch.
    """
    check_int_range("epochs", epochs, 1, 1_000_000)
    check_int_range("batch_size", batch_size, 1, 1 << 20)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    data = data.for_network(net)
    x = jnp.asarray(data.x_train)
    y = jnp.asarray(data.y_train)
    params = init_params(net, key=stream(key, "train", 0))
    # optax's Adam mixes its int32 step count with floats, which strict promotion refuses.
    run = lambda loss: _fit_scan(
        loss,
        params,
        x,
        y,
        key,
        jnp.float32(learning_rate),
        epochs=epochs,
        batch_size=min(batch_size, x.shape[0]),
    )
    with jax.numpy_dtype_promotion("standard"):
        if over is None:
            params, losses = run(loss_fn)
        else:
            params, losses = jax.vmap(lambda value: run(loss_fn(value)))(over)
    return [jax.tree.map(np.asarray, layer) for layer in params], np.asarray(losses)


@eqx.filter_jit
def _fit_scan(loss_fn, params, x, y, key, learning_rate, *, epochs: int, batch_size: int):
    optimizer = optax.adam(learning_rate)
    n = x.shape[0]
    steps = n // batch_size

    def epoch(carry, e):
        perm = jax.random.permutation(stream(key, "train", 1, e), n)[: steps * batch_size]

        def step(carry, inputs):
            p, s = carry
            j, idx = inputs
            k = stream(key, "train", 2, e * steps + j)
            loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx], k)
            updates, s = optimizer.update(g, s, p)
            return (optax.apply_updates(p, updates), s), loss

        carry, losses = jax.lax.scan(
            step, carry, (jnp.arange(steps), perm.reshape(steps, batch_size))
        )
        return carry, losses.mean()

    (params, _), losses = jax.lax.scan(epoch, (params, optimizer.init(params)), jnp.arange(epochs))
    return params, losses


def train_digital(
    net: Network,
    data: Dataset,
    *,
    key: Array,
    epochs: int = 60,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
) -> list[dict[str, np.ndarray]]:
    """Train `net` on `data` digitally with Adam; returns per-layer {"w", "b"} (see `fit`)."""
    loss = jax.tree_util.Partial(digital_loss, net)
    params, _ = fit(
        net,
        data,
        loss,
        key=key,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
    )
    return params
