"""Associative recall: a sequence task generated procedurally (no download) that a small
transformer learns on a CPU in minutes and that needs attention to solve.

Each example is `n` key-value pairs followed by a query key, `k1 v1 k2 v2 ... kn vn q`; the
answer is the value that followed `q`. Keys are tokens 0..keys-1 (distinct within a
sequence), values tokens keys..keys+values-1; the label is the value's index 0..values-1.
Finding the answer takes two steps of attention (match the query with its earlier
occurrence, then copy the token after it), the "induction head" mechanism (Olsson et al.,
2022, In-context learning and induction heads, arXiv:2209.11895); the task is the
associative-recall probe of Ba et al. (2016, arXiv:1610.06258) and Arora et al. (2023,
Zoology, arXiv:2312.04927).
"""

from __future__ import annotations

import numpy as np

from device_models._checks import ParameterError, check_int_range

from .data import Dataset


def recall_sequences(
    n: int, *, pairs: int, keys: int, values: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n` recall sequences, tokens (n, 2 * pairs + 1) int32, and their labels (n,) int32."""
    rng = np.random.default_rng(seed)
    key_tokens = np.argsort(rng.random((n, keys)), axis=1)[:, :pairs]  # distinct per sequence
    value_tokens = keys + rng.integers(0, values, (n, pairs))
    which = rng.integers(0, pairs, n)
    tokens = np.empty((n, 2 * pairs + 1), np.int32)
    tokens[:, 0:-1:2], tokens[:, 1:-1:2] = key_tokens, value_tokens
    tokens[:, -1] = key_tokens[np.arange(n), which]
    labels = value_tokens[np.arange(n), which] - keys
    return tokens, labels.astype(np.int32)


def associative_recall(
    *,
    pairs: int = 8,
    keys: int = 16,
    values: int = 16,
    train: int = 20000,
    test: int = 2000,
    seed: int = 0,
) -> Dataset:
    """The recall task as a `Dataset`: `x` token sequences (examples, 2 * pairs + 1), int32,
    `y` the recalled value's index. Training and test sequences come from different seeds
    (`2 * seed` and `2 * seed + 1`), so the test set is held out (with 16 keys and 8 pairs
    there are about 10^18 possible sequences). The vocabulary is `keys + values` tokens;
    chance accuracy is 1 / values."""
    check_int_range("pairs", pairs, 1, 1 << 16)
    check_int_range("values", values, 2, 1 << 16)
    check_int_range("train", train, 1, 1 << 26)
    check_int_range("test", test, 1, 1 << 26)
    if keys < pairs:
        raise ParameterError(
            f"keys must be >= pairs (distinct keys per sequence); got {keys} < {pairs}"
        )
    x_tr, y_tr = recall_sequences(train, pairs=pairs, keys=keys, values=values, seed=2 * seed)
    x_te, y_te = recall_sequences(test, pairs=pairs, keys=keys, values=values, seed=2 * seed + 1)
    return Dataset("recall", x_tr, y_tr, x_te, y_te)
