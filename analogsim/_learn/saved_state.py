"""Saved chips and networks: a versioned `.npz` of plain arrays plus JSON metadata, no pickle.

Format `analogsim-state`, version 1. An uncompressed zip of `.npy` arrays (readable with
`numpy.load(path, allow_pickle=False)`), written byte for byte the same for the same content
(fixed entry order and timestamps), atomically. Entry `meta` holds UTF-8 JSON:

    format, version, kind ("chip" or "network"), analogsim_version,
    network   {name, input_shape, layers: [{type, ...fields}]}
    hardware  the spec as a table (`_chip.presets`): preset and what differs from it (chips)
    info      free settings of the run that made it (seed, chip index, mode, ...)
    arrays    name -> [shape, dtype, sha256 of the bytes]

A chip is its key, its identity and its conductance state: entry `key` (the chip key's raw
uint32 data), `identity/...` and `state/...` (every leaf of its `ChipIdentity` and
`ChipState`). The identity is what the key draws (`stream(key, "identity")`), kept as
computed so that loading restores it bit for bit (a draw outside the compiled fleet may
round differently in the last place); loading checks that it is that key's chip. A network
is `params/<l>/w` and `params/<l>/b`. Loading refuses, naming the problem: a missing,
truncated or non-zip file, a failed checksum, a foreign format, another version, the other
kind, arrays that disagree with the metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from device_models._checks import ParameterError

from .._chip.identity import ChipIdentity, make_chip
from .._chip.presets import hardware_spec, hardware_table
from .._chip.spec import HardwareSpec
from .._chip.state import ChipState
from .._core.keys import stream
from .._core.provenance import write_bytes
from .._nn.networks import Conv2d, Dense, Network
from .._version import __version__

FORMAT = "analogsim-state"
VERSION = 1
_EPOCH = (1980, 1, 1, 0, 0, 0)  # every zip entry's timestamp: same content, same bytes


class StateFileError(ParameterError):
    """A saved chip or network that cannot be loaded; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class SavedChip:
    """A chip as saved: its spec, network, key, identity (what the key draws) and conductance
    state, plus `info` about the run that made it."""

    spec: HardwareSpec
    net: Network
    key: jax.Array
    identity: ChipIdentity
    state: ChipState
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SavedNetwork:
    """A digitally trained network: its architecture and weights, plus `info`."""

    net: Network
    params: list[dict[str, np.ndarray]]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


def save_chip(path: str | Path, chip: SavedChip) -> Path:
    """Write `chip` to `path` (`.npz`, atomically); returns the path."""
    arrays = {"key": np.asarray(jax.random.key_data(chip.key))}
    for part, tree in (("identity", chip.identity), ("state", chip.state)):
        for name, leaf in _named_leaves(tree):
            arrays[f"{part}{name}"] = np.asarray(leaf)
    meta = {
        "kind": "chip",
        "network": _describe_network(chip.net),
        "hardware": hardware_table(chip.spec),
        "info": chip.info,
    }
    return _write(path, meta, arrays)


def load_chip(path: str | Path) -> SavedChip:
    """The chip saved at `path` (`save_chip`), exactly as saved.

    Raises:
        StateFileError: naming what is wrong with the file.
    """
    meta, arrays = _read(path, "chip")
    net = _network(meta, path)
    try:
        spec = hardware_spec(meta["hardware"])
    except ParameterError as err:
        raise StateFileError(f"{path}: its hardware table is not valid here: {err}") from None
    key = jax.random.wrap_key_data(jnp.asarray(arrays.pop("key")))
    # the structure and shapes of a chip of this spec and network
    identity_t, state_t = jax.eval_shape(lambda k: _fresh_chip(spec, net, k), jax.random.key(0))
    trees = {"identity": identity_t, "state": state_t}
    names = {part: [f"{part}{n}" for n, _ in _named_leaves(t)] for part, t in trees.items()}
    _fill_g_target(names["state"], arrays)
    if sorted(names["identity"] + names["state"]) != sorted(arrays):
        raise StateFileError(f"{path}: its arrays do not fit a {net.name} chip of this spec")
    restored = {}
    for part, template in trees.items():
        leaves = []
        for name, shaped in zip(names[part], jax.tree.leaves(template), strict=True):
            a = arrays[name]
            if a.shape != shaped.shape or a.dtype != shaped.dtype:
                raise StateFileError(
                    f"{path}: array {name} is {a.dtype}{list(a.shape)}, expected "
                    f"{shaped.dtype}{list(shaped.shape)}"
                )
            leaves.append(jnp.asarray(a))
        restored[part] = jax.tree.unflatten(jax.tree.structure(template), leaves)
    drawn = make_chip(spec, net.shapes, key=stream(key, "identity"))
    for a, b in zip(jax.tree.leaves(drawn), jax.tree.leaves(restored["identity"]), strict=True):
        if not np.allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6):
            raise StateFileError(
                f"{path}: its identity is not the chip its key draws (an edited file, or one "
                f"written by an analogsim whose chip model differs; it says "
                f"{meta.get('analogsim_version')})"
            )
    return SavedChip(spec, net, key, restored["identity"], restored["state"], meta["info"])


