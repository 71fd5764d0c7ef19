"""The `analogsim` command line. Errors a user can make exit with status 2 and one line."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import chip, cost, device, devices, plot, rerun, simulate, sweep, train, transfer
from .arguments import CommandError, Parser
from .config import config_defaults
from .launch import accelerator_installed, start_devices


def _default_cpu_flag(flag: str, value: str) -> None:
    """Add `--flag=value` to XLA_FLAGS unless the caller set that flag, and only where JAX's
    backend will be the CPU; before the backend starts (at its first use, not at import)."""
    if flag not in os.environ.get("XLA_FLAGS", "") and not accelerator_installed():
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --{flag}={value}".strip()


# Full LLVM optimization makes XLA:CPU compile these programs ~5x slower for ~20% faster runs;
# a command compiles once and runs briefly, so optimization level 1 wins.
_default_cpu_flag("xla_backend_optimization_level", "1")
# XLA:CPU's concurrency-optimized scheduler runs input-independent work (every weight's
# array read, or its regenerated devices) ahead and holds it all at once: a 4-block
# transformer's forward asked for 516 MB of temporaries with it, 56 MB without, and ran
# faster without (0.37 s against 0.53 s) on 2 cores.
_default_cpu_flag("xla_cpu_enable_concurrency_optimized_scheduler", "false")

FLEET_COMMANDS = ("simulate", "train", "transfer", "sweep")
# every command, in the order `analogsim --help` lists them: a module with `add_parser(sub)`
# and `run(args)` (rerun's `argv(args, folder)` names the command it runs again)
COMMANDS = {
    "transfer": transfer,
    "sweep": sweep,
    "plot": plot,
    "simulate": simulate,
    "train": train,
    "cost": cost,
    "device": device,
    "chip": chip,
    "devices": devices,
    "rerun": rerun,
}


def _build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="analogsim", description="Simulate networks on analog in-memory chips.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    parser.commands = sub.choices  # type: ignore[attr-defined]
    return parser


def _enable_compilation_cache() -> None:
    """Keep compiled programs between runs (ANALOGSIM_CACHE="" turns it off)."""
    import jax

    cache = os.environ.get("ANALOGSIM_CACHE", str(Path.home() / ".cache" / "analogsim" / "xla"))
    if cache and not jax.config.jax_compilation_cache_dir:  # a caller's own cache wins
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `analogsim` command."""
    from device_models import ParameterError

    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = _build_parser()
        args = parser.parse_args(argv)
        args.hardware = {}
        if getattr(args, "config", None) is not None:
            sub = parser.commands[args.command]
            defaults, hardware = config_defaults(sub, args.config)
            sub.set_defaults(**defaults)
            args = parser.parse_args(argv)  # flags given override the file
            args.hardware = hardware
        if args.command == "rerun":
            with tempfile.TemporaryDirectory() as folder:
                return main(rerun.argv(args, folder))
        _enable_compilation_cache()
        if args.command in FLEET_COMMANDS:
            start_devices(args, argv)
        COMMANDS[args.command].run(args)
    except (CommandError, ParameterError) as err:
        print(f"analogsim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # results are written whole (atomically) at the end, so nothing partial is left;
        # sweeps keep their finished chunks (they print where) and resume from them
        print(
            "analogsim: interrupted; no partial result was written. Run the same command again "
            "(a sweep resumes from its finished chunks).",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
