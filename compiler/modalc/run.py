"""`modalc run` and `modalc serve`: a declared entrypoint in an ephemeral app, or `modal serve` of a module.

Results go to stdout as JSON lines; Modal's own output (status, logs) and the progress bar go to stderr, the
bar cleared before each line so the two never share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

from . import compat, ir
from .prepare import DeployError, Prepared, import_module, select_environment, user_packages
from .progress import LineProgress


def run_entrypoint(
    prepared: Prepared,
    name: str,
    *,
    inputs: str | None,
    items: str,
    output: str | None,
    progress: Callable[[int], LineProgress],
    confirm: Callable[[], bool] = lambda: True,
    call_arguments: Sequence[str] = (),
) -> None:
    """Run a declared entrypoint once: a fan-out with progress, or one call with command-line arguments."""
    app = prepared.app
    entrypoints = {e.name: e for e in app.entrypoints}
    if name not in entrypoints:
        declared = ", ".join(entrypoints) or "none"
        raise DeployError(f"no entrypoint named {name!r} (declared: {declared})")
    entrypoint = entrypoints[name]
    if entrypoint.mode in ("map", "starmap"):
        if call_arguments:
            raise DeployError(f"{name} maps over --inputs or --items; it takes no arguments {' '.join(call_arguments)}")
    elif inputs is not None or items or output is not None:
        what = ":".join(entrypoint.local) if entrypoint.local else entrypoint.function
        verb = "runs" if entrypoint.local else "calls"
        raise DeployError(
            f"{name} {verb} {what} once: pass its arguments as options, not --inputs, --items or --output"
        )
    select_environment(prepared.modal_environment)
    module = import_module(prepared.module_path, user_packages(app))
    if entrypoint.mode in ("map", "starmap"):
        _fan_out(prepared, module, entrypoint, inputs, items, output, progress, confirm)
    else:
        _call_once(prepared, module, entrypoint, parse_arguments(entrypoint, call_arguments), confirm)


def _target(module: ModuleType, entrypoint: ir.Entrypoint) -> Any:
    owner = getattr(module, entrypoint.function)
    if entrypoint.method is None:
        return owner
    return getattr(owner(**dict(entrypoint.class_parameters)), entrypoint.method)


def _fan_out(
    prepared: Prepared,
    module: ModuleType,
    entrypoint: ir.Entrypoint,
    inputs: str | None,
    items: str,
    output: str | None,
    progress: Callable[[int], LineProgress],
    confirm: Callable[[], bool],
) -> None:
    default_inputs = str(module.MANIFEST_DIR / entrypoint.inputs) if entrypoint.inputs else ""
    try:
        arguments = module._load_inputs(
            inputs if inputs is not None else default_inputs, items, entrypoint.mode, entrypoint.function_parameters
        )
    except SystemExit as refusal:
        raise DeployError(str(refusal.code)) from None
    if not confirm():
        raise DeployError("run cancelled; nothing was started")
    stdout, stderr = sys.stdout, sys.stderr
    with progress(len(arguments)) as bar, contextlib.redirect_stderr(bar.above(stderr)):
        with (
            compat.output_on_stderr(),
            compat.quiet_heartbeats(),
            module.app.run(environment_name=prepared.modal_environment or None),
        ):
            results = getattr(_target(module, entrypoint), entrypoint.mode)(arguments, return_exceptions=True)
            try:
                module._write_results(
                    entrypoint.name,
                    arguments,
                    _ticking(results, bar),
                    output or entrypoint.output,
                    bar.above(stdout),
                )
            except SystemExit as finished:
                if not isinstance(finished.code, int):
                    raise DeployError(str(finished.code)) from None
                raise


def _call_once(
    prepared: Prepared,
    module: ModuleType,
    entrypoint: ir.Entrypoint,
    arguments: dict[str, Any],
    confirm: Callable[[], bool],
) -> None:
    if not confirm():
        raise DeployError("run cancelled; nothing was started")
    run = getattr(module, entrypoint.name).info.raw_f
    # spawn starts the call on the deployed app: an ephemeral app of its own would only cancel it on exit.
    app_run = (
        contextlib.nullcontext()
        if entrypoint.mode == "spawn"
        else module.app.run(environment_name=prepared.modal_environment or None)
    )
    with compat.output_on_stderr(), app_run:
        try:
            started = run(**arguments)
            if inspect.iscoroutine(started):  # an async local entrypoint, run as `modal run` runs it
                asyncio.run(started)
        except Exception as error:  # the call's own failure is its result, as in map
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
            print(f"{entrypoint.name}: failed", file=sys.stderr)
            raise SystemExit(1) from None


def parse_arguments(entrypoint: ir.Entrypoint, tokens: Sequence[str]) -> dict[str, Any]:
    """`--name value` / `--name=value` / `--flag` / `--no-flag` -> the target's arguments, converted by their
    annotation (str, int, float, bool), as `modal run` parses a local entrypoint's options."""
    parameters = {p.name.replace("_", "-"): p for p in entrypoint.signature.parameters}
    accepted = ", ".join(f"--{option}" for option in parameters) or "none"
    values: dict[str, Any] = {}
    pending = list(tokens)
    while pending:
        token = pending.pop(0)
        if not token.startswith("--"):
            raise DeployError(f"unexpected argument {token!r}: {entrypoint.name} takes options ({accepted})")
        option, has_value, text = token[2:].partition("=")
        negated = option.startswith("no-") and option[3:] in parameters and _kind(parameters[option[3:]]) == "bool"
        parameter = parameters.get(option[3:] if negated else option)
        if parameter is None:
            raise DeployError(f"{entrypoint.name} has no option --{option} (its options: {accepted})")
        if _kind(parameter) == "bool":
            values[parameter.name] = not negated
            continue
        if not has_value:
            if not pending:
                raise DeployError(f"--{option} needs a value")
            text = pending.pop(0)
        try:
            values[parameter.name] = {"int": int, "float": float}.get(_kind(parameter), str)(text)
        except ValueError:
            raise DeployError(f"--{option}: {text!r} is not a valid {_kind(parameter)}") from None
    missing = [f"--{option}" for option, p in parameters.items() if p.default is None and p.name not in values]
    if missing:
        raise DeployError(f"{entrypoint.name} needs {', '.join(missing)}")
    return values


def _kind(parameter: ir.Parameter) -> str:
    return parameter.annotation.expression if parameter.annotation is not None else "str"


def _ticking(results: Iterable[Any], bar: Any) -> Iterator[Any]:
    for result in results:
        bar.update(1)
        yield result


def serve_command(prepared: Prepared) -> list[str]:
    """The `modal serve` command line for the environment's module (hot-reloads as the module changes)."""
    command = [sys.executable, "-m", "modal", "serve"]
    if prepared.modal_environment:
        command += ["--env", prepared.modal_environment]
    target = str(prepared.module_path)
    return command + [target if prepared.variable == "app" else f"{target}::{prepared.variable}"]
