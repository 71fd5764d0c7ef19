"""Property tests (hypothesis) of hardware specs: valid ones never give NaN or infinity, invalid
ones are always refused with the documented error.

Valid specs: the read presets pcm, rram and ideal and the pulsed preset gokmen_vlasov; every
spread of the spec (names ending in `_sigma`, `_scale`, `_dtod`, `_std`, `output_noise`,
`read_noise_relative`) and `variation` in [0, 2]; stuck-on and stuck-off probabilities in
[0, 1], all devices stuck included; DAC and ADC bits 1..16; the options (drift compensation,
noise management, input encoding, weight scale); reads 0..1e9 s after programming. The chip's
identity, its programmed state and the logits must be finite and the accuracy in [0, 1].
These forward passes run eagerly: JAX compiles each operation once and reuses it, so a new
converter resolution or preset costs no compile of a whole program. `simulate` is checked
through its compiled path, its spec's numbers traced (`traced`), so every example runs the
one program.

Invalid tables (`hardware_spec`): for every key of every preset, values outside the range the
spec classes' `__check_init__` accept (negative spreads, probabilities outside [0, 1], bits
outside 1..24 or fractional, non-positive time constants and scales, ...), NaN and infinity,
values of the wrong type, unknown keys and unknown presets. Each must raise `ParameterError`
whose message names the key (or the preset).

These properties found gaps, since closed and kept at the end as regression cases: NaN,
infinity or an integer too large for a float raised ValueError/OverflowError, not
ParameterError; the ideal read model (presets ideal, gokmen_vlasov, idealized, ecram) checked
neither its noise scales nor a finite g_max; the exponential- and linear-step shape parameters
accepted NaN and infinity; `pulse_g_min = -inf` and `pulse_g_max = inf` were accepted, and
errors about either named `g_min`/`g_max`.
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY_NET, tiny_inputs, tiny_params
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import analogsim as A
import device_models as dm
from analogsim._chip.presets import OPTIONS, hardware_keys
from analogsim._chip.spec import traced
from analogsim._chip.sweepable import sweepable

ALL_PRESETS = tuple(sorted([*dm.PRESETS, *dm.PULSE_PRESETS]))
FORWARD_PRESETS = ("pcm", "rram", "ideal", "gokmen_vlasov")
# one tiling for every forward pass (each new shape compiles new kernels): 4 x 4 tiles split
# both layers of the 8-6-3 network, so row tiles' digitized partial sums are added too
TILES = {"tile_rows": 4, "tile_cols": 4}

PARAMS = tiny_params()
X = jnp.concatenate([tiny_inputs(batch=5), jnp.zeros((1, 8), jnp.float32)])  # a zero row too
Y = jnp.array([0, 1, 2, 0, 1, 2], jnp.int32)

# one setting per test: derandomized (the same examples on every run and machine), no example
# database, no per-example deadline (the first eager example compiles every operation)
PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def spreads(spec: A.HardwareSpec) -> list[str]:
    """The spread-like numbers of a spec: sigmas, noise and spread scales, output noise."""
    extra = ("output_noise", "read_noise_relative")
    return sorted(
        name
        for name in sweepable(spec)
        if name.endswith(("_sigma", "_scale", "_dtod", "_std")) or name in extra
    )


# --- valid specs ---------------------------------------------------------------------------

SIGMA = st.floats(0.0, 2.0)
PROBABILITY = st.floats(0.0, 1.0)
# (stuck_on_prob, stuck_off_prob): every device stuck at either bound, or both, or at random
STUCK = st.one_of(
    st.sampled_from([(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]), st.tuples(PROBABILITY, PROBABILITY)
)
BITS = st.integers(1, 16)
TIMES = st.floats(0.0, 1e9)
SEEDS = st.integers(0, 2**31 - 1)


@st.composite
def numbers(draw: st.DrawFn, preset: str) -> dict[str, float]:
    """Random valid numbers of a preset's spec: spreads and variation, stuck probabilities,
    mean I-V nonlinearity."""
    table = {name: draw(SIGMA) for name in spreads(A.spec_for(preset))}
    table["variation"] = draw(SIGMA)
    table["stuck_on_prob"], table["stuck_off_prob"] = draw(STUCK)
    table["iv_nonlinearity"] = draw(st.floats(-1.0, 1.0))
    return table


@st.composite
def valid_tables(draw: st.DrawFn, preset: str) -> dict[str, object]:
    """A random valid hardware table of a preset: numbers, converters, options."""
    table: dict[str, object] = {"device": preset, **draw(numbers(preset))}
    table["dac_bits"], table["adc_bits"] = draw(BITS), draw(BITS)
    table["drift_compensation"] = draw(st.booleans())
    table["noise_management"] = draw(st.sampled_from(["abs_max", "none"]))
    table["input_encoding"] = draw(st.sampled_from(["amplitude", "pwm"]))
    table["weight_scale"] = draw(st.sampled_from(["column", "layer"]))
    table["pulse_update"] = draw(st.sampled_from(["stochastic", "mixed-precision"]))
    return table


def assert_finite(tree: object) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            bad = int(np.sum(~np.isfinite(np.asarray(leaf))))
            assert bad == 0, f"{jax.tree_util.keystr(path)}: {bad} NaN or infinite values"


def check_forward(table: dict[str, object], t: float, seed: int) -> A.ChipIdentity:
    """Build, program and read chip 0 of `table` (tiled by TILES) at `t`; assert that its
    identity, state and logits are finite and its accuracy in [0, 1]; return the chip."""
    spec = A.hardware_spec({**table, **TILES})
    ck = A.chip_key(A.root_key(seed), 0)
    chip = A.make_chip(spec, TINY_NET.shapes, key=A.stream(ck, "identity"))
    state = A.program_chip(spec, chip, PARAMS, key=A.stream(ck, "program"))
    logits = A.apply_analog(spec, TINY_NET, chip, state, X, t=t, key=A.stream(ck, "read"))

    assert logits.shape == (X.shape[0], 3)
    assert_finite({"chip": chip, "state": state, "logits": logits})
    acc = float(A.accuracy(logits, Y))
    assert 0.0 <= acc <= 1.0
    assert acc * len(Y) == pytest.approx(round(acc * len(Y)), abs=1e-4)
    return chip


@pytest.mark.parametrize("preset", FORWARD_PRESETS)
@settings(PROPERTY, max_examples=8)
@given(data=st.data(), t=TIMES, seed=SEEDS)
def test_valid_spec_gives_finite_chip_logits_and_accuracy(preset, data, t, seed):
    check_forward(data.draw(valid_tables(preset), label="table"), t, seed)


SPREADS_AT_2 = {"read_gain_sigma": 2.0, "range_sigma": 2.0, "iv_nonlinearity_sigma": 2.0}
PERIPHERY_AT_2 = {f"{c}_{e}_sigma": 2.0 for c in ("dac", "adc") for e in ("gain", "offset")}
# (table, read time): every device stuck, at the extremes of the other settings
ALL_STUCK = {
    "pcm-on-1bit-1e9s": (
        {"device": "pcm", "stuck_on_prob": 1.0, "variation": 2.0, "dac_bits": 1,
         "adc_bits": 1, **SPREADS_AT_2, **PERIPHERY_AT_2, "output_noise": 2.0},
        1e9,
    ),
    "rram-off-16bit-0s": (
        {"device": "rram", "stuck_off_prob": 1.0, "dac_bits": 16, "adc_bits": 16,
         **SPREADS_AT_2},
        0.0,
    ),
    "ideal-both-pwm": (
        {"device": "ideal", "stuck_on_prob": 1.0, "stuck_off_prob": 1.0, "dac_bits": 1,
         "adc_bits": 16, "input_encoding": "pwm", "noise_management": "none"},
        1.0,
    ),
    "gokmen_vlasov-on-drift-compensated": (
        {"device": "gokmen_vlasov", "stuck_on_prob": 1.0, "dac_bits": 16, "adc_bits": 1,
         "drift_compensation": True, "dw_min_dtod": 2.0, "variation": 2.0},
        1e9,
    ),
}  # fmt: skip


@pytest.mark.parametrize("table,t", ALL_STUCK.values(), ids=ALL_STUCK)
def test_all_devices_stuck_gives_finite_logits(table, t):
    chip = check_forward(table, t, seed=0)
    # a stuck probability of 1 (times `variation` >= 1, which scales it) sticks every device
    for layer in chip.layers:
        assert bool(jnp.all(layer.devices.stuck_on | layer.devices.stuck_off))


TINY_DATA = A.Dataset(
    "tiny",
    np.asarray(tiny_inputs(batch=12, seed=5)),
    np.arange(12, dtype=np.int32) % 3,
    np.asarray(tiny_inputs(batch=12, seed=6)),
    np.arange(12, dtype=np.int32) % 3,
)


@settings(PROPERTY, max_examples=15)
@given(
    values=numbers("pcm"),
    times=st.lists(TIMES, min_size=3, max_size=3),
    seed=SEEDS,
)
@example(
    values={"stuck_on_prob": 1.0, "stuck_off_prob": 1.0, "variation": 2.0, **SPREADS_AT_2},
    times=[0.0, 1.0, 1e9],
    seed=0,
)
def test_simulate_accuracies_are_finite_and_in_unit_interval(values, times, seed):
    """The compiled fleet path, 1-bit converters, the spec's numbers traced (one program)."""
    spec = traced(A.hardware_spec({"device": "pcm", "dac_bits": 1, "adc_bits": 1, **values}))
    ds = A.simulate(spec, TINY_NET, PARAMS, TINY_DATA, chips=2, times=times, seed=seed)
    acc = ds["accuracy"].values
    assert acc.shape == (2, 3)
    assert np.all(np.isfinite(acc))
    assert np.all((acc >= 0.0) & (acc <= 1.0))
    assert 0.0 <= float(ds["digital_accuracy"]) <= 1.0


