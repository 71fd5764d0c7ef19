"""`--model NAME` or `--model FILE.py:FACTORY` and `--dataset`: the model a command runs,
built, trained or loaded.

A user's factory is `FACTORY(data, *, key) -> model`, as the shipped ones are
(`_nn.workloads`): an equinox module called one example at a time. Importing FILE.py runs
it: only a file the user names on the command line is ever imported (`rerun` refuses a
record that names one, unless the user names the same file again).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from .arguments import CommandError


def add_model_args(parser: argparse.ArgumentParser, instead_of: str = "--network") -> None:
    from .._nn.tasks import BUILT_IN
    from .._nn.workloads import WORKLOADS

    parser.add_argument(
        "--model",
        default=None,
        metavar="NAME|FILE.py:FACTORY",
        help=f"a JAX model instead of {instead_of}: a shipped one ({', '.join(WORKLOADS)}) or "
        "FACTORY(data, *, key) in a Python file of yours",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help=f"the model's task: {', '.join(BUILT_IN)} or FILE.npz (x_train, y_train, x_test, "
        "y_test); default: the shipped model's own",
    )


def is_code(model: str) -> bool:
    """Whether `--model` names a Python file (code) rather than a shipped model."""
    return ":" in model or model.endswith(".py")


def load_factory(text: str) -> Any:
    """The function `FACTORY` of `FILE.py:FACTORY`, its file imported."""
    path, sep, name = text.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise CommandError(f"--model {text!r}: a Python model is FILE.py:FACTORY")
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"--model {text}: no file {path}")
    module_name = f"analogsim_user_model_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise CommandError(f"--model {text}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: any failure is reported in one line
        raise CommandError(f"--model {text}: importing {path} failed: {_one_line(err)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise CommandError(f"--model {text}: {path} has no function {name}")
    return factory


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def refuse_model_options_without_model(args: argparse.Namespace) -> None:
    """`--dataset` names a `--model`'s task (the built-in networks run on digits), and
    `--regenerate-identity` is `to_analog`'s."""
    if args.dataset is not None:
        raise CommandError("--dataset is for --model; the built-in networks run on digits")
    if getattr(args, "regenerate_identity", False):
        raise CommandError(
            "--regenerate-identity is for --model; the built-in networks hold theirs"
        )


def model_info(args: argparse.Namespace, data: Any, made_by: str) -> dict[str, Any]:
    """What a saved model's description says of where it came from (`model.json`)."""
    return {"model": args.model, "dataset": data.name, "made_by": made_by, "seed": args.seed}


def model_task(args: argparse.Namespace) -> tuple[Any, Any]:
    """(the shipped workload or None, the task) of `--model` and `--dataset`."""
    from device_models import ParameterError

    from .._nn.tasks import load_dataset
    from .._nn.workloads import get_workload

    workload = None if is_code(args.model) else get_workload(args.model)
    dataset = args.dataset or (workload.dataset if workload else None)
    if dataset is None:
        raise CommandError(f"--model {args.model}: give its task with --dataset FILE.npz")
    try:
        return workload, load_dataset(dataset, flatten=False)
    except ParameterError as err:
        raise CommandError(f"--dataset: {err}") from None


def build_model(args: argparse.Namespace, workload: Any, data: Any, *, key: Any) -> Any:
    """The untrained model of `--model` for `data`, initialized from `key`."""
    import equinox as eqx
    import jax

    from device_models import ParameterError

    factory = workload.factory if workload else load_factory(args.model)
    try:
        model = factory(data, key=key)
    except ParameterError:
        raise
    except Exception as err:  # the user's code
        raise CommandError(f"--model {args.model}: the factory failed: {_one_line(err)}") from None
    if not callable(model) or not jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)):
        raise CommandError(
            f"--model {args.model}: the factory returned {type(model).__name__}, not a model "
            "(a callable equinox module with float weights, called one example at a time)"
        )
    return model


def untrained_model(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(the untrained model of `--model`, its task, the shipped workload or None); the model
    is initialized from `stream(root_key(seed), "train", 0)`, as `fit` initializes networks."""
    from .._core.keys import root_key, stream

    workload, data = model_task(args)
    model = build_model(args, workload, data, key=stream(root_key(args.seed), "train", 0))
    return model, data, workload


def model_schedule(args: argparse.Namespace, workload: Any) -> dict[str, Any]:
    """`fit_model`'s schedule: the shipped model's own (or AdamW at 1e-3, batch 128, 10
    epochs for a user's), with `--epochs`, and `train`'s `--lr` and `--batch-size`, over it."""
    schedule: dict[str, Any] = dict(epochs=10, batch_size=128, learning_rate=1e-3, weight_decay=0.0)
    if workload:
        schedule = dict(
            epochs=workload.epochs,
            batch_size=workload.batch_size,
            learning_rate=workload.learning_rate,
            weight_decay=workload.weight_decay,
        )
    given = dict(
        epochs=args.epochs,
        batch_size=getattr(args, "batch_size", None),
        learning_rate=getattr(args, "lr", None),
    )
    schedule.update({k: v for k, v in given.items() if v is not None})
    return schedule


def trained_model(args: argparse.Namespace, *, made_by: str) -> tuple[Any, Any, dict[str, Any]]:
    """(the model of `--model`, trained digitally or loaded from `--weights`, its task, what
    describes it for saving)."""
    import numpy as np

    from .._core.keys import root_key
    from .._nn.fit_model import fit_model
    from .._nn.model_file import load_model

    model, data, workload = untrained_model(args)
    info = model_info(args, data, made_by)
    if args.weights is not None:
        return load_model(args.weights, model), data, {**info, "weights_file": args.weights}
    schedule = model_schedule(args, workload)
    model, losses = fit_model(
        model,
        data,
        key=root_key(args.seed),
        progress=not args.quiet,
        desc=f"train {data.name}",
        **schedule,
    )
    info.update(final_loss=float(np.asarray(losses)[-1]), **schedule)
    return model, data, info
