"""`modalc run` and `modalc serve`: a declared entrypoint in an ephemeral app, or `modal serve` of a module."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import compat
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
) -> None:
    """An ephemeral `app.run()` of a declared entrypoint, with progress over the mapped inputs.

    Results go to stdout as JSON lines; Modal's own output and the bar go to stderr, the bar cleared before
    each line so the two never share one.
    """
    import modal

    app = prepared.app
    entrypoints = {e.name: e for e in app.entrypoints}
    if name not in entrypoints:
        declared = ", ".join(entrypoints) or "none"
        raise DeployError(f"no entrypoint named {name!r} (declared: {declared})")
    entrypoint = entrypoints[name]
    select_environment(prepared.modal_environment)
    module = import_module(prepared.module_path, user_packages(app))
    default_inputs = str(module.MANIFEST_DIR / entrypoint.inputs) if entrypoint.inputs else ""
    try:
        arguments = module._load_inputs(
            inputs if inputs is not None else default_inputs, items, entrypoint.mode, entrypoint.function_parameters
        )
    except SystemExit as refusal:
        raise DeployError(str(refusal.code)) from None
    if not confirm():
        raise DeployError("run cancelled; nothing was started")
    function = getattr(module, entrypoint.function)
    stdout, stderr = sys.stdout, sys.stderr
    with (
        progress(len(arguments)) as bar,
        contextlib.redirect_stdout(bar.above(stderr)),
        contextlib.redirect_stderr(bar.above(stderr)),
    ):
        with (
            modal.enable_output(),
            compat.quiet_heartbeats(),
            module.app.run(environment_name=prepared.modal_environment or None),
        ):
            results = getattr(function, entrypoint.mode)(arguments, return_exceptions=True)
            try:
                module._write_results(
                    name, arguments, _ticking(results, bar), output or entrypoint.output, bar.above(stdout)
                )
            except SystemExit as finished:
                if not isinstance(finished.code, int):
                    raise DeployError(str(finished.code)) from None
                raise


def _ticking(results: Iterable[Any], bar: Any) -> Iterator[Any]:
    for result in results:
        bar.update(1)
        yield result


def serve_command(prepared: Prepared) -> list[str]:
    """The `modal serve` command line for the environment's module (hot-reloads as the module changes)."""
    command = [sys.executable, "-m", "modal", "serve"]
    if prepared.modal_environment:
        command += ["--env", prepared.modal_environment]
    return command + [str(prepared.module_path)]
