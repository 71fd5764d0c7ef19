"""The docs keep up with the code: the worked example of a custom device runs through the public
API, every public name has its API entry, every command's options are in the command-line
reference, README links resolve, and `mkdocs build --strict` passes (a broken reference fails)."""

import contextlib
import importlib.util
import inspect
import io
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import analogsim
import device_models

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_example():
    spec = importlib.util.spec_from_file_location(
        "custom_device_example", DOCS / "custom_device_example.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_custom_device_example_runs_through_the_public_api():
    example = _load_example()
    device = example.RetentionDevice()
    assert isinstance(device, device_models.AbstractDeviceModel)
    assert isinstance(example.SquaredSoftBounds(), device_models.AbstractPulseResponse)
    # its own numbers are sweepable by name, as a preset's are
    assert {"tau", "g_rest", "tau_spread"} <= set(analogsim.sweepable(example.retention_spec()))

    out = example.demo(chips=2, epochs=20)

    # the device's statistics: written to its targets at 1 s, leaked to g_rest by 1e9 s
    read_mean = out["stats"]["read_mean"]
    targets = read_mean["g_target"].values
    np.testing.assert_allclose(read_mean.sel(t=1.0).values, targets, atol=1.5)
    np.testing.assert_allclose(read_mean.sel(t=1e9).values, float(device.g_rest), atol=0.5)

    # a fleet of its chips: sane accuracy that falls as the devices forget
    fleet = out["fleet"]
    acc = fleet["accuracy"].values  # (chip, t)
    assert acc.shape == (2, 2) and np.all(np.isfinite(acc))
    assert np.all((acc >= 0.0) & (acc <= 1.0))
    assert acc[:, 0].mean() > 0.8  # 1 s after programming: near the digital network
    assert acc[:, 0].mean() > acc[:, 1].mean() + 0.02  # 1e6 s: the leak shows
    assert fleet.attrs["device"] == "retention_example"
    assert "worked example" in fleet.attrs["device_citation"]

    # in situ through its own pulse response: far above chance after one epoch
    trained = out["trained"]
    assert np.all(np.isfinite(trained["test_accuracy"]))
    assert trained["test_accuracy"].min() > 0.3
    assert trained["pulses"].min() > 0


def _public(module) -> set[str]:
    return {
        name
        for name in dir(module)
        if not name.startswith("_")
        and (not inspect.ismodule(getattr(module, name)) or name == "internal")
    }


@pytest.mark.parametrize("module", [analogsim, device_models], ids=lambda m: m.__name__)
def test_api_reference_has_every_public_name_and_only_those(module):
    page = (DOCS / "api" / f"{module.__name__}.md").read_text()
    entries = set(re.findall(rf"^::: {module.__name__}\.(\w+)$", page, re.M))
    assert _public(module) - entries == set(), "public names without an API entry"
    assert entries - _public(module) == set(), "API entries that are not public names"
    if module is analogsim:
        internal = set(re.findall(r"^::: analogsim\.internal\.(\w+)$", page, re.M))
        assert internal == _public(analogsim.internal)
    # nothing in the docs refers to a private module path (they move)
    for path in DOCS.rglob("*.md"):
        for ref in re.findall(r"^::: (\S+)", path.read_text(), re.M):
            assert not any(part.startswith("_") for part in ref.split(".")), (path, ref)


def _help(*args: str) -> str:
    """`analogsim ARGS --help`, run in this process as `python -m analogsim` would run it."""
    argv, sys.argv = sys.argv, ["analogsim", *args, "--help"]
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit) as end:
            runpy.run_module("analogsim", run_name="__main__")
    finally:
        sys.argv = argv
    assert end.value.code in (0, None)
    return out.getvalue()


def _cli_sections() -> dict[str, str]:
    page = (DOCS / "cli.md").read_text()
    parts = re.split(r"^## (.+)$", page, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_cli_reference_lists_every_command_and_option():
    sections = _cli_sections()
    shared = sections["Options several commands share"]
    commands = re.search(r"\{([a-z,]+)\}", _help()).group(1).split(",")
    for command in commands:
        assert command in sections, f"no section for `analogsim {command}`"
        documented = set(re.findall(r"--[a-z][a-z0-9-]*", sections[command]))
        for row in shared.splitlines():
            cells = row.split("|")
            if len(cells) > 3 and f"`{command}`" in cells[2]:
                documented.update(re.findall(r"--[a-z][a-z0-9-]*", cells[1]))
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", _help(command))) - {"--help"}
        assert options - documented == set(), f"`analogsim {command}` options not in docs/cli.md"


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), f"README links to missing {target}"


def test_docs_site_builds_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "api" / "analogsim" / "index.html").exists()
    assert (tmp_path / "custom-device" / "index.html").exists()
