"""Test set-up: 8 forced CPU devices, fast compiles, strict dtypes, a seeded key fixture."""

import os
import tempfile

# Before JAX starts: 8 host devices for sharding tests, and XLA's backend (LLVM) optimization
# level 0: tests compile many programs and run each briefly, so compile time dominates.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
).strip()

# Most tests run their fleets on one device (padding a 4-chip fleet to 8 devices would double
# its work on 2 cores); the sharding tests ask for their device counts explicitly.
os.environ.setdefault("ANALOGSIM_DEVICES", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
# Identical programs compiled by different tests are compiled once per session.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="analogsim-xla-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def key(request):
    """A typed PRNG key whose seed is printed (shown when a test fails)."""
    seed = 1234
    print(f"{request.node.name}: key seed {seed}")
    return jax.random.key(seed)
