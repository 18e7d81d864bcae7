"""The user's modules as handler modules: their code, with Modal's decorators and registrations taken out.

Edits are made on the source text, line by line, so that everything kept stays exactly as written (comments,
blank lines, formatting). What changes, and why:

- Modal decorators (`@app.function(...)`, `@modal.method()`, `@modal.enter()`, `@modal.fastapi_endpoint()`, ...)
  are removed: the manifest declares them, and the generated module applies them to its wrappers.
- Module-level definitions of Modal objects (`app = modal.App(...)`, images, volumes, secrets, ...) are removed,
  unless the kept code still uses them (a body that calls `volume.commit()` keeps its volume).
- Local entrypoints that call one function are removed (a manifest entrypoint); one with a body of its own stays,
  without its decorator, and a `local` entrypoint runs it.
- `with image.imports():` blocks are unwrapped: the generated module imports the handler module inside the
  image's own `imports()` block, which gives the same behaviour. When the module's handlers run on other
  images too, the block becomes `try: ... except ImportError: pass`, as those images would skip it.
- A body that uses another Modal function or class of the app (`process.map(items)`) reaches it through the
  generated module: `modalc_app.process.map(items)`.
- `name: str = modal.parameter(...)` becomes `name: str`, and the class gets an `__init__` taking its parameters
  by keyword (the generated class passes them so).
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .model import ERROR, NOTE, Problem
from .sdk import Parameter, Site

REMOTE_CALLS = frozenset({"remote", "spawn", "map", "starmap", "for_each", "spawn_map", "remote_gen"})
HEADER = (
    "# Imported by `modalc import` from {source}: your code, with Modal's decorators and registrations taken out.",
    "# The infrastructure they declared is in {manifest}; `modalc build` compiles it into generated/.",
)


@dataclass
class Rewritten:
    text: str
    problems: list[Problem] = field(default_factory=list)
    uses_app_module: bool = False
    imported: dict[str, set[str]] = field(default_factory=dict)  # module -> Modal objects this one still imports


class Edits:
    """Edits of a text by line (1-based) and column (characters), applied all at once."""

    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"
        self._inserts: list[tuple[int, int, int, str]] = []  # (line, first column, end column, text)
        self._line_ops: list[tuple[float, int, str, Any]] = []  # (position, order, kind, payload)

    def column(self, line: int, byte_offset: int) -> int:
        return len(self.lines[line - 1].encode("utf-8")[:byte_offset].decode("utf-8", "replace"))

    def insert(self, line: int, byte_offset: int, text: str) -> None:
        column = self.column(line, byte_offset)
        self._inserts.append((line, column, column, text))

    def replace_span(self, line: int, first_byte: int, end_byte: int, text: str) -> None:
        """Replace part of one line (columns as the ast gives them, in UTF-8 bytes)."""
        self._inserts.append((line, self.column(line, first_byte), self.column(line, end_byte), text))

    def delete(self, first: int, last: int) -> None:
        self._line_ops.append((first, 0, "delete", last))

    def replace(self, first: int, last: int, lines: list[str]) -> None:
        self._line_ops.append((first, 0, "replace", (last, lines)))

    def insert_after(self, line: int, lines: list[str]) -> None:
        self._line_ops.append((line + 0.5, 1, "insert", lines))

    def insert_before(self, line: int, lines: list[str]) -> None:
        self._line_ops.append((line - 0.5, 1, "insert", lines))

    def dedent(self, first: int, last: int, width: int) -> None:
        self._line_ops.append((first, 2, "dedent", (last, width)))

    def apply(self) -> str:
        lines = list(self.lines)
        for line, column, end, text in sorted(self._inserts, key=lambda i: (i[0], i[1]), reverse=True):
            current = lines[line - 1]
            lines[line - 1] = current[:column] + text + current[end:]
        for position, _, kind, payload in sorted(self._line_ops, key=lambda op: (op[0], op[1]), reverse=True):
            if kind == "delete":
                del lines[int(position) - 1 : payload]
            elif kind == "replace":
                last, new = payload
                lines[int(position) - 1 : last] = [n + "\n" for n in new]
            elif kind == "insert":
                index = int(position + 0.5) - 1 if position % 1 else int(position)
                lines[index:index] = [n + "\n" for n in payload]
            else:
                last, width = payload
                for index in range(int(position) - 1, last):
                    text = lines[index]
                    stripped = len(text) - len(text.lstrip(" "))
                    lines[index] = text[min(width, stripped) :] if text.strip() else text
        text = "".join(lines)
        while "\n\n\n\n" in text:
            text = text.replace("\n\n\n\n", "\n\n\n")
        return text.rstrip("\n") + "\n" if text.strip() else text


def _is_modal(value: Any) -> bool:
    import modal

    if value is modal:
        return True
    if isinstance(value, ModuleType):
        return value.__name__.startswith("modal.")
    module = getattr(value, "__module__", None) or type(value).__module__ or ""
    return module == "modal" or module.startswith("modal.")


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [alias.asname or alias.name for alias in node.names]
    if isinstance(node, ast.Assign):
        return [n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _loads(nodes: Iterable[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _multiline_strings(text: str) -> list[tuple[int, int]]:
    spans = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                spans.append((token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return spans


class ModuleRewriter:
    def __init__(
        self,
        *,
        path: Path,
        text: str,
        module: ModuleType,
        registered: dict[int, str],
        handler_images: list[Any],
        image_ancestors: dict[int, set[int]],
        source_label: str,
        manifest_name: str,
        classes: dict[int, Any] | None = None,
        parameters: dict[int, Parameter] | None = None,
        local_entrypoints: set[str] = frozenset(),  # type: ignore[assignment]
    ):
        self.path = path
        self.text = text
        self.tree = ast.parse(text, filename=str(path))
        self.globals = vars(module)
        self.registered = registered  # id of a registered Function/Cls object -> its manifest name
        self.handler_images = handler_images  # images the module's handlers run on
        self.image_ancestors = image_ancestors  # id of an image -> ids of it and every image it builds on
        self.edits = Edits(text)
        self.problems: list[Problem] = []
        self.source_label = source_label
        self.manifest_name = manifest_name
        self.uses_app_module = False
        self.deleted: set[int] = set()  # ids of definitions left out (local entrypoints)
        self.classes = classes or {}  # id of a registered Cls object -> the user's class under it
        self.parameters = parameters or {}  # id of a modal.parameter() field -> what it was given
        self.local_entrypoints = local_entrypoints  # local entrypoints kept as code (`local` in the manifest)

    def problem(self, line: int, message: str, severity: str = ERROR) -> None:
        self.problems.append(Problem(Site(self.path, line), message, severity))

    # -- what module-level names hold -------------------------------------------------------------------------

    def value(self, name: str | None) -> Any:
        return self.globals.get(name) if name else None

    def registered_name(self, name: str) -> str | None:
        value = self.globals.get(name)
        if value is None:
            return None
        return self.registered.get(id(value))

    def is_infra(self, value: Any) -> bool:
        if isinstance(value, dict) and value:
            return all(self.is_infra(v) for v in value.values())
        if isinstance(value, (list, tuple)) and value:
            return all(self.is_infra(v) for v in value)
        return _is_modal(value)

    def modal_decorator(self, node: ast.expr) -> bool:
        return _is_modal(self.value(_root(node)))

    # -- the rewrite ------------------------------------------------------------------------------------------

    def rewrite(self, needed_elsewhere: set[str] = frozenset()) -> Rewritten:  # type: ignore[assignment]
        """The handler module; `needed_elsewhere` are names other handler modules import from this one."""
        removable: dict[str, list[ast.stmt]] = {}  # name -> statements defining it that may go
        kept: list[ast.AST] = []  # what stays, for the names it reads
        imports_blocks: list[ast.With] = []
        for node in self.tree.body:
            self.statement(node, removable, kept, imports_blocks)
        self.rewrite_bodies()
        # A definition that kept code reads stays; the rest goes (to a fixpoint: kept definitions read others).
        needed = _loads(kept) | self._body_loads() | set(needed_elsewhere)
        keep_names: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, statements in removable.items():
                if name in needed and name not in keep_names:
                    keep_names.add(name)
                    needed |= _loads(statements)
                    changed = True
        for name in sorted(keep_names):
            value = self.globals.get(name)
            kind = type(value).__name__
            if kind in ("App", "Image", "Function", "Cls"):
                statement = removable[name][0]
                self.problem(
                    statement.lineno,
                    f"{name} (a modal.{kind}) stays in the handler module: code you kept uses it",
                    NOTE,
                )
        self.remove_definitions(removable, keep_names)
        for block in imports_blocks:
            self.unwrap(block)
        self.header()
        imported: dict[str, set[str]] = {}
        for name in keep_names:
            for statement in removable[name]:
                if isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
                    imported.setdefault(statement.module, set()).add(name)
        return Rewritten(self.edits.apply(), self.problems, self.uses_app_module, imported)

    def statement(
        self, node: ast.stmt, removable: dict[str, list[ast.stmt]], kept: list[ast.AST], blocks: list[ast.With]
    ) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = _bound_names(node)
            if any(self.is_infra(self.value(n)) for n in names):
                for name in names:
                    removable.setdefault(name, []).append(node)
                return
            kept.append(node)
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            names = _bound_names(node)
            if names and all(self.is_infra(self.value(n)) for n in names):
                for name in names:
                    removable.setdefault(name, []).append(node)
                return
            kept.append(node)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(node, kept)
            return
        if isinstance(node, ast.ClassDef):
            self.cls(node, kept)
            return
        if isinstance(node, ast.With) and self.imports_block(node):
            blocks.append(node)
            for inner in node.body:
                self.statement(inner, removable, kept, blocks)
            return
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and self.is_infra(self.value(_root(node.value)))
        ):
            self.delete(node)  # app.include(other), volume.hydrate(), ...: the manifest has what they declare
            return
        if self.main_block(node):
            if _loads([node]) & {n for n, v in self.globals.items() if self.is_infra(v)}:
                self.delete(node)
                self.problem(
                    node.lineno,
                    'the `if __name__ == "__main__":` block runs the app from this file; it is left out of the '
                    "handler module (run it with modalc run, or keep it as a script of your own)",
                )
                return
        apps = {n for n, v in self.globals.items() if type(v).__name__ == "App" and _is_modal(v)}
        if _loads([node]) & apps:
            self.delete(node)
            self.problem(
                node.lineno,
                "module-level code that registers on the app is left out of the handler module; the manifest "
                "declares what it registered",
                NOTE,
            )
            return
        kept.append(node)
        self._module_level_uses(node)

    def main_block(self, node: ast.stmt) -> bool:
        return (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        )

    def imports_block(self, node: ast.With) -> bool:
        if len(node.items) != 1 or node.items[0].optional_vars is not None:
            return False
        call = node.items[0].context_expr
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "imports"):
            return False
        import modal

        return isinstance(self.value(_root(call.func.value)), modal.Image)

    def _module_level_uses(self, node: ast.AST) -> None:
        """Module-level code that reads a Modal function or class at import time cannot keep working: in the
        handler module that name is the plain function."""
        for child in ast.walk(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load) and self.registered_name(child.id):
                self.problem(
                    child.lineno,
                    f"module-level code uses {child.id} (a Modal function or class) at import time; in the handler "
                    "module it is your plain function",
                )

    # -- functions and classes --------------------------------------------------------------------------------

    def strip_decorators(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[ast.expr]:
        kept = []
        for decorator in node.decorator_list:
            if self.modal_decorator(decorator):
                self.delete_span(decorator.lineno, decorator.end_lineno or decorator.lineno, decorator)
            else:
                kept.append(decorator)
        return kept

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, kept: list[ast.AST]) -> None:
        value = self.value(node.name)
        if type(value).__name__ == "LocalEntrypoint" and node.name not in self.local_entrypoints:
            self.delete(node, with_decorators=True)
            self.deleted.add(id(node))
            return
        kept += self.strip_decorators(node)
        kept += _signature_parts(node)
        kept += node.body

    def cls(self, node: ast.ClassDef, kept: list[ast.AST]) -> None:
        decorators = self.strip_decorators(node)
        kept += decorators + list(node.bases)
        user_cls = self.classes.get(id(self.value(node.name)))
        attributes = vars(user_cls) if user_cls is not None else {}
        fields = {name: self.parameters[id(v)] for name, v in attributes.items() if id(v) in self.parameters}
        parameters: list[tuple[str, str, Parameter]] = []  # (name, annotation source, the field)
        last_parameter = 0
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kept += self.strip_decorators(item)
                kept += _signature_parts(item)
                kept += item.body
                if item.name == "__init__" and fields:
                    self.problem(item.lineno, f"{node.name} defines __init__ beside modal.parameter() fields")
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id in fields:
                parameter = fields[item.target.id]
                annotation = ast.get_source_segment(self.text, item.annotation) or "str"
                indent = " " * item.col_offset
                self.edits.replace(
                    item.lineno, item.end_lineno or item.lineno, [f"{indent}{item.target.id}: {annotation}"]
                )
                parameters.append((item.target.id, annotation, parameter))
                last_parameter = item.end_lineno or item.lineno
                kept.append(item.annotation)
            else:
                kept.append(item)
        if parameters:
            self.constructor(node, parameters, last_parameter)
        kept += node.keywords

    def constructor(self, node: ast.ClassDef, parameters: list[tuple[str, str, Parameter]], after: int) -> None:
        from ..pyliteral import literal

        indent = " " * node.body[0].col_offset
        required = [p for p in parameters if not p[2].has_default]
        optional = [p for p in parameters if p[2].has_default]
        items = [f"{name}: {annotation}" for name, annotation, _ in required]
        items += [f"{name}: {annotation} = {literal(field.default)}" for name, annotation, field in optional]
        lines = [
            "",
            f"{indent}# modalc import: the class parameters, which the generated class passes by keyword",
            f"{indent}def __init__(self, *, {', '.join(items)}) -> None:",
            *(f"{indent}    self.{name} = {name}" for name, _, _ in parameters),
        ]
        self.edits.insert_after(after, lines)

    # -- bodies that call other Modal functions -----------------------------------------------------------------

    def rewrite_bodies(self) -> None:
        """`process.map(...)` inside a function body becomes `modalc_app.process.map(...)`; in a Modal class,
        `self.method.local(...)` becomes `self.method(...)` (its methods are plain methods now)."""
        for cls in ast.walk(self.tree):
            if isinstance(cls, ast.ClassDef) and self.registered_name(cls.name):
                methods = {m.name for m in cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
                for child in ast.walk(cls):
                    if (
                        isinstance(child, ast.Attribute)
                        and child.attr == "local"
                        and isinstance(child.value, ast.Attribute)
                        and child.value.attr in methods
                        and isinstance(child.value.value, ast.Name)
                        and child.value.value.id == "self"
                        and child.end_col_offset is not None
                        and child.value.end_col_offset is not None
                        and child.end_lineno is not None
                        and child.end_lineno == child.value.end_lineno
                    ):
                        self.edits.replace_span(child.end_lineno, child.value.end_col_offset, child.end_col_offset, "")
                    elif (
                        isinstance(child, ast.Attribute)
                        and child.attr in REMOTE_CALLS
                        and isinstance(child.value, ast.Attribute)
                        and child.value.attr in methods
                        and isinstance(child.value.value, ast.Name)
                        and child.value.value.id == "self"
                    ):
                        self.problem(
                            child.lineno,
                            f"self.{child.value.attr}.{child.attr}(...) calls the class's own Modal method from inside "
                            f"it; in the handler module self.{child.value.attr} is a plain method (write "
                            f"modalc_app.{cls.name}().{child.value.attr}.{child.attr}(...))",
                        )
        for node in _walk_kept(self.tree, self.deleted):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            local = _locals(node)
            body = node.body if isinstance(node.body, list) else [node.body]
            for statement in body:
                for child in ast.walk(statement):
                    if (
                        isinstance(child, ast.Name)
                        and isinstance(child.ctx, ast.Load)
                        and child.id not in local
                        and (name := self.registered_name(child.id)) is not None
                    ):
                        end = child.end_col_offset if child.end_col_offset is not None else child.col_offset
                        self.edits.replace_span(child.lineno, child.col_offset, end, f"modalc_app.{name}")
                        self.uses_app_module = True

    def _body_loads(self) -> set[str]:
        out: set[str] = set()
        for node in _walk_kept(self.tree, self.deleted):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                body = node.body if isinstance(node.body, list) else [node.body]
                out |= _loads(body)
        return out

    # -- removals -----------------------------------------------------------------------------------------------

    def delete(self, node: ast.stmt, *, with_decorators: bool = False) -> None:
        first = node.lineno
        if with_decorators and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([first, *(d.lineno for d in node.decorator_list)])
        self.delete_span(first, node.end_lineno or node.lineno, node)

    def delete_span(self, first: int, last: int, node: ast.AST) -> None:
        line = self.edits.lines[first - 1]
        before = line[: self.edits.column(first, getattr(node, "col_offset", 0))].strip()
        if before not in ("", "@"):
            self.problem(first, "this line holds more than one statement; split it, then import again")
            return
        after = self.edits.lines[last - 1][self.edits.column(last, getattr(node, "end_col_offset", 0) or 0) :].strip()
        if after and not after.startswith("#"):
            self.problem(last, "this line holds more than one statement; split it, then import again")
            return
        self.edits.delete(first, last)

    def remove_definitions(self, removable: dict[str, list[ast.stmt]], keep: set[str]) -> None:
        done: set[int] = set()
        for statements in removable.values():
            for statement in statements:
                if id(statement) in done:
                    continue
                done.add(id(statement))
                names = _bound_names(statement)
                if all(n not in keep for n in names):
                    self.delete(statement)
                elif isinstance(statement, ast.ImportFrom) and any(n not in keep for n in names):
                    aliases = [a for a in statement.names if (a.asname or a.name) in keep]
                    text = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)
                    indent = " " * statement.col_offset
                    module = "." * statement.level + (statement.module or "")
                    self.edits.replace(
                        statement.lineno,
                        statement.end_lineno or statement.lineno,
                        [f"{indent}from {module} import {text}"],
                    )

    def unwrap(self, block: ast.With) -> None:
        first_body = block.body[0].lineno
        last = block.end_lineno or block.lineno
        indent = " " * block.col_offset
        width = block.body[0].col_offset - block.col_offset
        image = self.value(_root(block.items[0].context_expr))
        own = id(image)
        everywhere = bool(self.handler_images) and all(
            own in self.image_ancestors.get(id(i), set()) for i in self.handler_images
        )
        strings = [s for s in _multiline_strings(self.text) if first_body <= s[0] <= last]
        if everywhere and not strings:
            self.edits.delete(block.lineno, first_body - 1)
            self.edits.dedent(first_body, last, width)
            return
        note = "# modalc import: was `with ...imports():`; other images' containers skip these imports"
        self.edits.replace(block.lineno, first_body - 1, [f"{indent}try:  {note}"])
        self.edits.insert_after(last, [f"{indent}except ImportError:", f"{indent}    pass"])

    def header(self) -> None:
        lines = [h.format(source=self.source_label, manifest=self.manifest_name) for h in HEADER]
        statement = "import modalc_app  # the generated module: the app's other functions and classes, by name"
        body = self.tree.body
        anchor = 0  # the line after which `import modalc_app` goes: after the docstring and __future__ imports
        for node in body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is body[0]:
                anchor = node.end_lineno or node.lineno
            elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
                anchor = node.end_lineno or node.lineno
            else:
                break
        shebang = bool(self.edits.lines) and self.edits.lines[0].startswith("#!")
        if anchor or not self.uses_app_module:
            if shebang:
                self.edits.insert_after(1, lines)
            else:
                self.edits.insert_before(1, lines)
            if self.uses_app_module:
                self.edits.insert_after(anchor, ["", statement])
            return
        first = body[0].lineno if body else 1
        if shebang or first > 1:
            self.edits.insert_after(1 if shebang else 0, lines) if shebang else self.edits.insert_before(1, lines)
            self.edits.insert_before(first, [statement, ""])
        else:
            self.edits.insert_before(1, [*lines, statement, ""])


def _walk_kept(tree: ast.AST, deleted: set[int]) -> Iterable[ast.AST]:
    """ast.walk, without going into the definitions the handler module leaves out."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) in deleted:
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _signature_parts(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    arguments = node.args
    parts: list[ast.AST] = [*arguments.defaults, *[d for d in arguments.kw_defaults if d is not None]]
    for argument in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg):
        if argument is not None and argument.annotation is not None:
            parts.append(argument.annotation)
    if node.returns is not None:
        parts.append(node.returns)
    return parts


def _locals(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names a function binds itself (parameters, assignments): those shadow module-level ones."""
    names = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    for extra in (node.args.vararg, node.args.kwarg):
        if extra is not None:
            names.add(extra.arg)
    body = node.body if isinstance(node.body, list) else [node.body]
    for statement in body:
        for child in ast.walk(statement):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, (ast.Global, ast.Nonlocal)):
                names -= set(child.names)
    return names
