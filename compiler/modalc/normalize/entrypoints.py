"""Local entrypoints: fan a function or a class's method out over an inputs file (map, starmap), call it once
with the command line's arguments (remote waits for the result; spawn starts the call on the deployed app), or
run the user's own function on the deployer's machine while the app runs (local)."""

from __future__ import annotations

from typing import Any, Literal, cast

from .. import handlers, ir
from ..diagnostics import KeyPath, quote_choices, suggest
from .session import Session, as_int

MODES = ("map", "starmap", "remote", "spawn", "local")
# What a command line can give a parameter (Modal's local entrypoints parse these from the annotation).
COMMAND_LINE_TYPES = frozenset({"str", "int", "float", "bool"})


def read_entrypoint(
    s: Session,
    name: str,
    spec: dict[str, Any],
    functions: tuple[ir.Function, ...],
    classes: tuple[ir.Cls, ...],
) -> ir.Entrypoint | None:
    path: KeyPath = ("entrypoints", name)
    mode = cast(Literal["map", "starmap", "remote", "spawn", "local"], next(m for m in MODES if m in spec))
    where = (*path, mode)
    if mode == "local":
        return _local(s, name, spec["local"], path)
    target_name, _, method_name = spec[mode].partition(".")
    target = _target(s, where, target_name, method_name, functions, classes)
    if target is None:
        return None
    signature, web, scheduled, cls = target
    what = f"{target_name}.{method_name}" if method_name else target_name
    if web:
        s.report(where, f"{what} is a web endpoint; call it over HTTP, or target a plain function")
    if scheduled and mode in ("map", "starmap"):
        s.report(where, f"{what} is a scheduled function; map over a plain function")
    if signature.is_generator:
        s.report(where, f"{what}() is a generator; Modal cannot .{mode}() generator functions")
    class_parameters = _class_parameters(s, path, spec, cls, what)
    positional = [p for p in signature.parameters if p.kind in ("positional_only", "positional_or_keyword")]
    if mode in ("map", "starmap"):
        _check_fan_out(s, where, mode, what, signature, positional)
        inputs, output = _files(s, path, spec)
        return ir.Entrypoint(
            name,
            target_name,
            mode,
            inputs,
            output,
            tuple(p.name for p in positional),
            method=method_name or None,
            class_parameters=class_parameters,
            key_path=path,
        )
    _check_command_line(s, where, what, signature)
    return ir.Entrypoint(
        name,
        target_name,
        mode,
        method=method_name or None,
        class_parameters=class_parameters,
        signature=signature,
        key_path=path,
    )


def _local(s: Session, name: str, handler: str, path: KeyPath) -> ir.Entrypoint | None:
    """Your function as the entrypoint's body: it takes the command line's arguments and calls the app itself."""
    where = (*path, "local")
    module, _, qualname = handler.partition(":")
    try:
        _, node = s.tree.find(module, qualname)
    except handlers.HandlerError as error:
        s.report(where, error.message, hint=error.hint)
        return None
    if not isinstance(node, handlers.FunctionFacts):
        s.report(where, f"{qualname!r} is {handlers.describe(node)}; a local entrypoint runs a function")
        return None
    try:
        signature = s.tree.signature(node, "_")
    except handlers.HandlerError as error:
        s.report(where, error.message, hint=error.hint)
        return None
    if signature.is_generator:
        s.report(where, f"{qualname}() is a generator; a local entrypoint runs a function once")
    _check_command_line(s, where, qualname, signature)
    return ir.Entrypoint(name, "", "local", signature=signature, local=(module, qualname), key_path=path)


