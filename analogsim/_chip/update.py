"""From a desired conductance change to pulses, and what the devices then actually do."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from device_models import AbstractPulseResponse, PulseIdentity, fold_in, noise_uniform
from device_models._checks import ParameterError

from .identity import LayerIdentity
from .spec import HardwareSpec

# The longest SET train a refresh fires (PCM: about 73 nominal pulses climb the whole range).
REFRESH_MAX_PULSES = 255


def nominal_pulse_step(response: AbstractPulseResponse) -> Array:
    """Conductance change of one nominal pulse, microsiemens: what the controller assumes."""
    scale = (response.g_max - response.g_min) / (response.w_max - response.w_min)
    return response.nominal_step() * scale


def pulse_counts(
    delta_g: Float[Array, "..."],
    step: Array,
    *,
    key: Array,
    max_pulses: int,
    uniforms: Float[Array, "..."] | None = None,
) -> Int[Array, "..."]:
    """Signed pulse counts for a desired change `delta_g` (uS) at `step` uS per pulse.

    Stochastic rounding: floor(x) plus one more pulse with probability frac(x), x = delta_g /
    step, so the expected count is exact and updates smaller than one pulse still happen on
    average (Gupta et al., ICML 2015). Counts are capped at +-max_pulses. The uniforms come
    from `key`, or are `uniforms` when given (drawn ahead).
    """
    x = delta_g / step
    low = jnp.floor(x)
    u = noise_uniform(key, x.shape) if uniforms is None else uniforms
    n = low + (u < x - low).astype(x.dtype)
    return jnp.clip(n, -max_pulses, max_pulses).astype(jnp.int32)


def whole_pulses(
    delta_g: Float[Array, "..."], step: Array, *, max_pulses: int
) -> Int[Array, "..."]:
    """Signed pulse counts for a desired change `delta_g` (uS), whole pulses only: the part
    of a step left over is not fired (mixed-precision updates carry it to the next update)."""
    return jnp.clip(jnp.trunc(delta_g / step), -max_pulses, max_pulses).astype(jnp.int32)


def pulsed_update(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g: Float[Array, "2 rows cols"],
    delta_g: Float[Array, "rows cols"],
    *,
    key: Array,
    max_pulses: int = 31,
    uniforms: Float[Array, "rows cols"] | None = None,
) -> tuple[Float[Array, "2 rows cols"], Int[Array, ""], Int[Array, ""]]:
    """Apply a desired change `delta_g` (uS, of G+ - G-) to one layer's pairs as pulse trains:
    pulse counts by stochastic rounding at the *nominal* step (`pulse_counts` with
    `rounding_draws(key, ...)`, or `uniforms`: the same draws made ahead), then
    `fire_pulses`. Returns (conductances after, pulses fired including refresh pulses, pairs
    refreshed)."""
    n = pulse_counts(
        delta_g,
        nominal_pulse_step(_response(spec, layer)),
        key=_rounding_key(key),
        max_pulses=max_pulses,
        uniforms=uniforms,
    )
    return fire_pulses(spec, layer, g, n, key=key, max_pulses=max_pulses)


def rounding_draws(shape: tuple[int, ...], *, key: Array) -> Float[Array, "..."]:
    """The uniforms `pulsed_update(..., key=key)` rounds a (rows, cols) layer's pulse counts
    with (from `fold_in(key, 0)`), for drawing them ahead.

    Why ahead: inside a training step XLA fuses the draws into both the pulses and the count
    of pulses fired, and so computes them twice; drawn outside the step they are computed
    once, in bulk.
    """
    return noise_uniform(_rounding_key(key), shape)


def _rounding_key(key: Array) -> Array:
    return fold_in(key, 0)


def whole_step_update(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g: Float[Array, "2 rows cols"],
    delta_g: Float[Array, "rows cols"],
    *,
    key: Array,
    max_pulses: int = 31,
) -> tuple[Float[Array, "2 rows cols"], Int[Array, ""], Int[Array, ""], Float[Array, "rows cols"]]:
    """Fire only the whole nominal steps of a desired change `delta_g` (uS, of G+ - G-)
    (`whole_pulses`, then `fire_pulses`): the mixed-precision rule, whose caller keeps what
    is left for the next update. Returns (conductances after, pulses fired including
    refresh pulses, pairs refreshed, the change asked of the devices as nominal steps, uS)."""
    step = nominal_pulse_step(_response(spec, layer))
    n = whole_pulses(delta_g, step, max_pulses=max_pulses)
    g, fired, refreshed = fire_pulses(spec, layer, g, n, key=key, max_pulses=max_pulses)
    return g, fired, refreshed, n.astype(delta_g.dtype) * step


def fire_pulses(
    spec: HardwareSpec,
    layer: LayerIdentity,
    g: Float[Array, "2 rows cols"],
    n: Int[Array, "rows cols"],
    *,
    key: Array,
    max_pulses: int = 31,
) -> tuple[Float[Array, "2 rows cols"], Int[Array, ""], Int[Array, ""]]:
    """Fire signed pulse counts `n` at one layer's pairs; each device answers with its own
    step, asymmetry, bounds and cycle-to-cycle noise, and stuck devices ignore the pulses.

    Devices that move both ways take all pulses on G+ (G- is a fixed reference). One-way
    devices (PCM) take a positive count as SET pulses on G+ and a negative one as SET pulses
    on G-, and pairs that filled up are then refreshed (`refresh_pairs`).

    Args:
        g: the pairs' conductances (G+, G-) before the pulses, microsiemens.
        key: the pulses draw from `fold_in(key, 1)`, a refresh from `fold_in(key, 2)`.

    Returns:
        (conductances after, pulses fired including refresh pulses, pairs refreshed).
    """
    response, identity = _response(spec, layer), layer.pulses
    stuck = layer.devices.stuck_on | layer.devices.stuck_off
    fired = jnp.sum(jnp.abs(n))
    if not response.unidirectional:
        g_plus = response.apply_pulses(
            identity, g[0], n, key=fold_in(key, 1), max_pulses=max_pulses
        )
        # stacked, not written into g (g.at[0].set): XLA emits that in-place update as a
        # loop that computes the pulses too and does not vectorize (1.5-1.9x slower for one
        # chip of the digits MLP)
        g_plus = jnp.where(stuck[0], g[0], g_plus)
        return jnp.stack([g_plus, g[1]]), fired, jnp.int32(0)
    counts = jnp.stack([jnp.maximum(n, 0), jnp.maximum(-n, 0)])
    moved = response.apply_pulses(identity, g, counts, key=fold_in(key, 1), max_pulses=max_pulses)
    moved = jnp.where(stuck, g, moved)
    refreshed, extra, due = refresh_pairs(response, identity, moved, key=fold_in(key, 2))
    return jnp.where(stuck, moved, refreshed), fired + extra, jnp.sum(due).astype(jnp.int32)


def _response(spec: HardwareSpec, layer: LayerIdentity) -> AbstractPulseResponse:
    if spec.pulse_response is None or layer.pulses is None:
        raise ParameterError(
            "this hardware spec has no pulse_response; pulsed updates need a pulsed preset"
        )
    return spec.pulse_response


def refresh_pairs(
    response: AbstractPulseResponse,
    identity: PulseIdentity,
    g: Float[Array, "2 rows cols"],
    *,
    key: Array,
) -> tuple[Float[Array, "2 rows cols"], Int[Array, ""], Bool[Array, "rows cols"]]:
    """Refresh the one-way pairs that filled up (Nandakumar et al., Front. Neurosci. 2020).

    A pair is due when one device is above `refresh_upper` and the other above
    `refresh_lower` of the nominal range (aihwkit's `OneSidedUnitCell` rule). Its weight
    G+ - G- is read, both devices are RESET to their own RESET level, and the device of the
    weight's sign is SET back up pulse by pulse, each followed by a read, until it has
    climbed by |G+ - G-| (at most `REFRESH_MAX_PULSES`): closed loop, because one SET pulse
    of a PCM device scatters by about half its mean. Reads are exact here (their noise is the
    read model's business, not modelled in this loop). Round i draws from `fold_in(key, i)`.

    Returns:
        (conductances, SET pulses fired, which pairs were refreshed).
    """
    x = (g - response.g_min) / (response.g_max - response.g_min)
    up, low = response.refresh_upper, response.refresh_lower
    due = ((x[0] > up) & (x[1] > low)) | ((x[0] > low) & (x[1] > up))
    d = g[0] - g[1]
    carrier = jnp.stack([d >= 0, d < 0])  # which device carries the weight back
    g_reset = response.to_g(response.reset_w(identity))
    target = g_reset + jnp.abs(d)

    def needs(g: Array) -> Array:
        return due & carrier & (g < target)

    def body(carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        i, g, fired = carry
        n = needs(g).astype(jnp.int32)
        g = response.apply_pulses(identity, g, n, key=fold_in(key, i), max_pulses=1)
        return i + 1, g, fired + jnp.sum(n)

    start = jnp.where(due, g_reset, g)
    _, rewritten, fired = jax.lax.while_loop(
        lambda c: (c[0] < REFRESH_MAX_PULSES) & jnp.any(needs(c[1])),
        body,
        (jnp.int32(0), start, jnp.int32(0)),
    )
    return rewritten, fired, due
