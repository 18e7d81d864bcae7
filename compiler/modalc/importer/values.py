"""Which manifest values came from code, and a comment saying so.

Module-level code that computes a value (a constant, an f-string, a comprehension, an environment lookup) has
run by the time the SDK's objects are read: the manifest holds the value it had at import time. The source
shows where it came from, so the manifest says it next to the key: the expression as written, and the
module-level assignments of the names it reads.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sdk import Registration, Site
from .source import is_literal, shorten

if TYPE_CHECKING:
    from .mapping import KeyPath, Mapper


def _globals_of(mapper: Mapper, file: Path) -> dict[str, Any]:
    for module in mapper.code.modules:
        filename = getattr(module, "__file__", None)
        if filename and Path(filename).resolve() == file:
            return vars(module)
    return {}


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_reference(value: Any) -> bool:
    """A Modal object (or a collection of them): what a manifest names by alias, not a computed value."""
    from .mapping import _is_modal_object

    if _is_modal_object(value):
        return True
    if isinstance(value, dict) and value:
        return all(_is_reference(v) for v in value.values())
    if isinstance(value, (list, tuple)) and value:
        return all(_is_reference(v) for v in value)
    return False


def plain(node: ast.AST, names: dict[str, Any]) -> bool:
    """True when the expression is written out in the source: literals, Modal calls on literals, references to
    Modal objects. Anything else was computed."""
    import modal

    if is_literal(node):
        return True
    if isinstance(node, ast.Name):
        value = names.get(node.id)
        return _is_reference(value) or inspect.isfunction(value) or inspect.isclass(value)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and is_literal(node.slice):
        return _is_reference(names.get(node.value.id))
    if isinstance(node, ast.Attribute):
        root = _root_name(node)
        return root is not None and (names.get(root) is modal or _is_reference(names.get(root)))
    if isinstance(node, ast.Call):
        root = _root_name(node.func)
        modal_call = root is not None and (names.get(root) is modal or _is_reference(names.get(root)))
        if not modal_call and root is not None:
            value = names.get(root)
            modal_call = getattr(value, "__module__", "").startswith("modal")
        return (
            modal_call and all(plain(a, names) for a in node.args) and all(plain(k.value, names) for k in node.keywords)
        )
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(plain(e, names) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and plain(k, names) for k in node.keys) and all(plain(v, names) for v in node.values)
    if isinstance(node, ast.Starred):
        return plain(node.value, names)
    return False


def _origins(mapper: Mapper, file: Path, node: ast.AST, names: dict[str, Any]) -> list[str]:
    """`NAME = expression (file:line)` for each module-level name the expression reads that is not Modal's."""
    import modal

    out = []
    seen: set[str] = set()
    for child in ast.walk(node):
        if not isinstance(child, ast.Name) or child.id in seen:
            continue
        seen.add(child.id)
        value = names.get(child.id)
        if value is modal or _is_reference(value) or child.id not in names:
            continue
        statement = mapper.index.assignment(file, child.id)
        parsed = mapper.index.get(file)
        if statement is None or parsed is None:
            continue
        out.append(f"{shorten(parsed.segment(statement), 70)} ({_shown(mapper, file)}:{statement.lineno})")
    return out


def _shown(mapper: Mapper, file: Path) -> str:
    try:
        return file.relative_to(mapper.root).as_posix()
    except ValueError:
        return file.name


def _describe(mapper: Mapper, site: Site, text: str, node: ast.AST, names: dict[str, Any]) -> str:
    where = f"{_shown(mapper, site.file)}:{site.line}"
    origins = _origins(mapper, site.file, node, names)
    message = f"computed at import time by {shorten(text)} ({where})"
    if origins:
        message += "; " + "; ".join(origins)
    return message


def decorator_comments(mapper: Mapper, reg: Registration, path: KeyPath) -> None:
    from .mapping import DECORATOR_KEYS

    site = reg.decorator_site
    if site is None or not mapper.code.values_from_code:
        return
    method = "cls" if reg.is_class else "function"
    call = mapper.index.call_at(site.file, site.line, method)
    parsed = mapper.index.get(site.file)
    if call is None or parsed is None:
        return
    names = _globals_of(mapper, site.file)
    entry = mapper.sections[str(path[0])].get(str(path[1]), {})
    for keyword in call.keywords:
        if keyword.arg is None:
            if not plain(keyword.value, names):
                text = "**" + parsed.segment(keyword.value)
                mapper.comment(path, _describe(mapper, site, text, keyword.value, names))
            continue
        if plain(keyword.value, names):
            continue
        key = DECORATOR_KEYS.get(keyword.arg, keyword.arg)
        target = (*path, key) if key in entry else path
        text = f"{keyword.arg}={parsed.segment(keyword.value)}"
        mapper.comment(target, _describe(mapper, site, text, keyword.value, names))


def call_comment(mapper: Mapper, site: Site | None, method: str, path: KeyPath) -> None:
    """A comment on `path` when the call at `site` (an image step, a lookup) was given computed arguments."""
    if site is None or not mapper.code.values_from_code:
        return
    call = mapper.index.call_at(site.file, site.line, method)
    parsed = mapper.index.get(site.file)
    if call is None or parsed is None:
        return
    names = _globals_of(mapper, site.file)
    computed = [a for a in call.args if not plain(a, names)] + [
        k.value for k in call.keywords if not plain(k.value, names)
    ]
    if not computed:
        return
    holder = ast.Tuple(elts=computed, ctx=ast.Load())
    arguments = ", ".join(parsed.segment(a) for a in call.args) + "".join(
        f", {k.arg}={parsed.segment(k.value)}" if k.arg else f", **{parsed.segment(k.value)}" for k in call.keywords
    )
    text = f"{method}({arguments.lstrip(', ')})"
    mapper.comment(path, _describe(mapper, site, text, holder, names))


def class_parameter_comments(mapper: Mapper, user_cls: Any, path: KeyPath) -> None:
    """`name: str = modal.parameter(default=MODEL_ID)`: a default the code computed."""
    if not mapper.code.values_from_code:
        return
    try:
        filename = inspect.getsourcefile(user_cls)
    except TypeError:
        return
    if not filename:
        return
    file = Path(filename).resolve()
    node = mapper.index.definition(file, user_cls.__qualname__)
    parsed = mapper.index.get(file)
    if not isinstance(node, ast.ClassDef) or parsed is None:
        return
    names = _globals_of(mapper, file)
    for item in node.body:
        if not (
            isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and isinstance(item.value, ast.Call)
        ):
            continue
        for keyword in item.value.keywords:
            if keyword.arg == "default" and not plain(keyword.value, names):
                site = Site(file, item.lineno)
                text = f"{item.target.id} default={parsed.segment(keyword.value)}"
                mapper.comment((*path, "parameters"), _describe(mapper, site, text, keyword.value, names))
