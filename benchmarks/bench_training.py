"""Speed of in-situ training against plain digital SGD, and of a fleet against one chip.

    python benchmarks/bench_training.py [--rounds 3] [--epochs 5] [--json FILE]
    python benchmarks/bench_training.py --breakdown   # where one chip's step goes

Cases (seconds per epoch of the digits MLP 64-128-10 at batch 16, 84 steps an epoch):
  in_situ_epoch   one gokmen_vlasov chip in the loop (analog forward, gradients through the
                  chip, pulsed updates) vs the same network's plain digital SGD epoch in JAX.
  fleet32_epoch   32 chips trained together in one vmapped run, split over one JAX CPU
                  device per core (`use_cpu_cores`, as `analogsim train` runs), vs one chip
                  on one device.
Epoch times are medians over the epochs after the first (which compiles) of every round; each
round runs all the cases one after the other, so machine noise over time hits them alike.

`in_situ_epoch` also reports its floor (`floor_s`, `floor_ratio` = floor_s / digital_s): the
digital SGD epoch plus the noise draws of an in-situ epoch, made the cheapest way (in bulk,
once per epoch) with the model's generator, and nothing else. Per step and layer: one
Gaussian per ADC conversion, one uniform per device for the stochastic rounding of its
pulse count, one Gaussian per device that takes pulses (its cycle-to-cycle noise; one per
device, the fewest any family draws) and one per device read when the read model has read
noise. No read, converter, gradient through the chip or device response is in it, so the
in-situ epoch can only approach it.
"""

from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
import optax
from _record import write_record
from _timing import interleaved  # benchmarks/ (the script's own directory)

import analogsim as A
from analogsim._chip.identity import tile_counts
from analogsim._chip.presets import spec_for
from analogsim._learn.in_situ import chip_gradients, in_situ_step, opt_init_tree
from analogsim._learn.in_situ_fleet import in_situ_epoch, init_fleet
from analogsim._learn.train import train_in_situ
from analogsim._nn.digital import cross_entropy
from device_models import fold_in, noise_normal, noise_uniform

A.use_cpu_cores()  # one JAX device per core, before JAX starts


def _in_situ_epochs(chips: int, epochs: int) -> list[float]:
    """Seconds of each epoch after the first (which includes compilation). One chip runs on
    one device; a fleet is split over all of them (one per CPU core)."""
    spec, net, data = spec_for("gokmen_vlasov"), A.mlp(), A.load_digits()
    devices = 1 if chips == 1 else None
    out = train_in_situ(spec, net, data, chips=chips, epochs=epochs, devices=devices)
    return list(out["epoch_seconds"][1:])


def epoch_draws(spec: A.HardwareSpec, shapes, batch: int, steps: int, key) -> tuple:
    """As many draws as `steps` in-situ steps make (module docstring), drawn the cheapest
    way: all the Gaussians of the epoch in one array, all its uniforms in another (returned,
    so that XLA computes them)."""
    pair = 2 if spec.pulse_response.unidirectional else 1
    normals, uniforms = 0, 0
    for rows, cols in shapes:
        normals += tile_counts(spec, rows, cols)[0] * batch * cols  # conversions
        normals += pair * rows * cols + (2 * rows * cols if spec.device.has_read_noise else 0)
        uniforms += rows * cols
    return noise_normal(key, (steps, normals)), noise_uniform(key, (steps, uniforms))


def _digital_epoch(draws: A.HardwareSpec | None = None) -> tuple:
    """(jitted epoch of plain digital SGD, its arguments); with `draws`, the epoch also makes
    the noise draws of an in-situ epoch for that spec (the floor)."""
    net, data = A.mlp(), A.load_digits()
    params = A.init_params(net, key=jax.random.key(0))
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    steps = x.shape[0] // 16
    batches = jnp.arange(steps * 16).reshape(steps, 16)
    opt = optax.sgd(0.2)

    @jax.jit
    def epoch(params, opt_state, key):
        def step(carry, idx):
            p, s = carry
            g = jax.grad(lambda p: cross_entropy(A.apply_digital(net, p, x[idx]), y[idx]))(p)
            u, s = opt.update(g, s)
            return (optax.apply_updates(p, u), s), None

        out = jax.lax.scan(step, (params, opt_state), batches)[0]
        if draws is None:
            return out
        return out, epoch_draws(draws, net.shapes, batches.shape[1], batches.shape[0], key)

    return epoch, (params, opt.init(params), jax.random.key(1))


