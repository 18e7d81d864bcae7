"""Local entrypoints: map or starmap over an inputs file, or one call with the command line's arguments."""

from __future__ import annotations

from .. import ir
from ..pyliteral import (
    fitted_call,
    identifier,
    literal,
    raw,
    scalar,
)
from .common import NONE, Block, local_path
from .functions import def_line


def entrypoint_block(entrypoint: ir.Entrypoint) -> Block:
    default_inputs = local_path(entrypoint.inputs) if entrypoint.inputs else scalar("")
    items = [
        f"inputs: str = str({default_inputs})" if entrypoint.inputs else 'inputs: str = ""',
        f"output: str = {scalar(entrypoint.output)}",
        'items: str = ""',
    ]
    header = def_line(entrypoint.name, items, NONE, is_async=False, indent=0)
    body = (
        fitted_call(
            "arguments = ",
            "_load_inputs",
            ["inputs", "items", scalar(entrypoint.mode), literal(entrypoint.function_parameters)],
            1,
        ),
        fitted_call(
            "results = ",
            f"{identifier(entrypoint.function)}.{entrypoint.mode}",
            ["arguments", "return_exceptions=True"],
            1,
        ),
        fitted_call("", "_write_results", [scalar(entrypoint.name), "arguments", "results", "output"], 1),
    )
    return Block((raw("app.local_entrypoint()"),), header, body)
