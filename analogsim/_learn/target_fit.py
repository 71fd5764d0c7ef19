"""The synthetic problem Rasch et al. (Nat. Commun. 15:7133, 2024, Fig. 4) compare in-situ
learning algorithms on: one analog layer learns a fixed target matrix from random inputs, and
the error left in its converged weights is read against the number of device states and the
spread of the fast array's reference around its symmetry point."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from device_models import Ideal, SoftBounds
from device_models._checks import check_int_range, check_range

from .._chip.mapping import conductance_span
from .._chip.spec import HardwareSpec
from .._core.keys import chip_key, root_key, stream
from .._core.precision import matmul
from .._nn.networks import init_params, mlp
from .algorithms import Algorithm
from .in_situ import check_in_situ_spec
from .in_situ_fleet import init_fleet, train_fleet


def soft_bounds_spec(
    n_states: ArrayLike,
    *,
    up_down_dtod: ArrayLike = 0.1,
    dw_min_dtod: ArrayLike = 0.1,
    dw_min_std: ArrayLike = 0.3,
) -> HardwareSpec:
    """A chip of soft-bounds devices with `n_states` states over the nominal range [-1, 1]
    (dw_min = 2 / n_states, the paper's Eq. 6), ideal reads: the paper's device class, with
    its sigma_+- = 0.1 spread of the up/down imbalance and the bounds' spread at zero (its
    sigma_b = 0), so that every target weight is reachable."""
    response = SoftBounds(
        name="soft_bounds",
        citation="Rasch et al., Nat. Commun. 15:7133 (2024), Fig. 4 device class",
        dw_min=jnp.float32(2.0) / jnp.asarray(n_states, jnp.float32),
        dw_min_dtod=dw_min_dtod,
        dw_min_std=dw_min_std,
        up_down=0.0,
        up_down_dtod=up_down_dtod,
        w_min_dtod=0.0,
        w_max_dtod=0.0,
    )
    return HardwareSpec(device=Ideal(), pulse_response=response)


def half_squared_error(outputs: Array, targets: Array) -> Array:
    """0.5 x the squared error summed over outputs, averaged over the batch."""
    return 0.5 * jnp.mean(jnp.sum((outputs - targets) ** 2, axis=-1))


def target_weight_error(
    spec: HardwareSpec,
    algorithm: Algorithm,
    *,
    rows: int = 8,
    cols: int = 8,
    steps: int = 2000,
    batch: int = 8,
    learning_rate: ArrayLike = 0.05,
    chips: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Train a (rows, cols) layer in situ by `algorithm` to compute x @ W* for standard
    normal inputs x (`steps` steps of `batch`), W* uniform in the middle half of the devices'
    range, on `chips` chips; return each chip's weight error (chips,): the standard
    deviation of its weights' deviation from W*, in units of the digital scale (the devices'
    normalized range is about [-1, 1] of it).

    The layer starts from He-normal weights (scale 4 max|w| as for every in-situ start), the
    inputs come from `stream(root_key(seed), "train", 2)`, W* from `stream(..., 3)`.
    """
    check_int_range("rows", rows, 1, 4096)
    check_int_range("cols", cols, 1, 4096)
    check_int_range("steps", steps, 1, 10**7)
    check_int_range("chips", chips, 1, 10**5)
    check_range("learning_rate", learning_rate, 0.0, low_open=True)
    spec = check_in_situ_spec(spec)
    net = mlp((rows, cols), name="target")
    root = root_key(seed)
    params = init_params(net, key=stream(root, "train", 0))
    scale = 4.0 * jnp.max(jnp.abs(params[0]["w"]))
    target = scale * jax.random.uniform(
        stream(root, "train", 3), (rows, cols), minval=-0.5, maxval=0.5
    )
    x = jax.random.normal(stream(root, "train", 2), (steps * batch, rows))
    keys = jax.vmap(lambda i: chip_key(root, i))(jnp.arange(chips, dtype=jnp.uint32))
    chip, state = init_fleet(spec, net, params, keys, algorithm=algorithm)
    state, _, _, _ = train_fleet(
        spec, net, chip, state, x, matmul(x, target), keys, stream(root, "train", 1),
        epochs=1, batch_size=batch, learning_rate=learning_rate, loss=half_squared_error,
        algorithm=algorithm, what="target fit",
    )  # fmt: skip
    g_lo, g_hi = conductance_span(spec)
    layer = state.layers[0]
    w = (layer.devices.g[:, 0] - layer.devices.g[:, 1]) / (g_hi - g_lo)  # units of the scale
    return np.asarray(jnp.std(w - target / scale, axis=(1, 2)))