# --- invalid tables ------------------------------------------------------------------------

NEGATIVE = st.floats(max_value=0.0, exclude_max=True).filter(lambda v: v < 0.0)
NONPOSITIVE = st.floats(max_value=0.0)
ABOVE_ONE = st.floats(min_value=1.0, exclude_min=True)
NONFINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NOT_A_NUMBER = st.one_of(
    st.text(max_size=4),
    st.booleans(),
    st.lists(st.floats(0.0, 1.0), max_size=2),
    st.just(np.array(1.0)),  # an array, even 0-d, is not a number
)
FRACTION = st.floats(0.001, 1000.0).filter(lambda v: v != int(v))
# ints as large as a float can hold: larger ones are a known gap (OverflowError)
HUGE = 10**300

POSITIVE_KEYS = {"adc_range", "read_voltage", "t0", "t_read", "dw_min", "g_max"}
PROBABILITY_KEYS = {"stuck_on_prob", "stuck_off_prob", "refresh_upper", "refresh_lower"}
NONNEGATIVE_KEYS = {"dw_min_std_add", "dw_min_std_slope", "reset"}
# pulse-family numbers with no finite range (any real is a valid shape parameter)
UNBOUNDED_KEYS = {"a", "b", "A_up", "A_down", "gamma_up", "gamma_down"}


