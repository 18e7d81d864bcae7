"""Local entrypoints: map or starmap over an inputs file, one call with the command line's arguments, or the
user's own local function.

A remote entrypoint's parameters are its target's, so `modal run module.py::name --x 1` and
`modalc run app.toml name --x 1` take them as options; the result is printed as one JSON line. A spawn
entrypoint starts the call on the deployed app (an ephemeral app would cancel it when the entrypoint returns)
and prints the call's id.
"""

from __future__ import annotations

from .. import ir
from ..pyliteral import (
    PyCode,
    call,
    fitted_call,
    identifier,
    literal,
    raw,
    scalar,
)
from .common import NONE, Block, Context, app_variable, local_path
from .functions import call_arguments, def_line, signature_items


def entrypoint_block(entrypoint: ir.Entrypoint, context: Context) -> Block:
    if entrypoint.mode in ("map", "starmap"):
        return _fan_out_block(entrypoint)
    if entrypoint.mode == "local":
        return _local_block(entrypoint)
    return _call_block(entrypoint, context)


def _local_block(entrypoint: ir.Entrypoint) -> Block:
    """The user's function, imported when the entrypoint runs: it is local code (it may need what only the
    deployer's machine has), so neither the container nor a deploy imports it."""
    assert entrypoint.local is not None
    module, qualname = entrypoint.local
    signature = entrypoint.signature
    header = _command_line_header(entrypoint, is_async=signature.is_async)
    taken = {p.name for p in signature.parameters}
    function, result = _free("handler", taken), _free("result", taken)
    dotted = ".".join(identifier(part) for part in module.split("."))
    awaited = "await " if signature.is_async else ""
    body = (
        PyCode(f"from {dotted} import {identifier(qualname)} as {function}"),
        PyCode(""),
        fitted_call(f"{result} = {awaited}", function, call_arguments(signature.parameters), 1),
        fitted_call("", "_write_result", [scalar(entrypoint.name), f'{{"output": {result}}}'], 1),
    )
    return Block((raw("app.local_entrypoint()"),), header, body)


def _free(name: str, taken: set[str]) -> str:
    """A local name of the entrypoint's body that none of the target's parameters takes."""
    while name in taken:
        name += "_"
    return name


def _instance(entrypoint: ir.Entrypoint, owner: str, taken: set[str]) -> tuple[list[PyCode], str]:
    """Statements that build the class (for a method target) and the expression of the callable."""
    if entrypoint.method is None:
        return [], owner
    instance = _free("instance", taken)
    arguments = [f"{identifier(k)}={literal(v)}" for k, v in entrypoint.class_parameters]
    return [fitted_call(f"{instance} = ", owner, arguments, 1)], f"{instance}.{identifier(entrypoint.method)}"


def _fan_out_block(entrypoint: ir.Entrypoint) -> Block:
    default_inputs = local_path(entrypoint.inputs) if entrypoint.inputs else scalar("")
    items = [
        f"inputs: str = str({default_inputs})" if entrypoint.inputs else 'inputs: str = ""',
        f"output: str = {scalar(entrypoint.output)}",
        'items: str = ""',
    ]
    header = def_line(entrypoint.name, items, NONE, is_async=False, indent=0)
    body: tuple[PyCode, ...] = (
        fitted_call(
            "arguments = ",
            "_load_inputs",
            ["inputs", "items", scalar(entrypoint.mode), literal(entrypoint.function_parameters)],
            1,
        ),
    )
    building, callee = _instance(
        entrypoint, identifier(entrypoint.function), {"arguments", "inputs", "items", "output"}
    )
    body += (
        *building,
        fitted_call("results = ", f"{callee}.{entrypoint.mode}", ["arguments", "return_exceptions=True"], 1),
        fitted_call("", "_write_results", [scalar(entrypoint.name), "arguments", "results", "output"], 1),
    )
    return Block((raw("app.local_entrypoint()"),), header, body)


def _command_line_header(entrypoint: ir.Entrypoint, *, is_async: bool) -> PyCode:
    # The command line names every argument, so the entrypoint takes them all by name (no `/` or `*`) and
    # passes them on the way the target takes them.
    by_name = tuple(p._replace(kind="positional_or_keyword") for p in entrypoint.signature.parameters)
    ordered = sorted(by_name, key=lambda p: p.default is not None)  # required ones first
    return def_line(entrypoint.name, signature_items(ordered), NONE, is_async=is_async, indent=0)


def _call_block(entrypoint: ir.Entrypoint, context: Context) -> Block:
    parameters = entrypoint.signature.parameters
    header = _command_line_header(entrypoint, is_async=False)
    arguments = call_arguments(parameters)
    taken = {p.name for p in parameters}
    body: list[PyCode] = []
    owner: str = identifier(entrypoint.function)
    if entrypoint.mode == "spawn":
        owner = _free("deployed", taken)
        lookup = raw("modal.Cls.from_name" if entrypoint.method else "modal.Function.from_name")
        owner_app = app_variable(context.owners.get(entrypoint.function))
        found = call(
            lookup,
            [PyCode(f"{owner_app}.name"), scalar(entrypoint.function)],
            [("environment_name", raw("MODAL_ENVIRONMENT or None"))],
        )
        body.append(PyCode(f"{owner} = {found}"))
    building, callee = _instance(entrypoint, owner, taken)
    body += building
    if entrypoint.mode == "remote":
        result = _free("result", taken)
        body += [
            fitted_call(f"{result} = ", f"{callee}.remote", arguments, 1),
            fitted_call("", "_write_result", [scalar(entrypoint.name), f'{{"output": {result}}}'], 1),
        ]
    else:
        started = _free("function_call", taken)
        body += [
            fitted_call(f"{started} = ", f"{callee}.spawn", arguments, 1),
            fitted_call(
                "", "_write_result", [scalar(entrypoint.name), f'{{"function_call_id": {started}.object_id}}'], 1
            ),
        ]
    return Block((raw("app.local_entrypoint()"),), header, tuple(body))
