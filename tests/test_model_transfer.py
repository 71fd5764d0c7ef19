"""The weight-transfer experiment on a user's own model (issue 25), on small sizes: a
one-hidden-layer equinox MLP of the user's file on the digits, through the command line
(`transfer --model FILE.py:make --weights --quick`), 3 targets at variation 0 and 4, chip A's
rate 0.1 (chosen with `--validation`: 0.05 and 0.1 both met the thresholds there). The
thresholds are the issue's; docs/transfer.md quotes the transformer's default-size figures."""

import contextlib
import io
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogsim as A
from analogsim._chip.spec import noiseless
from analogsim._cli.main import main
from analogsim._core.provenance import read_dataset
from analogsim._model.products import read_vectors
from analogsim._transfer.model.strategies import checkpoints
from analogsim._transfer.model.transfer import transfer_model
from analogsim._transfer.transfer import STRATEGIES

FACTORY = textwrap.dedent(
    """
    import equinox as eqx


    def make(data, *, key):
        return eqx.nn.MLP(data.input_shape[0], data.classes, 32, 1, key=key)
    """
)
RUN = ["--quick", "--variation", "0,4", "--chips", "3", "--lr", "0.1", "--epochs", "3"]


def trained_mlp():
    """The factory's MLP trained digitally to about 97% (its own 10 AdamW epochs at 1e-3 reach
    about 65%: the digital start is the user's to give, `--weights`)."""
    data = A.load_digits()
    model = eqx.nn.MLP(64, 10, 32, 1, key=A.stream(A.root_key(0), "train", 0))
    return A.fit_model(model, data, key=A.root_key(0), epochs=30, batch_size=32,
                       learning_rate=3e-3)[0]  # fmt: skip


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model_transfer")
    (folder / "tiny.py").write_text(FACTORY)
    weights = A.save_model(folder / "model.eqx", trained_mlp(), {"model": "tiny"})
    out = folder / "out"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        main(["transfer", "--model", f"{folder}/tiny.py:make", "--dataset", "digits", *RUN,
              "--weights", str(weights), "--quiet", "--out", str(out)])  # fmt: skip
    return read_dataset(out / "transfer.nc"), text.getvalue(), out


def loss(ds, strategy, variation):
    return float(ds["transfer_loss"].sel(strategy=strategy, variation=variation).median())


def test_dataset_has_the_built_in_contract_and_the_teaching_curves(cli_run):
    ds, text, out = cli_run
    for name in ("target_accuracy", "transfer_loss", "read_cycles", "device_writes", "labels"):
        assert ds[name].dims == ("variation", "strategy", "chip")
    assert ds["source_accuracy"].dims == ("variation",)
    assert list(ds["strategy"].values) == list(STRATEGIES)
    assert ds.attrs["experiment"] == "transfer" and ds.attrs["device"] == "reram_es"
    assert ds.attrs["network"].endswith("tiny.py:make")
    np.testing.assert_allclose(
        ds["transfer_loss"], ds["strategy_source_accuracy"] - ds["target_accuracy"]
    )
    costs = ds.sel(variation=4.0).mean("chip")
    assert float(costs["labels"].sel(strategy="finetune")) == 200  # the --quick budget
    assert float(costs["labels"].sel(strategy="distill")) == 0  # soft targets, no labels
    assert float(costs["update_pulses"].sel(strategy="distill")) > 0
    assert float(costs["device_writes"].sel(strategy="conductances")) > 0
    for name in ("read_cycles", "device_writes", "update_pulses", "examples", "labels"):
        assert float(costs[name].sel(strategy="digital")) == 0
    # the teaching curves: from the copy (0 examples) to the end of the budget
    assert ds["taught_accuracy"].dims == ("variation", "teacher", "point", "chip")
    assert list(ds["teacher"].values) == ["distill", "finetune"]
    examples = ds["examples_taught"].values
    assert np.all(examples[:, 0] == 0) and np.all(np.diff(examples, axis=1) >= 0)
    end = ds["taught_accuracy"].isel(point=-1).sel(teacher="distill")
    np.testing.assert_array_equal(end, ds["target_accuracy"].sel(strategy="distill"))
    assert ds["source_weight_change"].values.min() > 0  # A moved away from what was written
    for name in ("transfer.nc", "transfer_loss.png", "transfer_teaching.png"):
        assert (out / name).stat().st_size > 0
    assert "chip A:" in text and "bits per point" in text


def test_bits_moved_count_what_each_strategy_sends(cli_run):
    ds, _, _ = cli_run
    bits = {str(s): float(ds["bits_moved"].sel(strategy=s)) for s in ds["strategy"].values}
    params = 64 * 32 + 32 + 32 * 10 + 10  # the MLP's floats
    assert bits["digital"] == 32 * params
    crossbar = 64 * 32 + 32 * 10
    assert bits["conductances"] - bits["weights"] == crossbar * 8  # one more device, 8-bit ADC
    taught = ds["taught_bits"].sel(teacher="distill").values
    assert taught[0] == bits["weights"]  # distillation starts from the weight copy
    examples = ds["examples_taught"].sel(teacher="distill").values
    np.testing.assert_allclose(taught - taught[0], np.minimum(examples, 500) * 10 * 32)


def test_digital_control_copies_exactly(cli_run):
    digital = cli_run[0].sel(strategy="digital")
    assert np.all(digital["transfer_loss"].values == 0.0)


def test_conductance_copy_loses_at_least_5_points_at_the_largest_variation(cli_run):
    ds = cli_run[0]
    print((ds["transfer_loss"].median("chip") * 100).round(1).to_pandas())
    low, high = loss(ds, "conductances", 0.0), loss(ds, "conductances", 4.0)
    assert high >= 0.05 and high > low


def test_distillation_recovers_half_the_conductance_loss_and_improves_on_its_start(cli_run):
    ds = cli_run[0]
    copied, taught = loss(ds, "conductances", 4.0), loss(ds, "distill", 4.0)
    assert taught <= copied / 2, (copied, taught)
    curve = ds["taught_accuracy"].sel(teacher="distill", variation=4.0)
    start, end = curve.isel(point=0).median(), curve.isel(point=-1).median()
    assert float(end) > float(start), (float(start), float(end))


def test_plot_draws_the_transfer_and_teaching_figures_together(cli_run, tmp_path):
    _, _, out = cli_run
    main(["plot", str(out / "transfer.nc"), "--out", str(tmp_path / "both.png")])
    assert (tmp_path / "both.png").stat().st_size > 0


def test_identical_noiseless_chips_lose_almost_nothing():
    # after the fixture's run in the same process (one file, one worker) it reuses every
    # compiled program: a few seconds
    model = trained_mlp()
    ds = transfer_model(
        noiseless(A.spec_for("reram_es")), model, A.load_digits(), chips=2, variation=(0.0,),
        trained=model, learning_rate=0.1, epochs=3, source_examples=1000, distill_examples=500,
        finetune_examples=200, hardware_aware_examples=500, curve_points=3,
    )  # fmt: skip
    for strategy in STRATEGIES:
        worst = float(np.abs(ds["transfer_loss"].sel(strategy=strategy)).max())
        assert worst <= 0.02, (strategy, worst)


def test_teaching_checkpoints_start_at_the_copy_and_end_with_the_budget():
    assert checkpoints(480, 16, 4) == [0, 16, 96, 480]
    assert checkpoints(480, 16, 1) == [480]
    points = checkpoints(32, 16, 5)  # fewer batches than points: repeated, never past the end
    assert points[0] == 0 and points[-1] == 32 and len(points) == 5


def test_read_vectors_count_each_weights_input_vectors_per_example():
    spec = A.spec_for("reram_es")
    key = jax.random.key(0)

    class Tied(eqx.Module):
        conv: eqx.nn.Conv2d
        grouped: eqx.nn.Conv2d
        head: eqx.nn.Linear

        def __call__(self, x):
            h = self.grouped(self.conv(x))  # (4, 8, 8)
            v = h.mean(axis=(1, 2))
            return self.head(self.head(v))  # one weight read twice

    k1, k2, k3 = jax.random.split(key, 3)
    model = Tied(
        eqx.nn.Conv2d(2, 4, 3, padding=1, key=k1),
        eqx.nn.Conv2d(4, 4, 3, padding=1, groups=2, key=k2),
        eqx.nn.Linear(4, 4, key=k3),
    )
    chip = A.to_analog(model, spec, key=key)
    counts = read_vectors(chip, jnp.zeros((2, 8, 8)))
    assert counts == {".conv.weight": 64, ".grouped.weight": 128, ".head.weight": 2}


def test_validation_split_holds_out_the_end_of_the_training_set():
    data = A.load_digits()
    split = data.validation_split(0.1)
    assert split.x_test.shape[0] == 135 and split.x_train.shape[0] == 1347 - 135
    np.testing.assert_array_equal(split.x_test, data.x_train[-135:])
    with pytest.raises(A.ParameterError, match="fraction"):
        data.validation_split(1.0)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--quick"], "--quick is for --model"),
        (["--weights", "model.eqx"], "--weights is for --model"),
        (["--model", "transformer", "--source", "x.npz"], "--model trains its own chip A"),
        (["--model", "transformer", "--strategies", "copy"], "unknown strategy 'copy'"),
    ],
)
def test_model_options_are_refused_where_they_do_not_apply(tmp_path, capsys, argv, needle):
    assert main(["transfer", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_a_run_without_teachers_writes_no_teaching_figure(cli_run, tmp_path):
    folder = cli_run[2].parent
    out = tmp_path / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["transfer", "--model", f"{folder}/tiny.py:make", "--dataset", "digits", *RUN,
              "--weights", str(folder / "model.eqx"), "--strategies", "conductances,digital",
              "--quiet", "--out", str(out)])  # fmt: skip
    ds = read_dataset(out / "transfer.nc")
    assert ds.sizes["teacher"] == 0 and list(ds["strategy"].values) == ["conductances", "digital"]
    assert not (out / "transfer_teaching.png").exists()
    main(["plot", str(out / "transfer.nc")])  # the transfer figure alone