def _breakdown(repeats: int) -> dict[str, float]:
    """Microseconds a step of one gokmen_vlasov chip (one device), by how much of the step
    runs: the analog forward alone; the loss and its gradients through the chip; the whole
    step (`in_situ_step`: gradients, SGD, pulses); and a step of `in_situ_epoch` as
    training runs it (a fleet of one chip: shuffled batches, noise and rounding drawn
    ahead per block, pulse and finiteness tallies). The first three are plain scans over
    the same 84 batches; the digital SGD step is the reference."""
    spec, net, data = spec_for("gokmen_vlasov"), A.mlp(), A.load_digits()
    data = data.for_network(net)
    root = A.root_key(0)
    params = A.init_params(net, key=A.stream(root, "train", 0))
    keys = A.chip_key(root, 0)[None]
    chips, states = init_fleet(spec, net, params, keys)
    chip, state = jax.tree.map(lambda a: a[0], (chips, states))
    x_all, y_all = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    steps = x_all.shape[0] // 16
    x, y = x_all[: steps * 16].reshape(steps, 16, -1), y_all[: steps * 16].reshape(steps, 16)
    opt = optax.sgd(0.2)

    def scan(part: str):
        def step(st, inputs):
            j, xb, yb = inputs
            k = fold_in(jax.random.key(3), j)  # as training derives keys: no threefry loop
            if part == "forward":
                return st, jnp.sum(A.apply_analog(spec, net, chip, st, xb, t=1.0, key=k))
            grads, value, _ = chip_gradients(spec, net, chip, st, xb, yb, key=k)
            if part == "gradients":  # used, so that XLA computes them
                return st, value + sum(jnp.sum(g) for g in jax.tree.leaves(grads))
            st, _, value, fired, _ = in_situ_step(
                spec, net, chip, st, opt, opt.init(opt_init_tree(st)), xb, yb, key=k
            )
            return st, value + fired

        return jax.jit(lambda st: jax.lax.scan(step, st, (jnp.arange(steps), x, y)))

    def epoch(states):
        return in_situ_epoch(
            spec,
            net,
            chips,
            states,
            x_all,
            y_all,
            keys,
            root,
            jnp.int32(0),
            jnp.float32(0.2),
            batch_size=16,
        )

    digital, digital_args = _digital_epoch()
    cases = {
        "digital SGD": (digital, digital_args),
        "forward": (scan("forward"), (state,)),
        "gradients": (scan("gradients"), (state,)),
        "step": (scan("step"), (state,)),
        "epoch": (jax.jit(epoch), (states,)),
    }
    times = interleaved(*cases.values(), repeats=repeats)
    return {name: statistics.median(t) / steps * 1e6 for name, t in zip(cases, times, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all the cases")
    parser.add_argument("--repeats", type=int, default=9, help="digital epochs per round")
    parser.add_argument("--epochs", type=int, default=5, help="in-situ epochs per round")
    parser.add_argument("--json")
    parser.add_argument(
        "--breakdown", action="store_true", help="where one chip's step goes (us), and stop"
    )
    args = parser.parse_args()
    if args.breakdown:
        for name, us in _breakdown(max(5, args.repeats)).items():
            print(f"{name:<12}{us:>8.1f} us a step")
        return
    cases = (_digital_epoch(), _digital_epoch(draws=spec_for("gokmen_vlasov")))
    times = {"digital": [], "floor": [], "one": [], "fleet": []}
    for _ in range(args.rounds):
        digital, floor = interleaved(*cases, repeats=max(5, args.repeats))
        times["digital"] += digital
        times["floor"] += floor
        times["one"] += _in_situ_epochs(1, args.epochs)
        times["fleet"] += _in_situ_epochs(32, args.epochs)
    digital, floor, one, fleet = (statistics.median(t) for t in times.values())
    results = [
        {
            "case": "in_situ_epoch",
            "analog_s": one,
            "digital_s": digital,
            "ratio": one / digital,
            "floor_s": floor,
            "floor_ratio": floor / digital,
        },
        {
            "case": "fleet32_epoch",
            "analog_s": fleet,
            "digital_s": one,
            "ratio": fleet / one,
            "note": "digital_s here is one chip's in-situ epoch",
        },
    ]
    print(f"{'case':<16}{'analog (s)':>12}{'reference (s)':>15}{'ratio':>8}")
    for r in results:
        print(f"{r['case']:<16}{r['analog_s']:>12.3f}{r['digital_s']:>15.4f}{r['ratio']:>8.2f}")
    print(f"floor of in_situ_epoch: {floor:.4f} s, {floor / digital:.2f} x digital")
    if args.json:
        write_record(args.json, "bench_training", results)


if __name__ == "__main__":
    main()
