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

Each case also times its floor (`floor_s`, `floor_ratio` = floor_s / digital_s), side by side
with the other two: the work the modelled physics cannot do without, and nothing else. Per
layer, the matrix products the input encoding needs (amplitude encoding: two, since each
device's I-V law I = g v (1 + k (v^2 - 1)) adds a cubic term with its own per-device k; PWM:
one), plus the bias and ReLU the digital forward has, plus the noise draws the model makes
with its generator: one Gaussian per device read (when the device has read noise) and one
per ADC conversion (each row tile's converters their own), computed and returned. No
converter, drift, read gain, variation or digital correction is in it, so the analog call
can only approach it.
`products_s` / `products_ratio` time the products alone (the floor without its draws).
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from _record import machine, write_record
from _timing import interleaved  # benchmarks/ (the script's own directory)

import analogsim as A
from analogsim._chip.tile import output_noise_draws
from analogsim._fleet.mesh import fleet_vmap, shard_rows
from analogsim._nn.data import load_digits
from device_models import noise_normal

A.use_cpu_cores()  # one JAX device per core, before JAX starts


def floor_layer(
    spec: A.HardwareSpec,
    h: jax.Array,
    w: jax.Array,
    w_cub: jax.Array,
    b: jax.Array,
    key,
    draws: bool = True,
) -> tuple[jax.Array, list[jax.Array]]:
    """One layer's floor (module docstring): its products and bias, and (with `draws`) the
    Gaussians of one read and of `h`'s conversions. Returns (outputs before the activation,
    the draws). The draws are returned rather than used: fused into the work that uses
    them, XLA's CPU backend computes them once per consumer, and the floor would no longer
    be one."""
    rows, cols = w.shape
    y = h @ w + b
    if spec.input_encoding == "amplitude":
        y = y + (h * h * h) @ w_cub
    drawn = []
    if draws and spec.device.has_read_noise:
        drawn.append(noise_normal(jax.random.fold_in(key, 0), (2, rows, cols)))  # G+, G-
    if draws:
        # the model draws conversion noise whatever `output_noise` (a traced number) is
        batch = h.shape[0] + (1 if spec.drift_compensation else 0)
        drawn.append(output_noise_draws(spec, rows, cols, batch, key=jax.random.fold_in(key, 1)))
    return y, drawn


def floor_forward(spec: A.HardwareSpec, params, x: jax.Array, key, draws: bool = True) -> tuple:
    """The floor of one analog forward of an MLP (`floor_layer` per layer, ReLU between):
    (outputs, every draw)."""
    h, drawn = x, []
    for i, p in enumerate(params):
        k = jax.random.fold_in(key, i)
        y, d = floor_layer(spec, h, p["w"], p["w_cub"], p["b"], k, draws)
        h, drawn = (jax.nn.relu(y) if i < len(params) - 1 else y), drawn + d
    return h, drawn


def with_cubic(params):
    """The weights plus a second matrix per layer for the cubic products of the floor."""
    return [dict(p, w_cub=0.05 * p["w"]) for p in params]


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
    floor, products = (jax.jit(partial(floor_forward, spec, draws=d)) for d in (True, False))
    floor_args = (with_cubic(params), x, jax.random.key(4))
    times = _medians(
        (analog, (chip, state, x, jnp.float32(3600.0), jax.random.key(4))),
        (digital, (params, x)),
        (floor, floor_args),
        (products, floor_args),
        repeats=repeats,
    )
    name = "mlp784_b1024" + ("" if encoding == "amplitude" else f"_{encoding}")
    return _result(name, *times)


def _medians(*cases: tuple, repeats: int) -> list[float]:
    """Median seconds of each case, alternated; each timed run follows one untimed run."""
    return [statistics.median(t) for t in interleaved(*cases, repeats=repeats, settle=1)]


def _result(name: str, analog: float, digital: float, floor: float, products: float) -> dict:
    return {
        "case": name,
        "analog_s": analog,
        "digital_s": digital,
        "ratio": analog / digital,
        "floor_s": floor,
        "floor_ratio": floor / digital,
        "products_s": products,
        "products_ratio": products / digital,
    }


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

    def fleet_floor(draws: bool):
        one = lambda params, key, x: floor_forward(spec, params, x, key, draws)
        return jax.jit(lambda params, keys, x: fleet_vmap(partial(one, x=x), mesh)(params, keys))

    floor, products = fleet_floor(True), fleet_floor(False)
    floor_args = (shard_rows(mesh, with_cubic([{"w": w1, "b": b1}, {"w": w2, "b": b2}])), keys, x)
    times = _medians(
        (analog, (chip, state, keys, x, jnp.float32(3600.0))),
        (digital, (w1, b1, w2, b2, x)),
        (floor, floor_args),
        (products, floor_args),
        repeats=repeats,
    )
    return _result("fleet256_digits", *times)


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
    where = machine()  # also the record's header (`write_record`)
    print(f"backend {where['backend']}, {where['cpus']} CPUs, jax {jax.__version__}")
    print(
        f"{'case':<18}{'analog (ms)':>13}{'digital (ms)':>14}{'ratio':>8}"
        f"{'floor (ms)':>12}{'floor ratio':>13}{'products ratio':>16}"
    )
    for r in results:
        print(
            f"{r['case']:<18}{r['analog_s'] * 1e3:>13.2f}{r['digital_s'] * 1e3:>14.2f}"
            f"{r['ratio']:>8.2f}{r['floor_s'] * 1e3:>12.2f}{r['floor_ratio']:>13.2f}"
            f"{r['products_ratio']:>16.2f}"
        )
    if args.json:
        write_record(args.json, "bench_forward", results)


if __name__ == "__main__":
    main()
