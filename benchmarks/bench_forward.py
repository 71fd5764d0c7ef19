"""Speed of the analog forward against the plain digital forward of the same weights.

    python benchmarks/bench_forward.py [--repeats 21] [--json FILE]

Cases (medians of repeated runs after compilation, analog and digital timed side by side):
  mlp784_b1024     PCM, 8-bit DAC/ADC, read noise, all variation on, MLP 784-256-256-10,
                   batch 1024, one chip; digital = jitted x @ W + b with ReLU.
  mlp784_b1024_pwm the same with pulse-width-modulated inputs (no I-V nonlinearity term).
  fleet256_digits  256 PCM chips, digits MLP 64-128-10 on all 1797 digits, one compiled
                   call, the chips split over one JAX CPU device per core (`use_cpu_cores`,
                   as `analogsim simulate` runs); digital = batched einsum over 256 weight
                   sets of the same shapes (its matrix products use every core as well).
The analog time includes reading the array at time t (drift, read noise) on every call.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import analogsim as A
from analogsim._data import load_digits
from analogsim._mesh import fleet_vmap, shard_rows

A.use_cpu_cores()  # one JAX device per core, before JAX starts


def _median_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interleaved(analog, digital, repeats: int) -> tuple[float, float]:
    """Medians of analog and digital runs alternated, so machine noise hits both alike."""
    a_fn, a_args = analog
    d_fn, d_args = digital
    jax.block_until_ready(a_fn(*a_args))
    jax.block_until_ready(d_fn(*d_args))
    ta, td = [], []
    for _ in range(repeats):
        ta.append(_median_time(a_fn, *a_args, repeats=1))
        td.append(_median_time(d_fn, *d_args, repeats=1))
    return statistics.median(ta), statistics.median(td)


def mlp784_b1024(repeats: int, encoding: str = "amplitude") -> dict:
    # PCM, 8-bit converters, read noise, nominal variation
    spec = A.HardwareSpec(input_encoding=encoding)
    net = A.mlp((784, 256, 256, 10))
    params = A.init_params(net, key=jax.random.key(0))
    chip = A.make_chip(spec, net.shapes, key=jax.random.key(1))
    state = A.program_chip(spec, chip, params, key=jax.random.key(2))
    x = jax.random.uniform(jax.random.key(3), (1024, 784))

    analog = jax.jit(
        lambda chip, state, x, t, key: A.apply_analog(spec, net, chip, state, x, t=t, key=key)
    )
    digital = jax.jit(lambda p, x: A.apply_digital(net, p, x))
    a, d = _interleaved(
        (analog, (chip, state, x, jnp.float32(3600.0), jax.random.key(4))),
        (digital, (params, x)),
        repeats,
    )
    name = "mlp784_b1024" + ("" if encoding == "amplitude" else f"_{encoding}")
    return {"case": name, "analog_s": a, "digital_s": d, "ratio": a / d}


def fleet256_digits(repeats: int, chips: int = 256) -> dict:
    spec = A.HardwareSpec()
    net = A.mlp((64, 128, 10))
    data = load_digits()
    x = jnp.asarray(np.concatenate([data.x_train, data.x_test]))  # all 1797 digits
    params = A.init_params(net, key=jax.random.key(0))
    root = A.root_key(0)

    def build(i):
        ck = A.chip_key(root, i)
        chip = A.make_chip(spec, net.shapes, key=A.stream(ck, "identity"))
        return chip, A.program_chip(spec, chip, params, key=A.stream(ck, "program"))

    # the chips split over the CPU devices (one per core, `use_cpu_cores`), as `simulate` runs
    mesh = A.chip_mesh()
    chip, state = jax.jit(jax.vmap(build))(jnp.arange(chips))
    keys = jax.vmap(lambda i: A.stream(A.chip_key(root, i), "read"))(jnp.arange(chips))
    chip, state, keys = shard_rows(mesh, (chip, state, keys))

    @jax.jit
    def analog(chip, state, keys, x, t):
        one = lambda c, s, k: A.apply_analog(spec, net, c, s, x, t=t, key=k)
        return fleet_vmap(one, mesh)(chip, state, keys)

    w1 = jax.random.normal(jax.random.key(5), (chips, 64, 128))
    w2 = jax.random.normal(jax.random.key(6), (chips, 128, 10))
    b1, b2 = jnp.zeros((chips, 128)), jnp.zeros((chips, 10))

    @jax.jit
    def digital(w1, b1, w2, b2, x):
        h = jax.nn.relu(jnp.einsum("bi,cio->cbo", x, w1) + b1[:, None])
        return jnp.einsum("cbi,cio->cbo", h, w2) + b2[:, None]

    a, d = _interleaved(
        (analog, (chip, state, keys, x, jnp.float32(3600.0))),
        (digital, (w1, b1, w2, b2, x)),
        repeats,
    )
    return {"case": "fleet256_digits", "analog_s": a, "digital_s": d, "ratio": a / d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    results = [
        mlp784_b1024(args.repeats),
        mlp784_b1024(args.repeats, encoding="pwm"),
        fleet256_digits(max(5, args.repeats // 3)),
    ]
    meta = {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "jax": jax.__version__,
    }
    print(f"backend {meta['backend']}, {meta['cpus']} CPUs, jax {meta['jax']}")
    print(f"{'case':<18}{'analog (ms)':>13}{'digital (ms)':>14}{'ratio':>8}")
    for r in results:
        r.update(meta)
        print(
            f"{r['case']:<18}{r['analog_s'] * 1e3:>13.2f}{r['digital_s'] * 1e3:>14.2f}"
            f"{r['ratio']:>8.2f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
