"""Which process writes: in a run over several processes only process 0 writes and prints."""

from __future__ import annotations

import jax


def is_main_process() -> bool:
    """True in process 0 (and in a run of one process): the one that writes and prints."""
    return jax.process_index() == 0
