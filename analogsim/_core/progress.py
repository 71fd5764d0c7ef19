"""Progress bars for long runs (tqdm on stderr; silent when disabled)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **_: object) -> None:
        pass


@contextmanager
def progress_bar(*, total: int, desc: str, unit: str, enabled: bool) -> Iterator[object]:
    """A tqdm bar (with a time-left estimate) if `enabled`, else a no-op with `.update`."""
    if not enabled:
        yield _Silent()
        return
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar
