"""Saved chips and networks (issue 8): exact round trips, identical bytes, damaged files
refused with a message that names the problem, and the command line's train -> transfer."""

import io
import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from helpers import TINY_NET, tiny_params

import analogsim as A
from analogsim._chip.sweepable import with_values
from analogsim._cli.main import main
from analogsim._core.provenance import describe as describe_spec
from analogsim._fleet.fleet import take
from analogsim._learn.in_situ import check_in_situ_spec
from analogsim._learn.in_situ_fleet import fleet_state_accuracy, init_fleet
from analogsim._learn.saved_state import (
    SavedChip,
    SavedNetwork,
    StateFileError,
    load_chip,
    load_network,
    save_chip,
    save_network,
)


@pytest.fixture(scope="module")
def saved_chip():
    spec = with_values(A.spec_for("reram_es"), {"variation": 1.5, "adc_bits": 6})
    spec = check_in_situ_spec(spec)
    key = A.chip_key(A.root_key(4), 2)
    identity, state = init_fleet(spec, TINY_NET, tiny_params(), key[None])
    return SavedChip(spec, TINY_NET, key, take(identity, 0), take(state, 0), {"chip": 2})


def leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def test_chip_round_trip_is_exact_and_byte_identical(saved_chip, tmp_path):
    first = save_chip(tmp_path / "a.npz", saved_chip)
    loaded = load_chip(first)
    assert leaves_equal(loaded.identity, saved_chip.identity)
    assert leaves_equal(loaded.state, saved_chip.state)
    assert np.array_equal(jax.random.key_data(loaded.key), jax.random.key_data(saved_chip.key))
    assert loaded.net == TINY_NET and loaded.info == {"chip": 2}
    assert describe_spec(loaded.spec) == describe_spec(saved_chip.spec)
    second = save_chip(tmp_path / "b.npz", loaded)
    assert first.read_bytes() == second.read_bytes()
    with np.load(first, allow_pickle=False) as f:  # plain arrays, readable without analogsim
        assert "key" in f.files and any(n.startswith("state/") for n in f.files)


def test_chips_saved_before_devices_kept_their_target_still_load(saved_chip, tmp_path):
    """A chip file written before `DeviceState.g_target` existed (issue 23) loads, each
    device's target taken from its conductance: what drift followed when it was saved."""
    from analogsim._learn.saved_state import _read, _write

    path = save_chip(tmp_path / "new.npz", saved_chip)
    meta, arrays = _read(path, "chip")
    old = {name: a for name, a in arrays.items() if not name.endswith("/g_target")}
    assert len(old) < len(arrays)
    meta = {k: v for k, v in meta.items() if k != "arrays"}
    loaded = load_chip(_write(tmp_path / "old.npz", meta, old))
    for layer in loaded.state.layers:
        np.testing.assert_array_equal(layer.devices.g_target, layer.devices.g)


def test_network_round_trip_is_exact_and_byte_identical(tmp_path):
    params = [{k: np.asarray(v) for k, v in p.items()} for p in tiny_params(3)]
    first = save_network(tmp_path / "a.npz", SavedNetwork(TINY_NET, params, {"seed": 3}))
    loaded = load_network(first)
    assert loaded.net == TINY_NET and leaves_equal(loaded.params, params)
    assert save_network(tmp_path / "b.npz", loaded).read_bytes() == first.read_bytes()


def _rewrite_meta(src, dst, change):
    with zipfile.ZipFile(src) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    with np.load(src, allow_pickle=False) as f:
        meta = json.loads(f["meta"].tobytes())
    change(meta)
    text = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, text)
    entries["meta.npy"] = buffer.getvalue()
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


def _flip(src, dst):
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dst.write_bytes(bytes(data))


