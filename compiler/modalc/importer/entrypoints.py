"""Local entrypoints: code that runs on the deployer's machine. A body that calls one function or method with the
command line's arguments becomes a `remote` or `spawn` entrypoint; any other body stays the user's code, in
their handler module, and becomes a `local` entrypoint that runs it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sdk import Site
from .source import is_literal, shorten

if TYPE_CHECKING:
    from .mapping import Mapper

CALLS = ("remote", "spawn")


def read_entrypoint(mapper: Mapper, name: str, raw_f: Any, site: Site | None) -> dict[str, Any] | None:
    reader = getattr(mapper.code, "read_entrypoint", None)
    if reader is not None:
        return reader(mapper, name, raw_f, site)  # type: ignore[no-any-return]
    return read_user_entrypoint(mapper, name, raw_f, site)


def read_user_entrypoint(mapper: Mapper, name: str, raw_f: Any, site: Site | None) -> dict[str, Any] | None:
    node = _definition(mapper, raw_f)
    if node is None:
        mapper.problem(site, f"local entrypoint {name}: its source cannot be read")
        return None
    found = _single_call(node)
    parameters = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
    resolved = _target(mapper, found[1]) if found is not None else None
    if found is None or resolved is None or not _passes_through(found[2], parameters, resolved[1]):
        return _kept_as_code(mapper, name, raw_f, site)
    mode, _, _, printed = found
    call_target, _, class_parameters = resolved
    spec: dict[str, Any] = {mode: call_target}
    if class_parameters:
        spec["parameters"] = class_parameters
    path = ("entrypoints", name)
    if mode == "remote":
        how = "prints the result" if printed else "discards the result"
        mapper.comment(path, f'the original {how}; this entrypoint writes it as a JSON line {{"output": ...}}')
    else:
        mapper.comment(path, "spawn starts the call on the deployed app (modalc deploy first) and prints its call id")
    return spec


def _kept_as_code(mapper: Mapper, name: str, raw_f: Any, site: Site | None) -> dict[str, Any] | None:
    """A body of its own: the function stays in the handler module (without its decorator, its calls of the app
    through `modalc_app`) and the entrypoint runs it."""
    handler = mapper.code.handler(raw_f, lambda message: mapper.problem(site, f"local entrypoint {name}: {message}"))
    if handler is None:
        return None
    module, qualname = handler
    mapper.handler_modules.add(module)
    mapper.local_entrypoints.add(qualname)
    mapper.comment(
        ("entrypoints", name),
        "your function, run on your machine while the app runs; it prints its return value as a JSON line",
    )
    return {"local": f"{module}:{qualname}"}


def _definition(mapper: Mapper, raw_f: Any) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        filename = inspect.getsourcefile(raw_f)
    except TypeError:
        return None
    if not filename:
        return None
    node = mapper.index.definition(Path(filename), raw_f.__qualname__)
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _single_call(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ast.AST, ast.Call, bool] | None:
    """(remote|spawn, the callee's owner expression, the call, printed) when the body is one such call."""
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    call: ast.AST | None = None
    printed = False
    if len(body) == 1 and isinstance(body[0], (ast.Expr, ast.Return)) and body[0].value is not None:
        call = body[0].value
        if _is_print(call):
            assert isinstance(call, ast.Call)
            call, printed = (call.args[0], True) if len(call.args) == 1 else (None, False)
    elif len(body) == 2 and isinstance(body[0], ast.Assign) and len(body[0].targets) == 1:
        target = body[0].targets[0]
        second = body[1]
        if (
            isinstance(target, ast.Name)
            and isinstance(second, ast.Expr)
            and _is_print(second.value)
            and isinstance(second.value, ast.Call)
            and len(second.value.args) == 1
            and isinstance(second.value.args[0], ast.Name)
            and second.value.args[0].id == target.id
        ):
            call, printed = body[0].value, True
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute) or call.func.attr not in CALLS:
        return None
    return call.func.attr, call.func.value, call, printed


def _is_print(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


def _target(mapper: Mapper, owner: ast.AST) -> tuple[str, list[str], dict[str, Any]] | None:
    """(manifest call target, the target's parameter names, class parameters)."""
    functions = mapper.sections["functions"]
    classes = mapper.sections["classes"]
    if isinstance(owner, ast.Name) and owner.id in functions:
        return owner.id, _parameters_of(mapper, owner.id, None), {}
    if (
        isinstance(owner, ast.Attribute)
        and isinstance(owner.value, ast.Call)
        and isinstance(owner.value.func, ast.Name)
        and owner.value.func.id in classes
        and not owner.value.args
        and all(k.arg and is_literal(k.value) for k in owner.value.keywords)
    ):
        cls = owner.value.func.id
        parameters = {str(k.arg): ast.literal_eval(k.value) for k in owner.value.keywords}
        return f"{cls}.{owner.attr}", _parameters_of(mapper, cls, owner.attr), parameters
    return None


def _parameters_of(mapper: Mapper, name: str, method: str | None) -> list[str]:
    for reg in mapper.record.registrations:
        if method is None and not reg.is_class and reg.name == name:
            return [p for p in inspect.signature(reg.raw).parameters]
        if method is not None and reg.is_class and reg.name == name:
            member = reg.raw.__dict__.get(method)
            raw, _ = mapper.record.stack(member)
            if not callable(raw):
                return []
            return [p for p in inspect.signature(raw).parameters][1:]
    return []


def _passes_through(call: ast.Call, parameters: list[str], target_parameters: list[str]) -> bool:
    if parameters != target_parameters:
        return False
    passed: list[str] = []
    for arg in call.args:
        if not isinstance(arg, ast.Name):
            return False
        passed.append(arg.id)
    for keyword in call.keywords:
        if keyword.arg is None or not isinstance(keyword.value, ast.Name) or keyword.value.id != keyword.arg:
            return False
        passed.append(keyword.arg)
    return passed == parameters[: len(call.args)] + [k.arg for k in call.keywords if k.arg] and sorted(
        passed
    ) == sorted(parameters)


def describe(node: ast.AST, text: str) -> str:
    return shorten(ast.get_source_segment(text, node) or "")
