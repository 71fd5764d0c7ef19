"""The house's layering: each layer imports only the layers below it, no module imports itself
back through others (lazy and type-checking imports included), and `device_models` never
imports `analogsim`."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# bottom-up; a module may import its own layer and the layers listed before it
LAYERS = (
    "_version",
    "_core",
    "_nn",
    "_chip",
    "_model",
    "_cost",
    "_fleet",
    "_learn",
    "_transfer",
    "_sweep",
    "_plot",
    "_cli",
    "",  # the public face: analogsim/__init__.py, __main__.py, internal.py
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file, as absolute dotted names."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from . import x` and `from .pkg import module` import modules too
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""
    return LAYERS.index(sub)


def test_layers_import_only_layers_below():
    wrong = [
        f"{module} (layer {LAYERS[_layer(module)] or 'public'}) imports {dep} "
        f"(layer {LAYERS[_layer(dep)] or 'public'})"
        for module, deps in _graph("analogsim").items()
        for dep in deps
        if _layer(dep) > _layer(module)
    ]
    assert not wrong, "\n".join(sorted(wrong))


def test_every_module_belongs_to_a_layer():
    top_level = {"analogsim", "analogsim.__main__", "analogsim.internal", "analogsim._version"}
    for module in _graph("analogsim"):
        parts = module.split(".")
        assert module in top_level or (len(parts) >= 2 and parts[1] in LAYERS), module


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module] - {module}):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycles():
    for package in ("analogsim", "device_models"):
        cycle = _cycle(_graph(package))
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_device_models_never_imports_analogsim():
    for path in (ROOT / "device_models").rglob("*.py"):
        assert not any(m.split(".")[0] == "analogsim" for m in _imports(path)), path


def test_importing_analogsim_does_not_start_jax():
    """The command line (and a user's script) gives JAX one CPU device per core after
    importing analogsim; that only works while JAX has not started, so no module may create a
    JAX array at import time."""
    import os
    import subprocess
    import sys

    code = (
        "import analogsim; analogsim.use_cpu_cores(3); import jax; "
        "assert jax.device_count('cpu') == 3"  # CPU devices: on a GPU host the default is the GPU
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
