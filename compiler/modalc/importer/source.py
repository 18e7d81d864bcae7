"""The app's own source, parsed once: what the SDK's objects do not keep (decorators as written, local entrypoints'
bodies, where a value came from)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

SNIPPET = 90  # characters of source quoted in a comment


@dataclass
class ParsedFile:
    path: Path
    text: str
    tree: ast.Module
    lines: list[str] = field(default_factory=list)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ""


class SourceIndex:
    """Every parsed file of the project, by resolved path."""

    def __init__(self) -> None:
        self._files: dict[Path, ParsedFile | None] = {}
        self._calls: dict[Path, dict[int, list[ast.Call]]] = {}  # file -> line -> calls that start or end there

    def add(self, path: Path, text: str) -> ParsedFile | None:
        path = path.resolve()
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError:
            self._files[path] = None
            return None
        parsed = ParsedFile(path, text, tree, text.splitlines())
        self._files[path] = parsed
        return parsed

    def get(self, path: Path) -> ParsedFile | None:
        path = path.resolve()
        if path not in self._files:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._files[path] = None
                return None
            return self.add(path, text)
        return self._files[path]

    def call_at(self, path: Path, line: int, name: str) -> ast.Call | None:
        """The call of `name` (a method or function name) whose name is written on `line`."""
        parsed = self.get(path)
        if parsed is None:
            return None
        calls = self._calls.get(parsed.path)
        if calls is None:
            calls = {}
            for node in ast.walk(parsed.tree):
                if isinstance(node, ast.Call):
                    lines = {node.lineno, node.func.end_lineno or node.lineno}
                    for number in lines:
                        calls.setdefault(number, []).append(node)
            self._calls[parsed.path] = calls
        best: ast.Call | None = None
        for node in calls.get(line, []):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == name and func.end_lineno == line:
                return node
            if isinstance(func, ast.Name) and func.id == name and func.lineno == line:
                best = node
            if best is None and isinstance(func, ast.Attribute) and func.attr == name and node.lineno == line:
                best = node
        return best

    def definition(self, path: Path, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None:
        parsed = self.get(path)
        if parsed is None:
            return None
        body: list[ast.stmt] = parsed.tree.body
        found: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None = None
        for part in qualname.split("."):
            found = None
            for node in _flattened(body):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part:
                    found = node  # the last definition wins, as at run time
            if found is None:
                return None
            body = found.body
        return found

    def assignment(self, path: Path, name: str) -> ast.stmt | None:
        """The last module-level statement that binds `name` (an assignment or an import)."""
        parsed = self.get(path)
        if parsed is None:
            return None
        found: ast.stmt | None = None
        for node in _flattened(parsed.tree.body):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for target in node.targets for t in ast.walk(target)
            ):
                found = node
            elif (
                isinstance(node, (ast.AnnAssign, ast.AugAssign))
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                found = node
        return found


def _flattened(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, looking into `with`, `if` and `try` blocks (as `image.imports()` blocks are)."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, (ast.With, ast.If)):
            out += _flattened(node.body)
            if isinstance(node, ast.If):
                out += _flattened(node.orelse)
        elif isinstance(node, ast.Try):
            out += _flattened(node.body)
            for handler in node.handlers:
                out += _flattened(handler.body)
            out += _flattened(node.orelse) + _flattened(node.finalbody)
    return out


def shorten(text: str, limit: int = SNIPPET) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
