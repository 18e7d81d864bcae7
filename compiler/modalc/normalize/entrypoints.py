"""Local entrypoints: map or starmap a declared function over an inputs file."""

from __future__ import annotations

from typing import Any, Literal

from .. import ir
from ..diagnostics import KeyPath, quote_choices, suggest
from .session import Session


def read_entrypoint(
    s: Session, name: str, spec: dict[str, Any], functions: tuple[ir.Function, ...]
) -> ir.Entrypoint | None:
    path: KeyPath = ("entrypoints", name)
    mode: Literal["map", "starmap"] = "map" if "map" in spec else "starmap"
    target = spec[mode]
    by_name = {f.name: f for f in functions}
    declared = s.data.get("functions", {})
    if target not in declared:
        message = f"no function named {target!r}"
        if target in s.data.get("classes", {}):
            message = f"{target!r} is a class; entrypoints map over functions"
        else:
            message += suggest(target, declared)
        s.report((*path, mode), message)
        return None
    function = by_name.get(target)
    if function is None:
        return None  # its own errors were reported
    signature = function.handler.signature
    if function.web is not None or function.schedule is not None:
        s.report(
            (*path, mode),
            f"{target} is a {'web endpoint' if function.web else 'scheduled function'}; map over a plain function",
        )
    if signature.is_generator:
        s.report((*path, mode), f"{target}() is a generator; Modal cannot .{mode}() generator functions")
    positional = [p for p in signature.parameters if p.kind in ("positional_only", "positional_or_keyword")]
    required = [p for p in positional if p.default is None]
    keyword_only = [p.name for p in signature.parameters if p.kind == "keyword_only" and p.default is None]
    if keyword_only:
        s.report(
            (*path, mode),
            f"{target}() requires keyword-only {quote_choices(keyword_only)}, which "
            f"{mode} cannot pass; give them defaults",
        )
    elif mode == "map" and (not positional or len(required) > 1):
        s.report(
            (*path, mode),
            f"map calls {target}() with one argument per input, but it takes {len(required)} required arguments",
            hint="use starmap, with a list of arguments per input" if len(required) > 1 else None,
        )
    inputs = spec.get("inputs")
    if inputs is not None and not inputs.endswith((".jsonl", ".ndjson", ".csv")):
        s.report((*path, "inputs"), f"{inputs!r}: inputs are read from a .jsonl or .csv file")
    if inputs is not None and not s.inside_project(inputs):
        s.report((*path, "inputs"), f"{inputs!r} must stay inside the manifest's directory")
    elif inputs is not None:
        resolved = s.project.directory / inputs
        s.dependencies.add(resolved)
        if not resolved.is_file():
            s.report(
                (*path, "inputs"),
                f"{inputs!r} does not exist" if not resolved.exists() else f"{inputs!r} is not a file",
            )
    output = spec.get("output", "-")
    if output != "-" and not output.endswith((".jsonl", ".ndjson")):
        s.report(
            (*path, "output"), f"{output!r}: results are written as JSON lines (.jsonl), or '-' for standard output"
        )
    elif output != "-" and not s.inside_project(output):
        s.report((*path, "output"), f"{output!r} must stay inside the manifest's directory")
    return ir.Entrypoint(name, target, mode, inputs, output, tuple(p.name for p in positional), path)