def save_network(path: str | Path, saved: SavedNetwork) -> Path:
    """Write a digitally trained network to `path` (`.npz`, atomically)."""
    arrays = {}
    for index, layer in enumerate(saved.params):
        for name in ("w", "b"):
            arrays[f"params/{index}/{name}"] = np.asarray(layer[name], np.float32)
    meta = {"kind": "network", "network": _describe_network(saved.net), "info": saved.info}
    return _write(path, meta, arrays)


def load_network(path: str | Path) -> SavedNetwork:
    """The network saved at `path` (`save_network`), exactly as saved.

    Raises:
        StateFileError: naming what is wrong with the file.
    """
    meta, arrays = _read(path, "network")
    net = _network(meta, path)
    params = []
    for index, (rows, cols) in enumerate(net.shapes):
        layer = {}
        for name, shape in (("w", (rows, cols)), ("b", (cols,))):
            a = arrays.get(f"params/{index}/{name}")
            if a is None or a.shape != shape:
                raise StateFileError(f"{path}: layer {index} {name} is missing or misshapen")
            layer[name] = a
        params.append(layer)
    return SavedNetwork(net=net, params=params, info=meta["info"])


# --- the file ------------------------------------------------------------------------------


def _write(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "analogsim_version": __version__,
        **meta,
        "arrays": {
            name: [list(a.shape), a.dtype.str, _sha256(a)] for name, a in sorted(arrays.items())
        },
    }
    text = json.dumps(meta, sort_keys=True, indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        entries = {"meta": np.frombuffer(text, np.uint8), **arrays}
        for name, array in sorted(entries.items()):
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.asarray(array, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            z.writestr(info, npy.getvalue())
    return write_bytes(path, buffer.getvalue())


def _read(path: str | Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            entries = {name: f[name] for name in f.files}
    except zipfile.BadZipFile as err:
        what = "corrupted (a checksum fails)" if "CRC" in str(err) else "truncated or not an .npz"
        raise StateFileError(f"{path}: not a readable analogsim state file: {what}") from None
    except (OSError, ValueError, EOFError) as err:
        raise StateFileError(
            f"{path}: not a readable analogsim state file (truncated or corrupted: {err})"
        ) from None
    if "meta" not in entries:
        raise StateFileError(f"{path}: not an analogsim state file (no metadata)")
    try:
        meta = json.loads(entries.pop("meta").tobytes().decode())
    except (UnicodeDecodeError, ValueError):
        raise StateFileError(f"{path}: its metadata is corrupted (not JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StateFileError(f"{path}: not an analogsim state file (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise StateFileError(
            f"{path}: written in format version {meta.get('version')}; this analogsim "
            f"({__version__}) reads version {VERSION}"
        )
    if meta.get("kind") != kind:
        raise StateFileError(f"{path}: holds a {meta.get('kind')}, not a {kind}")
    listed = meta.get("arrays", {})
    if sorted(listed) != sorted(entries):
        raise StateFileError(f"{path}: its arrays do not match its metadata")
    for name, a in entries.items():
        shape, dtype, digest = listed[name]
        if list(a.shape) != shape or a.dtype.str != dtype or _sha256(a) != digest:
            raise StateFileError(f"{path}: array {name} is corrupted (checksum or shape differs)")
    return meta, entries


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(array).tobytes(order="C")).hexdigest()


def _fill_g_target(names: list[str], arrays: dict[str, np.ndarray]) -> None:
    """Chips saved before devices kept their programming target (issue 23) have no
    `.../g_target` arrays: take each from the device's conductance beside it, which is what
    drift followed when they were saved."""
    for name in names:
        if name.endswith("/g_target") and name not in arrays:
            g = name.removesuffix("_target")
            if g in arrays:
                arrays[name] = arrays[g]


def _named_leaves(tree: Any) -> list[tuple[str, Any]]:
    """(`/`-joined path, leaf) of every leaf, in tree order."""
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        name = jax.tree_util.keystr(path).replace("].", "]/").replace(".", "/")
        out.append((name if name.startswith("/") else f"/{name}", leaf))
    return out


def _fresh_chip(spec: HardwareSpec, net: Network, key: jax.Array) -> tuple[ChipIdentity, ChipState]:
    """A chip of this spec and network (its structure and shapes are what matter)."""
    from .._nn.networks import init_params
    from .in_situ import init_in_situ

    return init_in_situ(spec, net, init_params(net, key=key), key=key)


# --- the network's description -------------------------------------------------------------

_LAYERS = {"Dense": Dense, "Conv2d": Conv2d}


def _describe_network(net: Network) -> dict[str, Any]:
    return {
        "name": net.name,
        "input_shape": list(net.input_shape),
        "layers": [{"type": type(x).__name__, **dataclasses.asdict(x)} for x in net.layers],
    }


def _network(meta: dict[str, Any], path: str | Path) -> Network:
    try:
        d = meta["network"]
        layers = tuple(
            _LAYERS[layer["type"]](**{k: v for k, v in layer.items() if k != "type"})
            for layer in d["layers"]
        )
        return Network(name=d["name"], input_shape=tuple(d["input_shape"]), layers=layers)
    except (KeyError, TypeError) as err:
        raise StateFileError(f"{path}: its network description is not valid ({err})") from None
