"""Images: a constructor (or the parent image) and one chained builder call per step.

A `run_function` step runs one of the user's functions in Modal's image builder. The builder imports the
function's module by name and calls it, so the generated module defines a small wrapper for it: a plain
module-level function (not a lambda, not nested) that imports the user's module inside its body, because that
module is importable only in the builder container. The import is local, so the wrapper has no globals and its
source (part of the layer's cache key) changes only when the manifest does.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import ir
from ..diagnostics import format_key_path
from ..pyliteral import (
    INDENT,
    PyCode,
    bracketed,
    call,
    comment,
    identifier,
    indent_continuation,
    literal,
    raw,
    scalar,
    subscript,
)
from .common import IMAGES, SECRETS, Block, keyword_pairs, local_path, secret_list
from .resources import mounts_expression

# Keyword order of the builder methods whose keywords modalc collects from several places.
KEYWORD_ORDER = {
    "run_function": (
        "env",
        "secrets",
        "volumes",
        "gpu",
        "cpu",
        "memory",
        "timeout",
        "cloud",
        "region",
        "args",
        "kwargs",
    ),
    "dockerfile_commands": ("context_files", "env", "secrets", "gpu", "context_dir", "build_args"),
}


def image_expression(image: ir.Image, volumes: dict[str, ir.Volume]) -> PyCode:
    if image.parent is not None:
        base = subscript(IMAGES, image.parent)
    else:
        positional: list[PyCode] = []
        if image.local_path is not None:
            positional.append(local_path(image.local_path))
        positional += [literal(a) for a in image.args]
        keywords = keyword_pairs(image.kwargs)
        if image.registry_secret:
            keywords.insert(0, ("secret", subscript(SECRETS, image.registry_secret)))
        if image.context_dir is not None:
            keywords.insert(0, ("context_dir", local_path(image.context_dir)))
        base = call(raw(f"modal.Image.{image.constructor}"), positional, keywords)
    if not image.steps:
        return base
    links = [base] + [PyCode("." + step_expression(step, volumes)) for step in image.steps]
    return method_chain(links)


def method_chain(links: Sequence[str]) -> PyCode:
    """A parenthesized chain, one link per line: the layout black keeps for fluent calls.

    Black splits before the dots only from two method calls on; a single call stays joined to its base.
    """
    if len(links) == 2:
        links = [links[0] + links[1]]
    inner = "".join(f"\n{INDENT}{indent_continuation(link)}" for link in links)
    return PyCode(f"({inner}\n)")


def step_expression(step: ir.Step, volumes: dict[str, ir.Volume]) -> PyCode:
    positional: list[PyCode] = []
    if step.builder is not None:
        positional.append(identifier(step.builder.wrapper))
    if step.local_path is not None:
        positional.append(local_path(step.local_path))
    positional += [literal(a) for a in step.args]
    keywords = keyword_pairs(step.kwargs)
    if step.context_files:
        files = [PyCode(f"{scalar(name)}: str({local_path(path)})") for name, path in step.context_files]
        keywords.append(("context_files", bracketed("{", files, "}")))
    if step.context_dir is not None:
        keywords.append(("context_dir", local_path(step.context_dir)))
    if step.secrets:
        keywords.append(("secrets", secret_list(step.secrets)))
    if step.mounts:
        keywords.append(("volumes", mounts_expression(step.mounts, volumes)))
    order = KEYWORD_ORDER.get(step.kind)
    if order is not None:
        keywords.sort(key=lambda pair: order.index(pair[0]))
    return call(identifier(step.kind), positional, keywords)


def build_function_block(step: ir.Step) -> Block:
    """The module-level wrapper a `run_function` step hands to Modal's image builder."""
    assert step.builder is not None
    builder = step.builder
    module = ".".join(identifier(part) for part in builder.module.split("."))
    return Block(
        (),
        PyCode(f"def {identifier(builder.wrapper)}(*args, **kwargs):"),
        (
            comment(f"{format_key_path(step.key_path)}: runs {builder.module}:{builder.qualname} in the image builder"),
            PyCode(f"from {module} import {identifier(builder.qualname)} as handler"),
            PyCode(""),
            PyCode("return handler(*args, **kwargs)"),
        ),
    )