def out_of_range(spec: A.HardwareSpec, key: str) -> st.SearchStrategy | None:
    """Numbers a key's spec class refuses (besides NaN and infinity); None for none."""
    if key in ("dac_bits", "adc_bits"):
        return st.one_of(st.integers(-HUGE, 0), st.integers(25, HUGE), FRACTION)
    if key in ("tile_rows", "tile_cols"):
        return st.one_of(st.integers(-HUGE, 0), st.integers(65537, HUGE), FRACTION)
    if key in PROBABILITY_KEYS:
        return st.one_of(NEGATIVE, ABOVE_ONE)
    if key in POSITIVE_KEYS:
        return NONPOSITIVE
    if key == "g_max_fraction":
        return st.one_of(NONPOSITIVE, ABOVE_ONE)
    if key == "open_loop_ratio":
        return st.one_of(NEGATIVE, st.floats(min_value=100.0, exclude_min=True))
    if key == "step_error":
        return st.one_of(NEGATIVE, ABOVE_ONE)
    if key == "iv_nonlinearity":
        return st.one_of(st.floats(max_value=-1.0, exclude_max=True), ABOVE_ONE)
    if key == "up_down":
        return st.one_of(st.floats(max_value=-1.0), ABOVE_ONE)
    if key == "w_min":
        return st.floats(min_value=0.0)
    if key == "w_max":
        return NONPOSITIVE
    if key == "g_min":
        return st.one_of(NEGATIVE, st.floats(min_value=float(spec.device.g_max)))
    if key == "pulse_g_min":
        return st.floats(min_value=float(spec.pulse_response.g_max))
    if key == "pulse_g_max":
        return st.floats(max_value=float(spec.pulse_response.g_min))
    if key in UNBOUNDED_KEYS:
        return None
    if key in spreads(spec) or key in NONNEGATIVE_KEYS | {"variation", "wire_resistance"}:
        return NEGATIVE
    raise AssertionError(f"no out-of-range rule for hardware key {key!r}")


def bad_option(key: str) -> st.SearchStrategy:
    if key == "drift_compensation":
        return st.one_of(st.integers(), st.text(max_size=4), st.none(), st.floats())
    if key == "wire_iterations":
        return st.one_of(
            st.integers(max_value=0), st.integers(min_value=10_001), st.floats(), st.booleans()
        )
    choices = {
        "weight_scale": ("column", "layer"),
        "input_encoding": ("amplitude", "pwm"),
        "noise_management": ("abs_max", "none"),
        "pulse_update": ("stochastic", "mixed-precision"),
    }[key]
    return st.one_of(
        st.text(max_size=12).filter(lambda v: v not in choices),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
    )


def bad_values(spec: A.HardwareSpec, key: str) -> st.SearchStrategy:
    if key in OPTIONS:
        return bad_option(key)
    wrong = NOT_A_NUMBER if key == "wire_resistance" else st.one_of(NOT_A_NUMBER, st.none())
    ranged = out_of_range(spec, key)
    return st.one_of(wrong, NONFINITE, *([] if ranged is None else [ranged]))