def _target(
    s: Session,
    where: KeyPath,
    target: str,
    method: str,
    functions: tuple[ir.Function, ...],
    classes: tuple[ir.Cls, ...],
) -> tuple[ir.Signature, bool, bool, ir.Cls | None] | None:
    """(signature, is a web endpoint, is scheduled, the class) of what an entrypoint calls."""
    declared_functions, declared_classes = s.data.get("functions", {}), s.data.get("classes", {})
    if not method:
        if target not in declared_functions:
            if target in declared_classes:
                s.report(where, f"{target!r} is a class; name one of its methods: {target}.METHOD")
            else:
                s.report(where, f"no function named {target!r}" + suggest(target, [*declared_functions]))
            return None
        function = next((f for f in functions if f.name == target), None)
        if function is None:
            return None  # its own errors were reported
        return function.handler.signature, function.web is not None, function.schedule is not None, None
    if target not in declared_classes:
        s.report(where, f"no class named {target!r}" + suggest(target, [*declared_classes]))
        return None
    cls = next((c for c in classes if c.name == target), None)
    if cls is None:
        return None
    found = next((m for m in cls.methods if m.name == method), None)
    if found is None:
        s.report(where, f"class {target} has no method {method!r}" + suggest(method, [m.name for m in cls.methods]))
        return None
    return found.signature, found.web is not None, False, cls


def _class_parameters(
    s: Session, path: KeyPath, spec: dict[str, Any], cls: ir.Cls | None, what: str
) -> tuple[tuple[str, object], ...]:
    given = spec.get("parameters", {})
    if cls is None:
        if given:
            s.report((*path, "parameters"), f"{what} is a function; `parameters` construct a class", at_key=True)
        return ()
    declared = {p.name: p for p in cls.parameters}
    out: list[tuple[str, object]] = []
    for name, value in given.items():
        parameter = declared.get(name)
        if parameter is None:
            s.report(
                (*path, "parameters", name),
                f"class {cls.name} has no parameter {name!r}" + suggest(name, declared),
                at_key=True,
            )
            continue
        value = as_int(value) if parameter.type == "int" else value
        python = {"str": str, "bytes": str, "int": int, "bool": bool}[parameter.type]
        if not isinstance(value, python) or (parameter.type != "bool" and isinstance(value, bool)):
            article = "an" if parameter.type == "int" else "a"
            s.report(
                (*path, "parameters", name), f"{cls.name}.{name} is {article} {parameter.type} parameter, not {value!r}"
            )
            continue
        out.append((name, value.encode("utf-8") if isinstance(value, str) and parameter.type == "bytes" else value))
    missing = [p.name for p in cls.parameters if not p.has_default and p.name not in given]
    if missing:
        s.report(
            path, f"{cls.name} needs parameters {quote_choices(missing)}; give them under `parameters`", at_key=True
        )
    return tuple(out)


def _check_fan_out(
    s: Session,
    where: KeyPath,
    mode: str,
    what: str,
    signature: ir.Signature,
    positional: list[ir.Parameter],
) -> None:
    required = [p for p in positional if p.default is None]
    keyword_only = [p.name for p in signature.parameters if p.kind == "keyword_only" and p.default is None]
    if keyword_only:
        s.report(
            where,
            f"{what}() requires keyword-only {quote_choices(keyword_only)}, which {mode} cannot pass; give them "
            "defaults",
        )
    elif mode == "map" and (not positional or len(required) > 1):
        s.report(
            where,
            f"map calls {what}() with one argument per input, but it takes {len(required)} required arguments",
            hint="use starmap, with a list of arguments per input" if len(required) > 1 else None,
        )


def _check_command_line(s: Session, where: KeyPath, what: str, signature: ir.Signature) -> None:
    """remote/spawn take their arguments from the command line: each parameter must be one it can give."""
    for parameter in signature.parameters:
        if parameter.kind in ("var_positional", "var_keyword"):
            s.report(where, f"{what}() takes *{parameter.name}; a command line gives named arguments only")
            continue
        annotation = parameter.annotation
        if annotation is not None and (annotation.quoted or annotation.expression not in COMMAND_LINE_TYPES):
            s.report(
                where,
                f"{what}() takes {parameter.name}: {annotation.expression}, which a command line cannot give",
                hint="annotate it str, int, float or bool (or call it from your own code)",
            )


def _files(s: Session, path: KeyPath, spec: dict[str, Any]) -> tuple[str | None, str]:
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
    return inputs, output
