#!/usr/bin/env bash
# dieharder on the per-event noise generator: the raw 32-bit words of
# device_models.noise_bits under the successive keys fold_in(key(SEED), 0), fold_in(key(SEED), 1),
# ..., BLOCK words from each, streamed into dieharder's stdin generator (-g 200).
#
#   benchmarks/dieharder.sh                  # every test: dieharder -g 200 -a (a long run)
#   benchmarks/dieharder.sh -d 0             # one test (here: diehard_birthdays)
#   SEED=1 BLOCK=65536 benchmarks/dieharder.sh -d 15
#
# Arguments are passed to dieharder (default: -a). Needs dieharder on the PATH (Debian and
# Ubuntu: apt-get install dieharder) and analogsim's environment (device_models, JAX).
set -euo pipefail
command -v dieharder >/dev/null || { echo "dieharder: not found (apt-get install dieharder)" >&2; exit 2; }
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || set -- -a

JAX_PLATFORMS=cpu python -c '
import os, sys

import jax
import numpy as np

import device_models as dm

seed, block = int(os.environ.get("SEED", "0")), int(os.environ.get("BLOCK", str(1 << 20)))
root = jax.random.key(seed)
words = jax.jit(lambda i: dm.noise_bits(dm.fold_in(root, i), (block,)))
out = sys.stdout.buffer
try:
    for i in range(2**32):  # dieharder stops reading when its tests are done
        out.write(np.asarray(words(np.uint32(i))).astype("<u4").tobytes())
except BrokenPipeError:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
' | dieharder -g 200 "$@"