def names(message: str, word: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message) is not None


@st.composite
def bad_value_tables(draw: st.DrawFn) -> tuple[dict[str, object], str]:
    """(a table with one refused value, possibly beside a valid spread, its key)."""
    preset = draw(st.sampled_from(ALL_PRESETS))
    spec = A.spec_for(preset)
    key = draw(st.sampled_from([k for k in hardware_keys(spec) if k != "device"]))
    value = draw(bad_values(spec, key))
    table: dict[str, object] = {"device": preset}
    other = draw(st.sampled_from(spreads(spec)))
    if other != key and draw(st.booleans()):
        table[other] = draw(SIGMA)
    table[key] = value
    return table, key


@settings(PROPERTY, max_examples=300)
@given(case=bad_value_tables())
@example(case=({"device": "pcm", "stuck_on_prob": 1.0 + 1e-12}, "stuck_on_prob"))
@example(case=({"device": "pcm", "dac_bits": 0}, "dac_bits"))
@example(case=({"device": "rram", "adc_bits": 25}, "adc_bits"))
@example(case=({"device": "pcm", "adc_bits": 7.5}, "adc_bits"))
@example(case=({"device": "pcm", "variation": -1e-300}, "variation"))
@example(case=({"device": "rram", "read_gain_sigma": math.nan}, "read_gain_sigma"))
def test_out_of_range_value_is_refused_naming_the_key(case):
    table, key = case
    with pytest.raises(A.ParameterError) as err:
        A.hardware_spec(table)
    message = str(err.value)
    assert names(message, key), message


KEY_CHARS = "abcdefghijklmnopqrstuvwxyz_ABC0123456789"


@settings(PROPERTY, max_examples=60)
@given(
    preset=st.sampled_from(ALL_PRESETS),
    key=st.text(KEY_CHARS, min_size=1, max_size=20),
    value=st.one_of(SIGMA, st.integers(1, 16), st.booleans(), st.text(max_size=4)),
)
@example(preset="pcm", key="adc_bit", value=8)
@example(preset="gokmen_vlasov", key="g_min_pulse", value=0.0)
def test_unknown_key_is_refused_naming_it(preset, key, value):
    assume(key not in hardware_keys(A.spec_for(preset)))
    with pytest.raises(A.ParameterError, match="unknown hardware key") as err:
        A.hardware_spec({"device": preset, key: value})
    assert repr(key) in str(err.value)


@settings(PROPERTY, max_examples=40)
@given(
    device=st.one_of(st.text(KEY_CHARS, max_size=15), st.integers(), st.floats(), st.none()),
    values=st.dictionaries(st.sampled_from(["variation", "adc_bits"]), st.integers(1, 2)),
)
@example(device="PCM", values={})
@example(device="reram", values={"variation": 1})
def test_unknown_or_missing_preset_is_refused(device, values):
    assume(device not in ALL_PRESETS)
    table = {**values} if device is None else {"device": device, **values}
    with pytest.raises(A.ParameterError, match="device") as err:
        A.hardware_spec(table)
    if isinstance(device, str):
        assert repr(device) in str(err.value)


def test_every_hardware_key_has_an_out_of_range_rule():
    """New spec numbers must join the invalid-value property (or UNBOUNDED_KEYS)."""
    for preset in ALL_PRESETS:
        spec = A.spec_for(preset)
        for key in hardware_keys(spec):
            if key not in OPTIONS and key != "device":
                out_of_range(spec, key)  # raises for a key without a rule


ONCE_ACCEPTED = [
    {"device": "pcm", "dac_bits": math.nan},
    {"device": "rram", "adc_bits": math.inf},
    {"device": "pcm", "tile_rows": -math.inf},
    {"device": "pcm", "variation": 10**400},
    {"device": "ideal", "read_noise_scale": -1.0},
    {"device": "ideal", "prog_noise_scale": math.nan},
    {"device": "gokmen_vlasov", "g_max": math.inf},
    {"device": "reram_es", "gamma_up": math.nan},
    {"device": "ecram", "gamma_down": math.inf},
    {"device": "gokmen_vlasov", "pulse_g_min": -math.inf},
    {"device": "idealized", "pulse_g_min": 30.0},
]


@pytest.mark.parametrize(
    "table", ONCE_ACCEPTED, ids=[f"{t['device']}-{list(t)[1]}" for t in ONCE_ACCEPTED]
)
def test_values_these_properties_found_are_refused_naming_the_key(table):
    key = list(table)[1]
    with pytest.raises(A.ParameterError) as err:
        A.hardware_spec(table)
    assert names(str(err.value), key), str(err.value)
