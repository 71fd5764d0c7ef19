"""The grid every sweep runs over: its values checked against the spec, its labels and the
manifest entries every sweep's store keeps.

A grid is validated against the spec before any work (names, values the spec's constructors
accept). Traced numbers are `vmap`ped with the chip index inside one compiled program;
shape-deciding settings (`STATIC`) loop in Python, one program each. Chip i is
`chip_key(root_key(seed), i)` at every grid point (common random numbers), so neighbouring
points differ by the parameter, not by luck. `_sweep.chunks` runs the chunks.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from device_models._checks import ParameterError

from .._chip.spec import HardwareSpec
from .._chip.sweepable import STATIC, check_params, check_values, units
from .._core.provenance import describe
from .._nn.networks import Network
from .._version import __version__


def parse_values(text: str) -> list[float]:
    """`a,b,c` (the values) or `start:stop:count` (`count` evenly spaced values, both ends
    included)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ValueError
            values = np.linspace(start, stop, count).tolist()
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(
            f"malformed values {text!r}: use a,b,c or start:stop:count (count >= 1)"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"malformed values {text!r}: need at least one finite number")
    return values


@dataclasses.dataclass(frozen=True)
class Grid:
    """A validated sweep grid.

    Attributes:
        values: parameter name -> its values, in the order given.
        static: shape-deciding settings (`STATIC`), looped in Python, one program each.
        traced: numbers vmapped inside one program (spec parameters and traced experiment
            settings); point p is C order over them.
        other: experiment settings the experiment handles itself (e.g. read times `t`).
    """

    values: dict[str, list[float]]
    static: tuple[str, ...]
    traced: tuple[str, ...]
    other: tuple[str, ...]

    @functools.cached_property
    def points(self) -> np.ndarray:
        """The traced values of every point, (points, len(traced)) float32."""
        axes = np.meshgrid(
            *(np.asarray(self.values[n], np.float32) for n in self.traced), indexing="ij"
        )
        if not self.traced:
            return np.zeros((1, 0), np.float32)
        return np.stack([a.ravel() for a in axes], -1).astype(np.float32)

    @property
    def groups(self) -> list[tuple[tuple[int, ...], dict[str, int]]]:
        """Every combination of the static settings (one compiled program each): its indices
        along the static axes and its settings."""
        out = []
        for index in itertools.product(*(range(len(self.values[n])) for n in self.static)):
            settings = {n: int(self.values[n][i]) for n, i in zip(self.static, index, strict=True)}
            out.append((index, settings))
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.values[n]) for n in (*self.static, *self.traced))


def make_grid(
    spec: HardwareSpec,
    grid: dict[str, Sequence[float]],
    *,
    traced_settings: tuple[str, ...] = (),
    other: tuple[str, ...] = (),
) -> Grid:
    """Validate `grid` for `spec`: known names (the error lists the sweepable ones), at least
    one value each, values the spec accepts (`check_values`).

    Args:
        traced_settings: experiment settings that are traced numbers (e.g. a learning rate).
        other: experiment settings the experiment handles itself.
    """
    if not grid:
        raise ParameterError("the grid is empty: give at least one parameter and its values")
    names = list(grid)
    check_params(spec, names, extra=(*traced_settings, *other))
    values = {n: [float(v) for v in grid[n]] for n in names}
    for n, vs in values.items():
        if not vs:
            raise ParameterError(f"parameter {n!r} has no values")
        if not all(math.isfinite(v) for v in vs):
            raise ParameterError(f"parameter {n!r} has a value that is not a finite number")
    check_values(spec, values)
    return Grid(
        values=values,
        static=tuple(n for n in names if n in STATIC),
        traced=tuple(n for n in names if n not in STATIC and n not in other),
        other=tuple(n for n in names if n in other),
    )


def grid_labels(grid: Grid) -> dict[str, tuple[str | None, str | None]]:
    """Labels (`_core.dataset`) of every swept coordinate (its units) and of `chip`."""
    return {
        **{n: (units(n), None) for n in grid.values},
        "chip": (None, "chip index (chip_key(root_key(seed), i))"),
    }


def sweep_manifest(
    spec: HardwareSpec,
    experiment: str,
    grid: Grid,
    chips: int,
    seed: int,
    chunk_size: int,
    *,
    network: Network | list[Any],
) -> dict[str, Any]:
    """The manifest entries every sweep has (experiments add their settings and hashes);
    `network` is a built-in network or a description of a model (`[name, leaf shapes]`)."""
    if isinstance(network, Network):
        network = [network.name, [list(s) for s in network.shapes]]
    return {
        "analogsim_version": __version__,
        "experiment": experiment,
        "grid": grid.values,
        "chips": chips,
        "seed": seed,
        "chunk_size": chunk_size,
        "hardware_spec": describe(spec),
        "network": network,
    }
