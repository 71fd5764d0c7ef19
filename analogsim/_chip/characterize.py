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
) -> xr.Dataset:
    """Program `devices` fresh devices to each of `levels` targets and read them over time.

    Every (level, device) pair is its own device, drawn from `stream(root, "identity")`, and is
    written open loop once. Statistics are over devices, as in a device paper's figures.

    Returns:
        Dataset with dims `g_target` (uS) and `t` (s): `prog_mean`, `prog_std` (what a
        noise-free read right after the write sees, uS) and `read_mean`, `read_std` (one read
        at each t with drift, relaxation and read noise, uS); and over conductance bins `g`
        (uS), per level, `prog_density` and `read_density` (at the last time): the
        conductance histograms per programmed level, as densities (1/uS).
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
        state = device.program(identity, g_target, key=stream(root, "program"))
        programmed = device.conductance(identity, state, 0.0)

        def read(j, tj):
            g = device.conductance(identity, state, tj, key=stream(root, "read", j))
            return g.mean(axis=1), g.std(axis=1)

        read_mean, read_std = jax.vmap(read, out_axes=1)(jnp.arange(t.shape[0]), t)
        last = device.conductance(identity, state, t[-1], key=stream(root, "read", t.shape[0] - 1))
        hist = lambda g: jax.vmap(lambda row: jnp.histogram(row, edges)[0])(g)
        return (
            programmed.mean(axis=1),
            programmed.std(axis=1),
            read_mean,
            read_std,
            hist(programmed),
            hist(last),
        )

    # histogram bins over the whole range and a margin (drift and noise spill past it)
    span = float(device.g_max - device.g_min)
    edges = jnp.linspace(device.g_min - 0.1 * span, device.g_max + 0.3 * span, _BINS + 1)
    prog_mean, prog_std, read_mean, read_std, prog_hist, read_hist = (
        np.asarray(a, np.float64) for a in run(device, targets, t)
    )
    centres = np.asarray(0.5 * (edges[1:] + edges[:-1]), np.float64)
    width = float(edges[1] - edges[0])
    density = lambda h: h / (devices * width)
    last = f"read at t = {float(times[-1]):g} s"
    return experiment_dataset(
        {
            "prog_mean": (("g_target",), prog_mean),
            "prog_std": (("g_target",), prog_std),
            "read_mean": (("g_target", "t"), read_mean),
            "read_std": (("g_target", "t"), read_std),
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
            "prog_density": ("1/uS", "density of conductance after one write"),
            "read_density": ("1/uS", f"density of conductance {last}"),
            "prog_mean": ("uS", "mean conductance after one write"),
            "prog_std": ("uS", "std of conductance after one write"),
            "read_mean": ("uS", "mean conductance read at t"),
            "read_std": ("uS", "std of conductance read at t"),
        },
        experiment="device",
        device=device.name,
        device_citation=device.citation,
        device_model=describe(device),
        devices_per_point=devices,
        seed=seed,
        variation=variation,
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