DAMAGE = {
    "truncated": (lambda s, d: d.write_bytes(s.read_bytes()[: len(s.read_bytes()) // 2]), "trunc"),
    "flipped byte": (_flip, "corrupted"),
    "not a zip": (lambda s, d: d.write_text("x_train,y_train\n1,2\n"), "not a readable"),
    "foreign npz": (lambda s, d: np.savez(d, a=np.zeros(3)), "no metadata"),
    "newer version": (
        lambda s, d: _rewrite_meta(s, d, lambda m: m.update(version=2)),
        "format version 2; this analogsim",
    ),
    "other format": (
        lambda s, d: _rewrite_meta(s, d, lambda m: m.update(format="x")),
        "not an analogsim state file",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_chip_files_are_refused(saved_chip, tmp_path, damage):
    good = save_chip(tmp_path / "good.npz", saved_chip)
    make, needle = DAMAGE[damage]
    bad = tmp_path / "bad.npz"
    make(good, bad)
    with pytest.raises(StateFileError, match=needle):
        load_chip(bad)


def test_wrong_kind_and_missing_files_are_refused(saved_chip, tmp_path):
    good = save_chip(tmp_path / "chip.npz", saved_chip)
    with pytest.raises(StateFileError, match="holds a chip, not a network"):
        load_network(good)
    with pytest.raises(StateFileError, match="no such file"):
        load_chip(tmp_path / "missing.npz")


def test_train_saves_chips_that_read_back_their_own_accuracy(tmp_path, capsys):
    # learned through a Tiki-Taka fast array: the chip saved is its weights' array, alone
    train = ["train", "--device", "reram_es", "--chips", "2", "--epochs", "1", "--quiet"]
    train += ["--algorithm", "c-ttv2", "--chop-prob", "0.2"]
    assert main([*train, "--out", str(tmp_path)]) == 0
    assert "in-situ training by c-ttv2" in capsys.readouterr().out
    trained = xr.load_dataset(tmp_path / "train.nc")
    assert trained.attrs["algorithm"] == "c-ttv2"
    assert trained.attrs["algorithm_chop_prob"] == pytest.approx(0.2)
    saved = load_chip(tmp_path / "chips" / "chip-1.npz")
    assert saved.info["chip"] == 1 and saved.info["made_by"] == "train in-situ"
    assert saved.info["algorithm"] == "c-ttv2"
    data = A.load_digits()
    keys = saved.key[None]
    acc = fleet_state_accuracy(
        saved.spec,
        saved.net,
        jax.tree.map(lambda a: a[None], saved.identity),
        jax.tree.map(lambda a: a[None], saved.state),
        jnp.asarray(data.x_test),
        jnp.asarray(data.y_test),
        keys,
        jnp.float32(1.0),
    )
    # read as training read it (t = 1 s, the same read key): the same accuracy, exactly
    np.testing.assert_array_equal(np.asarray(acc), trained["test_accuracy"].values[1:])


@pytest.mark.slow
def test_train_saves_its_chips_and_transfer_moves_a_saved_one(tmp_path, capsys):
    train = ["train", "--device", "reram_es", "--chips", "2", "--epochs", "1", "--quiet"]
    assert main([*train, "--out", str(tmp_path / "t")]) == 0
    trained = xr.load_dataset(tmp_path / "t" / "train.nc")
    chip = tmp_path / "t" / "chips" / "chip-1.npz"
    assert load_chip(chip).info["chip"] == 1
    xf = ["transfer", "--source", str(chip), "--chips", "2", "--variation", "0,1"]
    xf += ["--strategies", "conductances", "--quiet", "--out", str(tmp_path / "x")]
    assert main(xf) == 0
    moved = xr.load_dataset(tmp_path / "x" / "transfer.nc")
    # the loaded chip is the trained chip: its accuracy, read the same way, is the same
    np.testing.assert_array_equal(moved["source_accuracy"], trained["test_accuracy"].values[1])
    assert moved.attrs["source_file"] == str(chip)
    assert "loaded from" in capsys.readouterr().out
    assert main([*xf[:-2], "--device", "pcm", "--out", str(tmp_path / "y")]) == 2
    assert "differs from the source chip's reram_es" in capsys.readouterr().err


def test_simulate_saves_its_network_and_reads_one_back(tmp_path):
    sim = ["simulate", "--chips", "2", "--times", "1", "--epochs", "2", "--quiet"]
    assert main([*sim, "--out", str(tmp_path / "a")]) == 0
    network = tmp_path / "a" / "network.npz"
    assert main([*sim, "--weights", str(network), "--out", str(tmp_path / "b")]) == 0
    a = xr.load_dataset(tmp_path / "a" / "simulate.nc")
    b = xr.load_dataset(tmp_path / "b" / "simulate.nc")
    np.testing.assert_array_equal(a["accuracy"], b["accuracy"])
    assert (tmp_path / "b" / "network.npz").read_bytes() == network.read_bytes()
