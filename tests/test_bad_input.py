"""Every public entry point names the parameter and the accepted range when given bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY_NET, tiny_chip, tiny_inputs, tiny_params

import analogsim as A
import device_models as dm
from analogsim._chip.characterize import characterize_device
from analogsim._fleet.simulate import simulate
from analogsim._nn.data import load_digits
from analogsim._nn.digital import train_digital

BAD = [
    ("read_gain_sigma", lambda: dm.DeviceVariation(read_gain_sigma=-0.1)),
    ("stuck_on_prob", lambda: dm.DeviceVariation(stuck_on_prob=1.5)),
    ("stuck_off_prob", lambda: dm.DeviceVariation(stuck_off_prob=-0.01)),
    ("iv_nonlinearity_sigma", lambda: dm.DeviceVariation(iv_nonlinearity_sigma=-1.0)),
    ("g_min must be below g_max", lambda: dm.PCM(g_min=30.0, g_max=25.0)),
    ("g_min must be below g_max", lambda: dm.RRAM(g_min=40.0)),
    ("g_max", lambda: dm.PCM(g_max=0.0)),
    ("prog_noise_scale", lambda: dm.RRAM(prog_noise_scale=-1.0)),
    (
        "unknown device preset 'nope'; known presets: ideal, pcm, rram",
        lambda: dm.get_device("nope"),
    ),
    ("variation", lambda: A.HardwareSpec(variation=-1.0)),
    ("dac_bits", lambda: A.HardwareSpec(dac_bits=0)),
    ("adc_bits", lambda: A.HardwareSpec(adc_bits=25)),
    ("adc_bits", lambda: A.HardwareSpec(adc_bits=8.5)),
    ("output_noise", lambda: A.HardwareSpec(output_noise=float("nan"))),
    ("dac_gain_sigma", lambda: A.PeripheryVariation(dac_gain_sigma=-0.1)),
    ("input_encoding", lambda: A.HardwareSpec(input_encoding="current")),
    ("unknown network", lambda: A.get_network("resnet")),
    ("chips", lambda: simulate(A.HardwareSpec(), TINY_NET, tiny_params(), load_digits(), chips=0)),
    ("epochs", lambda: train_digital(TINY_NET, load_digits(), key=jax.random.key(0), epochs=0)),
    (
        "learning_rate",
        lambda: train_digital(A.mlp(), load_digits(), key=jax.random.key(0), learning_rate=-1.0),
    ),
    ("open_loop_ratio must be in", lambda: dm.PCM(open_loop_ratio=-1.0)),
    ("step_error must be in", lambda: dm.RRAM(step_error=2.0)),
    ("procedure must be one of", lambda: characterize_device(dm.PCM(), procedure="magic")),
    (
        "procedure must be one of",
        lambda: dm.PCM().program(
            dm.PCM().draw_identity((3,), key=jax.random.key(0)),
            jnp.ones(3),
            key=jax.random.key(1),
            procedure="twice",
        ),
    ),
    ("devices", lambda: characterize_device(dm.PCM(), devices=0)),
    ("times", lambda: characterize_device(dm.PCM(), times=[-1.0])),
]


@pytest.mark.parametrize("needle,call", BAD, ids=[b[0][:30] for b in BAD])
def test_bad_value_names_the_parameter(needle, call):
    with pytest.raises(dm.ParameterError, match=needle.replace("(", r"\(")):
        call()


def test_negative_time_nan_inputs_and_shapes_are_refused():
    spec = A.HardwareSpec()
    chip, state = tiny_chip(spec)
    x = tiny_inputs()
    with pytest.raises(dm.ParameterError, match="t must be in"):
        A.apply_analog(spec, TINY_NET, chip, state, x, t=-1.0, key=jax.random.key(0))
    with pytest.raises(dm.ParameterError, match="inputs must be finite"):
        A.apply_analog(
            spec, TINY_NET, chip, state, x.at[0, 0].set(jnp.nan), t=1.0, key=jax.random.key(0)
        )
    with pytest.raises(dm.ParameterError, match=r"inputs must have shape \(batch, 8\)"):
        A.apply_analog(spec, TINY_NET, chip, state, jnp.ones((2, 9)), t=1.0, key=jax.random.key(0))


def test_bad_weights_are_refused_when_programming():
    spec = A.HardwareSpec()
    chip, _ = tiny_chip(spec)
    params = tiny_params()
    bad = [dict(p) for p in params]
    bad[0]["w"] = np.asarray(bad[0]["w"]).copy()
    bad[0]["w"][0, 0] = np.inf
    with pytest.raises(dm.ParameterError, match="layer 0 weights must be finite"):
        A.program_chip(spec, chip, bad, key=jax.random.key(0))
    wrong = [params[0], {"w": jnp.ones((5, 3)), "b": jnp.zeros(3)}]
    with pytest.raises(dm.ParameterError, match="layer 1: weights"):
        A.program_chip(spec, chip, wrong, key=jax.random.key(0))
    with pytest.raises(dm.ParameterError, match="method"):
        A.program_chip(spec, chip, params, key=jax.random.key(0), method="magic")
    for setting, value in [
        ("tolerance", -1.0),
        ("iterations", -1),
        ("verify_reads", 0),
        ("correction", 1.5),
        ("t_verify", -1.0),
    ]:
        with pytest.raises(dm.ParameterError, match=f"{setting} must be"):
            A.program_and_verify(
                dm.PCM(),
                chip.layers[0].devices,
                jnp.ones((2, 8, 6)),
                key=jax.random.key(0),
                **{setting: value},
            )
    with pytest.raises(dm.ParameterError, match="iterations must be"):
        A.program_chip(spec, chip, params, key=jax.random.key(0), method="verify", iterations=-2)


def test_layer_shapes_are_checked():
    with pytest.raises(dm.ParameterError, match="layer 0 shape"):
        A.make_chip(A.HardwareSpec(), [(0, 3)], key=jax.random.key(0))
