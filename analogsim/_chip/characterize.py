"""Device characterization as a device paper reports it: programming error and drift."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from device_models import AbstractDeviceModel, AbstractPulseResponse
from device_models._checks import ParameterError, check_int_range, check_nonnegative

from .._core.dataset import experiment_dataset
from .._core.keys import root_key, stream
from .._core.provenance import describe

_BINS = 160  # conductance histogram bins
DEFAULT_TIMES = (20.0, 3600.0, 86400.0, 2592000.0, 31536000.0)


def characterize_device(
    device: AbstractDeviceModel,
    *,
    levels: int = 11,
    times: Sequence[float] = DEFAULT_TIMES,
    devices: int = 100_000,
    seed: int = 0,
    variation: float = 1.0,
    procedure: str = "published",
) -> xr.Dataset:
    """Program `devices` fresh devices to each of `levels` targets and read them over time.

    Every (level, device) pair is its own device, drawn from `stream(root, "identity")`, and is
    programmed once by `procedure` ("published": the preset's published procedure; or
    "open-loop": one write). As in a device paper, the statistics are over the working
    devices and the stuck ones are counted apart: a few devices stuck at 0 or at g_max would
    otherwise dominate a standard deviation.

    Returns:
        Dataset with dims `g_target` (uS) and `t` (s): `prog_mean`, `prog_std` (what a
        noise-free read right after programming sees, uS) and `read_mean`, `read_std` (one read
        at each t with drift, relaxation and read noise, uS), over working devices;
        `stuck_on_fraction`, `stuck_off_fraction` per level (of all devices drawn); and over
        conductance bins `g` (uS), per level, `prog_density` and `read_density` (at the last
        time): the working devices' conductance histograms, as densities (1/uS), and
        `stuck_on_g`, `stuck_off_g`: the mean conductance of the stuck devices (uS; NaN where
        none), where the figure marks them.
    """
    check_int_range("levels", levels, 2, 10_000)
    check_int_range("devices", devices, 1, 10**8)
    if len(times) == 0:
        raise ParameterError("times must hold at least one time")
    check_nonnegative("times", np.asarray(times, np.float64), unit="s")
    root = root_key(seed)
    targets = jnp.linspace(device.g_min, device.g_max, levels, dtype=jnp.float32)
    t = jnp.asarray(times, jnp.float32)

    @jax.jit
    def run(device: AbstractDeviceModel, targets: jax.Array, t: jax.Array):
        shape = (levels, devices)
        identity = device.draw_identity(shape, key=stream(root, "identity"), variation=variation)
        g_target = jnp.broadcast_to(targets[:, None], shape)
        state = device.program(identity, g_target, key=stream(root, "program"), procedure=procedure)
        programmed = device.conductance(identity, state, 0.0)
        working = ~(identity.stuck_on | identity.stuck_off)
        n = jnp.maximum(working.sum(axis=1, dtype=jnp.float32), 1.0)

        def stats(g):
            mean = jnp.where(working, g, 0.0).sum(axis=1) / n
            var = jnp.where(working, (g - mean[:, None]) ** 2, 0.0).sum(axis=1) / n
            return mean, jnp.sqrt(var)

        def read(j, tj):
            return stats(device.conductance(identity, state, tj, key=stream(root, "read", j)))

        read_mean, read_std = jax.vmap(read, out_axes=1)(jnp.arange(t.shape[0]), t)
        last = device.conductance(identity, state, t[-1], key=stream(root, "read", t.shape[0] - 1))
        hist = lambda g: jax.vmap(lambda row, w: jnp.histogram(row, edges, weights=w)[0])(
            g, working.astype(jnp.float32)
        )

        def mean_where(mask, g):
            count = mask.sum(axis=1, dtype=jnp.float32)
            return jnp.where(count > 0, jnp.where(mask, g, 0.0).sum(axis=1) / count, jnp.nan)

        return (
            *stats(programmed),
            read_mean,
            read_std,
            hist(programmed),
            hist(last),
            identity.stuck_on.mean(axis=1, dtype=jnp.float32),
            identity.stuck_off.mean(axis=1, dtype=jnp.float32),
            mean_where(identity.stuck_on, programmed),
            mean_where(identity.stuck_off, programmed),
            n,
        )

    # histogram bins over the whole range and a margin (drift and noise spill past it)
    span = float(device.g_max - device.g_min)
    edges = jnp.linspace(device.g_min - 0.1 * span, device.g_max + 0.3 * span, _BINS + 1)
    (
        prog_mean,
        prog_std,
        read_mean,
        read_std,
        prog_hist,
        read_hist,
        stuck_on,
        stuck_off,
        stuck_on_g,
        stuck_off_g,
        working,
    ) = (np.asarray(a, np.float64) for a in run(device, targets, t))
    centres = np.asarray(0.5 * (edges[1:] + edges[:-1]), np.float64)
    width = float(edges[1] - edges[0])
    density = lambda h: h / (working[:, None] * width)
    last = f"read at t = {float(times[-1]):g} s"
    level = ("g_target",)
    return experiment_dataset(
        {
            "prog_mean": (level, prog_mean),
            "prog_std": (level, prog_std),
            "read_mean": (("g_target", "t"), read_mean),
            "read_std": (("g_target", "t"), read_std),
            "stuck_on_fraction": (level, stuck_on),
            "stuck_off_fraction": (level, stuck_off),
            "stuck_on_g": (level, stuck_on_g),
            "stuck_off_g": (level, stuck_off_g),
            "prog_density": (("g_target", "g"), density(prog_hist)),
            "read_density": (("g_target", "g"), density(read_hist)),
        },
        {
            "g_target": np.asarray(targets, np.float64),
            "t": np.asarray(times, np.float64),
            "g": centres,
        },
        labels={
            "g_target": ("uS", "target conductance"),
            "t": ("s", "time since programming"),
            "g": ("uS", "conductance (histogram bin centre)"),
            "prog_density": ("1/uS", "density of working devices' conductance, programmed"),
            "read_density": ("1/uS", f"density of working devices' conductance {last}"),
            "prog_mean": ("uS", "mean conductance of working devices, programmed"),
            "prog_std": ("uS", "std of conductance of working devices, programmed"),
            "read_mean": ("uS", "mean conductance of working devices read at t"),
            "read_std": ("uS", "std of conductance of working devices read at t"),
            "stuck_on_fraction": ("1", "fraction of devices stuck on (at their own g_max)"),
            "stuck_off_fraction": ("1", "fraction of devices stuck off (at their own g_min)"),
            "stuck_on_g": ("uS", "mean programmed conductance of stuck-on devices"),
            "stuck_off_g": ("uS", "mean programmed conductance of stuck-off devices"),
        },
        experiment="device",
        device=device.name,
        device_citation=device.citation,
        device_model=describe(device),
        devices_per_point=devices,
        seed=seed,
        variation=variation,
        procedure=procedure,
    )


def pulse_response_curve(
    response: AbstractPulseResponse,
    *,
    devices: int = 8,
    pulses: int | None = None,
    seed: int = 0,
    variation: float = 1.0,
) -> xr.Dataset:
    """Conductance of `devices` devices of one chip under `pulses` up pulses, then as many down
    (one-way devices such as PCM: up only, from their RESET level).

    Devices start at their own lower bound; by default the train is long enough to cross the
    nominal range 1.2 times at the controller's nominal step. Device i is device i of the
    identity drawn from `stream(root_key(seed), "identity")`, pulse p draws its noise from
    `stream(root, "update", p)`.

    Returns:
        Dataset with `conductance` (dims `device`, `pulse`; uS) and the coordinate
        `direction` (+1 up, -1 down) along `pulse`.
    """
    check_int_range("devices", devices, 1, 10**6)
    if pulses is None:
        states = float((response.w_max - response.w_min) / response.nominal_step())
        pulses = int(min(1.2 * states, 50_000))
    check_int_range("pulses", pulses, 1, 10**6)
    root = root_key(seed)
    identity = response.draw_identity((devices,), key=stream(root, "identity"), variation=variation)
    direction = np.ones(pulses, np.int32)
    if not response.unidirectional:
        direction = np.concatenate([direction, -direction])

    @jax.jit
    def run(identity, direction):
        def one(g, inputs):
            p, d = inputs
            g = response.apply_pulses(
                identity,
                g,
                jnp.full(g.shape, d, jnp.int32),
                key=stream(root, "update", p),
                max_pulses=1,
            )
            return g, g

        g0 = response.to_g(response.floor_w(identity))  # a one-way device: its RESET level
        _, trace = jax.lax.scan(one, g0, (jnp.arange(direction.shape[0]), direction))
        return jnp.concatenate([g0[None], trace]).T

    g = np.asarray(run(identity, jnp.asarray(direction)), np.float64)
    pulse = "pulse number (up)" if response.unidirectional else "pulse number (up, then down)"
    return experiment_dataset(
        {"conductance": (("device", "pulse"), g)},
        {
            "device": np.arange(devices),
            "pulse": np.arange(g.shape[1]),
            "direction": ("pulse", np.concatenate([[0], direction])),
        },
        labels={"conductance": ("uS", "device conductance"), "pulse": (None, pulse)},
        experiment="pulse_response",
        device=response.name,
        device_citation=response.citation,
        device_model=describe(response),
        seed=seed,
        variation=variation,
    )
