"""Images: a constructor (or the parent image) and one chained builder call per step.

A `run_function` step runs one of the user's functions in Modal's image builder. The builder imports the
function's module by name and calls it, so the generated module defines a small wrapper for it: a plain
module-level function (not a lambda, not nested) that imports the user's module inside its body, because that
module is importable only in the builder container. The import is local, so the wrapper has no globals, and
its name and source (part of the layer's cache key) depend on the handler alone: adding, moving or renaming
other steps and images rebuilds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import ir
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

# The keywords of Modal's image constructors and builder methods in the order of their signatures (modal 1.6).
_PIP = ("find_links", "index_url", "extra_index_url", "pre", "extra_options", "force_build", "env", "secrets", "gpu")
KEYWORD_ORDER = {
    "debian_slim": ("python_version", "force_build"),
    "micromamba": ("python_version", "force_build"),
    **{
        registry: ("secret", "force_build", "add_python")
        for registry in ("from_registry", "from_aws_ecr", "from_gcp_artifact_registry")
    },
    "from_dockerfile": ("force_build", "context_dir", "build_args", "add_python"),
    "apt_install": ("force_build", "env", "secrets", "gpu"),
    "pip_install": _PIP,
    "pip_install_from_requirements": _PIP,
    "pip_install_from_pyproject": ("optional_dependencies", *_PIP),
    "uv_pip_install": ("requirements", *_PIP[:6], "uv_version", *_PIP[6:]),
    "micromamba_install": ("channels", "force_build", "env", "secrets", "gpu"),
    "run_commands": ("env", "secrets", "volumes", "gpu", "force_build"),
    "dockerfile_commands": (
        "context_files",
        "env",
        "secrets",
        "gpu",
        "context_dir",
        "force_build",
        "ignore",
        "build_args",
    ),
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
        "force_build",
        "args",
        "kwargs",
    ),
    "add_local_python_source": ("copy", "ignore"),
    "add_local_dir": ("copy", "ignore"),
}


def _in_signature_order(method: str, keywords: list[tuple[str, PyCode]]) -> list[tuple[str, PyCode]]:
    order = KEYWORD_ORDER.get(method)
    return keywords if order is None else sorted(keywords, key=lambda pair: order.index(pair[0]))


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
        keywords = _in_signature_order(image.constructor, keywords)
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
    if step.requirements:
        keywords.append(
            ("requirements", bracketed("[", [PyCode(f"str({local_path(r)})") for r in step.requirements], "]"))
        )
    return call(identifier(step.kind), positional, _in_signature_order(step.kind, keywords))


def build_function_block(step: ir.Step) -> Block:
    """The module-level wrapper a `run_function` step hands to Modal's image builder."""
    assert step.builder is not None
    builder = step.builder
    module = ".".join(identifier(part) for part in builder.module.split("."))
    return Block(
        (),
        PyCode(f"def {identifier(builder.wrapper)}(*args, **kwargs):"),
        (
            comment(f"Runs {builder.module}:{builder.qualname} in Modal's image builder."),
            PyCode(f"from {module} import {identifier(builder.qualname)} as handler"),
            PyCode(""),
            PyCode("return handler(*args, **kwargs)"),
        ),
    )


def packaged_image(image: ir.Image) -> PyCode:
    """An image other images build on, with its handlers' packages added once they are all built: Modal refuses
    build steps after a deferred mount, and functions, classes and `imports()` must share one image object."""
    return PyCode(
        f"{subscript(IMAGES, image.alias)}."
        + call(raw("add_local_python_source"), [scalar(p) for p in image.use_packages])
    )
