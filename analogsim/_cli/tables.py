"""Printed tables: a fleet's rows and times in words."""

from __future__ import annotations

TABLE_EDGE = 8  # a fleet of more than 2 * TABLE_EDGE chips prints its first and last few


def table_rows(chips: int) -> list[int | None]:
    """Chip rows of a printed table: all of them, or the first and last `TABLE_EDGE` with
    None marking the gap."""
    if chips <= 2 * TABLE_EDGE:
        return list(range(chips))
    return [*range(TABLE_EDGE), None, *range(chips - TABLE_EDGE, chips)]


def gap(chips: int) -> str:
    return f"  ... {chips - 2 * TABLE_EDGE} more chips (all in the dataset)"


def fmt_time(t: float) -> str:
    for value, name in [(31536000.0, "y"), (86400.0, "d"), (3600.0, "h"), (60.0, "min")]:
        if t >= value:
            return f"{t / value:g} {name}"
    return f"{t:g} s"


def fmt_si(value: float, unit: str) -> str:
    """`value` with an SI prefix: 3.2e-9, "J" -> "3.2 nJ"."""
    if value == 0:
        return f"0 {unit}"
    for scale, prefix in [
        (1e-15, "f"),
        (1e-12, "p"),
        (1e-9, "n"),
        (1e-6, "u"),
        (1e-3, "m"),
        (1.0, ""),
    ]:
        if abs(value) < scale * 1000:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
