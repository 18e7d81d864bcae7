"""Images: a constructor (or the parent image) and one chained builder call per step."""

from __future__ import annotations

from collections.abc import Sequence

from .. import ir
from ..pyliteral import (
    INDENT,
    PyCode,
    call,
    identifier,
    indent_continuation,
    literal,
    raw,
    subscript,
)
from .common import SECRETS, keyword_pairs, local_path, secret_list


def image_expression(image: ir.Image) -> PyCode:
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
    links = [base] + [PyCode("." + step_expression(step)) for step in image.steps]
    return method_chain(links)


def method_chain(links: Sequence[str]) -> PyCode:
    """A parenthesized chain, one link per line: the layout black keeps for fluent calls.

    Black splits before the dots only from two method calls on; a single call stays joined to its base.
    """
    if len(links) == 2:
        links = [links[0] + links[1]]
    inner = "".join(f"\n{INDENT}{indent_continuation(link)}" for link in links)
    return PyCode(f"({inner}\n)")


def step_expression(step: ir.Step) -> PyCode:
    positional: list[PyCode] = []
    if step.local_path is not None:
        positional.append(local_path(step.local_path))
    positional += [literal(a) for a in step.args]
    keywords = keyword_pairs(step.kwargs)
    if step.secrets:
        keywords.append(("secrets", secret_list(step.secrets)))
    return call(identifier(step.kind), positional, keywords)
