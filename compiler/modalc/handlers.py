"""Resolve handlers statically: parse the user's source with `ast`, never import it.

The user's code usually needs torch or whisper, which the machine that builds (or deploys) does not have.
Parsing is enough to find the function, class or method a handler names, read its exact signature, and
render that signature for the generated wrapper: annotations are rewritten to reach the user's names through
the module alias (`Request` -> `_app_api.Request`), defaults must be literals the generated module can carry.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import functools
import hashlib
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from . import observe
from .diagnostics import suggest
from .ir import Annotation, Default, Parameter, Signature

if TYPE_CHECKING:
    from .module_cache import Facts, ModuleCache

BUILTIN_NAMES = frozenset(dir(builtins))
LITERAL_WRAPPERS = frozenset({"Literal"})


class HandlerError(Exception):
    """A handler that cannot be used; the message is for the user, the caller adds the position."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


# An annotation's source: a plain name (most of them), or any other expression's text in parentheses.
AnnotationSource = str | None
ParameterKind = Literal["positional_only", "positional_or_keyword", "var_positional", "keyword_only", "var_keyword"]


class ParameterFacts(NamedTuple):
    name: str
    kind: ParameterKind
    annotation: AnnotationSource
    default: Default | BadDefault | None


@dataclass(frozen=True, slots=True)
class FunctionFacts:
    """A function or method as modalc reads it: everything but its body.

    Bodies are most of a module's tree and their nodes most of a build's memory (a third of a gigabyte at
    10,000 handlers); modalc needs only whether a body yields, which is read before it is dropped."""

    name: str
    is_async: bool
    is_generator: bool
    decorators: tuple[str, ...]
    parameters: tuple[ParameterFacts, ...]
    returns: AnnotationSource
    # In a method: each `self.NAME.CALL(...)` with CALL one of Modal's (`remote`, `map`, ...), as
    # (self, NAME, CALL, line), and the NAMEs it sets as `self.NAME = ...`; read only in a class naming such a CALL.
    self_calls: tuple[tuple[str, str, str, int], ...] = ()
    self_assigned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClassFacts:
    """A class as modalc reads it: its bases, decorators, annotated fields and methods."""

    name: str
    bases: tuple[str, ...]  # each base's source (`ast.unparse`): a plain name, or an expression modalc cannot follow
    decorators: tuple[str, ...]
    annotated_fields: tuple[str, ...]  # `name: T` lines of its body, in order: a dataclass's fields
    methods: tuple[FunctionFacts, ...]


@dataclass(frozen=True, slots=True)
class ImportFacts:
    """`import a.b as c` or `from .m import x as y`: the names it binds and where they come from."""

    from_import: bool
    module: str | None  # `from . import x` names none
    level: int
    names: tuple[tuple[str, str | None], ...]  # (name, asname)

    @property
    def bound(self) -> list[str]:
        if not self.from_import:
            return [asname or name.split(".")[0] for name, asname in self.names]
        return [asname or name for name, asname in self.names]


@dataclass(frozen=True, slots=True)
class VariableFacts:
    """A module-level assignment: the names it binds (a plain `=` names them in suggestions, `x: T = v` not)."""

    names: tuple[str, ...]
    suggested: bool


SelfCalls = tuple[tuple[tuple[str, str, str, int], ...], tuple[str, ...]]

# A module-level statement that binds a name, read into facts; a statement that binds none is not kept.
Statement = FunctionFacts | ClassFacts | ImportFacts | VariableFacts


@dataclass(frozen=True)
class ParsedModule:
    name: str
    path: Path
    statements: tuple[Statement, ...]  # module-level, including those inside top-level if/try blocks
    relative_path: str
    app_references: tuple[AppReference, ...] = ()


@dataclass(frozen=True)
class MethodInfo:
    name: str
    node: FunctionFacts
    is_static: bool
    is_classmethod: bool
    defined_in: str  # qualname of the class that defines it
    defined_at: str = ""  # the relative path of its module


@dataclass
class ClassInfo:
    name: str
    module: ParsedModule
    node: ClassFacts
    methods: dict[str, MethodInfo] = field(default_factory=dict)
    unresolved_bases: list[str] = field(default_factory=list)
    is_dataclass: bool = False
    dataclass_fields: list[str] = field(default_factory=list)


class SourceTree:
    """The user's Python sources under one root, parsed on demand and cached."""

    def __init__(self, root: Path, project_dir: Path, parsed: ModuleCache | None = None):
        self.root = root
        self.project_dir = project_dir
        self.parsed = parsed  # modules parsed by earlier commands, by the hash of their bytes
        # Every file looked for, found or not, and every file read: the build cache depends on them.
        self.looked_at = observe.ObservedPaths()
        self.read: dict[Path, observe.Observation] = {}
        self._modules: dict[str, ParsedModule] = {}
        # Each environment resolves the same handlers again; parse, index and read each of them once.
        self._definitions: dict[str, dict[str, Statement]] = {}
        self._classes: dict[tuple[str, str], ClassInfo] = {}
        self._signatures: dict[tuple[int, str, bool], Signature] = {}
        self._arguments: dict[str, frozenset[str]] = {}

    def module(self, name: str) -> ParsedModule:
        if name in self._modules:
            return self._modules[name]
        parts = name.split(".")
        base = self.root.joinpath(*parts)
        # A package shadows a module of the same name, as in Python's own import system.
        candidates = [base / "__init__.py", base.with_suffix(".py")]
        self.looked_at.update(candidates)
        try:
            path = next((c for c in candidates if c.is_file()), None)
        except (OSError, ValueError) as exc:
            raise HandlerError(f"module {name!r} cannot be looked up: {exc}") from None
        if path is None:
            shown = "/".join(parts)
            raise HandlerError(
                f"module {name!r} not found: no {shown}.py or {shown}/__init__.py under {self._shown_root()}"
            )
        resolved = path.resolve()
        if not resolved.is_relative_to(self.project_dir):
            raise HandlerError(f"module {name!r} resolves to {resolved}, outside the project directory")
        relative = path.relative_to(self.project_dir).as_posix() if path.is_relative_to(self.project_dir) else str(path)
        try:
            raw = observe.read_bytes(path, self.read)
            digest = hashlib.sha256(raw).hexdigest()  # of these bytes, whatever an earlier read of the path saw
            cached = self.parsed.get(digest) if self.parsed is not None else None
            if cached is not None:  # these very bytes parsed before: no error to find, nothing to decode
                parsed = ParsedModule(name, path, cached[0], relative, cached[1])
                self._modules[name] = parsed
                return parsed
            source = raw.decode("utf-8-sig")  # as Python reads a file with a BOM
        except (OSError, UnicodeDecodeError) as exc:
            raise HandlerError(f"cannot read {relative}: {exc}") from None
        try:
            statements, references = read_module(source, relative)
        except SyntaxError as exc:
            raise HandlerError(f"cannot parse {relative}: {exc.msg} (line {exc.lineno})") from None
        except (ValueError, RecursionError, MemoryError) as exc:
            raise HandlerError(f"cannot parse {relative}: {exc}") from None
        parsed = ParsedModule(name, path, statements, relative, references)
        if self.parsed is not None:
            self.parsed.remember(digest, (statements, references))
        self._modules[name] = parsed
        return parsed

    def _shown_root(self) -> str:
        if self.root == self.project_dir:
            return "the manifest's directory"
        if self.root.is_relative_to(self.project_dir):
            return self.root.relative_to(self.project_dir).as_posix() + "/"
        return str(self.root)

    # -- lookups ------------------------------------------------------------------------------------

    def find(self, module_name: str, name: str, *, depth: int = 0) -> tuple[ParsedModule, Statement]:
        """The top-level statement that defines `name` in a module, following `from x import name`."""
        module = self.module(module_name)
        found = self._index(module).get(name)
        if found is None:
            message = f"{module.relative_path} defines no {name!r}"
            defined = [n for statement in module.statements for n in _defined_names(statement)]
            raise HandlerError(message + suggest(name, [n for n in defined if not n.startswith("_")]))
        if isinstance(found, ImportFacts) and found.from_import and depth < 8:
            source_module = _absolute_module(module, found)
            original = next(n for n, asname in found.names if (asname or n) == name)
            if source_module is not None and self._exists(source_module):
                return self.find(source_module, original, depth=depth + 1)
        return module, found

    def _index(self, module: ParsedModule) -> dict[str, Statement]:
        """Module-level name -> the statement that defines it last (the definition in effect at run time)."""
        index = self._definitions.get(module.name)
        if index is None:
            index = {}
            for statement in module.statements:
                for name in _bound_names(statement):
                    index[name] = statement
            self._definitions[module.name] = index
        return index

    def signature(self, node: FunctionFacts, module_alias: str, *, drop_first: bool = False) -> Signature:
        key = (id(node), module_alias, drop_first)
        if key not in self._signatures:
            self._signatures[key] = read_signature(node, module_alias, drop_first=drop_first)
        return self._signatures[key]

    def argument_names(self, module_name: str) -> frozenset[str]:
        """Every parameter name of the module's functions and methods (empty if it cannot be read): a wrapper's
        parameters are named like its handler's, so the module alias its body calls through must be none of them.
        """
        if module_name not in self._arguments:
            try:
                statements = self.module(module_name).statements
            except HandlerError:
                return frozenset()
            functions: list[Statement] = []
            for statement in statements:
                functions += statement.methods if isinstance(statement, ClassFacts) else [statement]
            self._arguments[module_name] = frozenset(
                p.name for f in functions if isinstance(f, FunctionFacts) for p in f.parameters
            )
        return self._arguments[module_name]

    def _exists(self, module_name: str) -> bool:
        try:
            self.module(module_name)
        except HandlerError:
            return False
        return True

    def class_info(self, module_name: str, name: str) -> ClassInfo:
        cached = self._classes.get((module_name, name))
        if cached is not None:
            return cached
        info = self._class_info(module_name, name)
        self._classes[(module_name, name)] = info
        return info

    def _class_info(self, module_name: str, name: str) -> ClassInfo:
        module, node = self.find(module_name, name)
        if not isinstance(node, ClassFacts):
            raise HandlerError(f"{module.relative_path}: {name!r} is {describe(node)}, not a class")
        info = ClassInfo(name, module, node)
        info.is_dataclass = "dataclass" in node.decorators
        if info.is_dataclass:
            info.dataclass_fields = list(node.annotated_fields)
        self._collect_methods(info, module, node, depth=0)
        return info

    def _collect_methods(self, info: ClassInfo, module: ParsedModule, node: ClassFacts, depth: int) -> None:
        # Bases first, so a method defined in the class itself overrides an inherited one.
        for base in node.bases:
            base_name = base if base.isidentifier() else None
            if base_name in (None, "object") or depth > 8:
                if base_name is None:
                    info.unresolved_bases.append(base)
                continue
            try:
                base_module, base_node = self.find(module.name, base_name)
            except HandlerError:
                info.unresolved_bases.append(base_name)
                continue
            if isinstance(base_node, ClassFacts):
                self._collect_methods(info, base_module, base_node, depth + 1)
            else:
                info.unresolved_bases.append(base_name)
        for method in node.methods:
            info.methods[method.name] = MethodInfo(
                method.name,
                method,
                is_static="staticmethod" in method.decorators,
                is_classmethod="classmethod" in method.decorators,
                defined_in=node.name,
                defined_at=module.relative_path,
            )


def _top_level_statements(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, including those inside top-level if/try blocks."""
    out: list[ast.stmt] = []
    pending = list(tree.body)
    while pending:
        statement = pending.pop(0)
        if isinstance(statement, ast.If):
            pending[:0] = [*statement.body, *statement.orelse]
        elif isinstance(statement, ast.Try):
            pending[:0] = [*statement.body, *statement.orelse, *statement.finalbody]
        else:
            out.append(statement)
    return out


def _bound_names(statement: Statement) -> list[str]:
    """The module-level names a statement binds."""
    if isinstance(statement, (FunctionFacts, ClassFacts)):
        return [statement.name]
    if isinstance(statement, ImportFacts):
        return statement.bound
    return list(statement.names)


def _defined_names(statement: Statement) -> list[str]:
    if isinstance(statement, (FunctionFacts, ClassFacts)):
        return [statement.name]
    if isinstance(statement, VariableFacts) and statement.suggested:
        return list(statement.names)
    return []


def _statement_facts(statement: ast.stmt) -> ImportFacts | VariableFacts | None:
    """An import or assignment as the names it binds; None for a statement that binds no name modalc follows."""
    if isinstance(statement, ast.Assign):
        names = tuple(t.id for t in statement.targets if isinstance(t, ast.Name))
        return VariableFacts(names, suggested=True) if names else None
    if isinstance(statement, ast.AnnAssign):
        bound = isinstance(statement.target, ast.Name) and statement.value is not None
        return VariableFacts((statement.target.id,), suggested=False) if bound else None  # type: ignore[union-attr]
    if isinstance(statement, ast.ImportFrom):
        return ImportFacts(True, statement.module, statement.level, tuple((a.name, a.asname) for a in statement.names))
    if isinstance(statement, ast.Import):
        return ImportFacts(False, None, 0, tuple((a.name, a.asname) for a in statement.names))
    return None


def _absolute_module(module: ParsedModule, node: ImportFacts) -> str | None:
    if node.level == 0:
        return node.module
    package_parts = module.name.split(".")
    if module.path.name != "__init__.py":
        package_parts = package_parts[:-1]
    if node.level - 1 > len(package_parts):
        return None
    base = package_parts[: len(package_parts) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])]) or None


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def describe(node: Statement) -> str:
    if isinstance(node, ClassFacts):
        return "a class"
    if isinstance(node, FunctionFacts):
        return "an async function" if node.is_async else "a function"
    if isinstance(node, ImportFacts):
        return "an imported name"
    return "a variable"


# --- calls into the app -----------------------------------------------------------------------------

APP_MODULE = "modalc_app"  # the name every generated module registers itself under (see render)


@dataclass(frozen=True)
class AppReference:
    """A use of `modalc_app` in a handler module: `modalc_app.NAME`, or a `from modalc_app import` line."""

    name: str
    line: int
    at_import_time: bool  # outside every function body: runs while the generated module is being imported
    from_import: bool = False


def app_references(tree: ast.Module, aliases: set[str] | None = None, first_line: int = 1) -> list[AppReference]:
    """Where a user module (or a piece of it that starts on `first_line`) reaches the app's functions and
    classes through `modalc_app`; `aliases` are the names earlier pieces bound to it, and grow with this one's."""
    aliases = set() if aliases is None else aliases
    shift = first_line - 1
    found: list[AppReference] = []
    # In source order, each node before its children (an alias is bound before the lines below use it); no
    # recursion, so a deeply nested module cannot exhaust the stack. `outer` says whether the node's parent is
    # inside a function body, `inner` whether the node itself is.
    pending: list[tuple[ast.AST, bool, bool]] = [(tree, False, False)]
    while pending:
        node, outer, inner = pending.pop()
        if isinstance(node, ast.Import):
            aliases.update(a.asname or a.name for a in node.names if a.name == APP_MODULE)
        elif isinstance(node, ast.ImportFrom) and node.module == APP_MODULE and node.level == 0:
            found.extend(AppReference(a.name, node.lineno + shift, not outer, from_import=True) for a in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.append(AppReference(node.attr, node.lineno + shift, not inner))
        children = [
            (child, inner, inner or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
            for child in ast.iter_child_nodes(node)
        ]
        pending.extend(reversed(children))
    return found


# --- parsing --------------------------------------------------------------------------------------

PIECE_SIZE = 32_768  # characters; a module under twice this is parsed whole
PIECE_RETRIES = 4  # a piece that fails to parse takes in the next this many times, then the module is parsed whole
# A blank line, then one that may begin a top-level def, class or decorated statement (or lie inside a string
# or brackets): a piece starts at the end of the match, so never between a decorator and what it decorates.
_PIECE_START = re.compile(r"\n[ \t]*\r?\n(?=def |async def |class |@)")


def read_module(source: str, filename: str, piece_size: int = PIECE_SIZE) -> Facts:
    """What modalc reads from a module: its top-level statements and its `modalc_app` references.

    A large module is parsed in pieces of about `piece_size` characters, so its syntax tree never exists
    whole (a 1,000-handler module's tree is 47 MB). A piece starts only where a line starts with `def`,
    `class` or `@` after a blank line; a piece that parses on its own ended where a top-level statement ends in
    the whole module too (a cut inside a string or brackets leaves the piece before it unterminated), so the
    pieces' statements are the module's. A piece that does not parse takes in the next one; after PIECE_RETRIES
    the module is parsed whole, which also raises the module's own SyntaxError, at its own line."""
    try:
        return _read_pieces(_parsed_pieces(source, filename, piece_size))
    except _ParseWhole:
        return _read_pieces([(_parse(source, filename), source, 1)])


class _ParseWhole(Exception):
    """The module could not be cut into pieces that parse."""


def _read_pieces(pieces: Iterable[tuple[ast.Module, str, int]]) -> Facts:
    statements: list[Statement] = []
    references: list[AppReference] = []
    aliases: set[str] = set()  # names bound to modalc_app so far
    for tree, text, first_line in pieces:
        statements += module_statements(tree, text, first_line)
        if aliases or _may_name(text, lambda t: APP_MODULE in t):
            references += app_references(tree, aliases, first_line)
    return tuple(statements), tuple(references)


def _may_name(text: str, found: Callable[[str], bool]) -> bool:
    """Whether `found` holds for `text` or for it as Python reads names, NFKC-normalized (`ｍodalc_app` is
    `modalc_app`): a quick test before a walk of the syntax tree."""
    return found(text) or (not text.isascii() and found(unicodedata.normalize("NFKC", text)))


def _parse(text: str, filename: str) -> ast.Module:
    """The syntax tree of `text`, whatever the warning filters: under `-W error` an invalid escape sequence would
    be a SyntaxError, yet the module imports in the container, and a cached module would not be parsed again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename=filename)


def _parsed_pieces(source: str, filename: str, piece_size: int) -> Iterator[tuple[ast.Module, str, int]]:
    """(tree, text, first line) of each piece in order, each tree parsed when the one before is read."""
    cuts = [0]
    for match in _PIECE_START.finditer(source):
        if match.end() - cuts[-1] >= piece_size and len(source) - match.end() >= piece_size:
            cuts.append(match.end())
    cuts.append(len(source))
    first_line, start = 1, 0
    while start + 1 < len(cuts):
        end = start + 1
        while True:
            text = source[cuts[start] : cuts[end]]
            try:
                tree = _parse(text, filename)
                break
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                if end - start > PIECE_RETRIES or end + 1 == len(cuts):
                    raise _ParseWhole from None
                end += 1
        yield tree, text, first_line
        del tree  # before the next piece is parsed
        first_line += text.count("\n") + text.count("\r") - text.count("\r\n")  # as _NEWLINE counts lines
        start = end


# --- signatures ------------------------------------------------------------------------------------


def is_generator(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True if the function body yields (not counting nested functions, lambdas or classes)."""
    pending: list[ast.AST] = list(node.body)
    while pending:
        current = pending.pop()
        if isinstance(current, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        pending.extend(ast.iter_child_nodes(current))
    return False


def module_statements(tree: ast.Module, source: str, first_line: int = 1) -> tuple[Statement, ...]:
    """The module's top-level statements, each def and class read into facts (`FunctionFacts`, `ClassFacts`);
    `source` is the text `tree` was parsed from, which starts on `first_line` of the module.

    Only a function whose lines hold the word `yield` needs its body walked to know whether it is a generator,
    and only the methods of a class whose lines name a Modal call (`remote`, `map`, ...) for what they do on self.
    """
    yield_lines = _lines_mentioning(source, "yield")
    text = _Source(source)

    def calls_modal(node: ast.ClassDef) -> bool:
        """Whether the class's lines name a Modal call (as Python reads names, NFKC): then all its methods are
        read for the calls they make on self, and for what they assign to it."""
        return _may_name(text.lines(node), lambda t: _MODAL_CALL_WORD.search(t) is not None)

    def facts(node: ast.FunctionDef | ast.AsyncFunctionDef, scan: bool = False) -> FunctionFacts:
        first = bisect.bisect_left(yield_lines, node.lineno)
        mentions = first < len(yield_lines) and yield_lines[first] <= (node.end_lineno or node.lineno)
        found = function_facts(node, mentions and is_generator(node), text)
        if scan and "staticmethod" not in found.decorators:
            calls, assigned = _modal_calls_on_self(node, first_line)
            if calls or assigned:
                return replace(found, self_calls=calls, self_assigned=assigned)
        return found

    statements: list[Statement] = []
    for statement in _top_level_statements(tree):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            statements.append(facts(statement))
        elif isinstance(statement, ast.ClassDef):
            body = statement.body
            scan = calls_modal(statement)
            statements.append(
                ClassFacts(
                    statement.name,
                    tuple(ast.unparse(base) for base in statement.bases),
                    tuple(_decorator_name(d) for d in statement.decorator_list),
                    tuple(s.target.id for s in body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)),
                    tuple(facts(s, scan) for s in body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))),
                )
            )
        elif (bound := _statement_facts(statement)) is not None:
            statements.append(bound)
    return tuple(statements)


# What Modal's functions and methods offer for calling them; a plain method has none of these.
MODAL_CALLS = ("remote", "remote_gen", "spawn", "map", "starmap", "for_each", "spawn_map", "local")
_MODAL_CALL_WORD = re.compile(r"\b(?:" + "|".join(MODAL_CALLS) + r")\b")
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _modal_calls_on_self(node: ast.FunctionDef | ast.AsyncFunctionDef, first_line: int) -> SelfCalls:
    """Each `self.NAME.CALL(...)` in a method's body (self being its first parameter) as (self, NAME, CALL, line),
    and the NAMEs it assigns as `self.NAME = ...` (then it may hold a Modal function); not for a staticmethod."""
    positional = [*node.args.posonlyargs, *node.args.args]
    if not positional:
        return (), ()
    receiver = positional[0].arg
    calls: list[tuple[str, str, str, int]] = []
    assigned: set[str] = set()
    pending: list[ast.AST] = list(node.body)
    while pending:
        child = pending.pop()
        if isinstance(child, _NESTED_SCOPES) and receiver in {a.arg for a in _parameters_of(child.args)}:
            continue  # a nested function or lambda with a `self` of its own
        if isinstance(child, ast.ClassDef):
            pending.extend(child.decorator_list)
            pending.extend(child.bases)
            continue  # its methods' self is that class's
        if isinstance(child, ast.Name) and child.id == receiver and isinstance(child.ctx, ast.Store):
            return (), ()  # self rebound: modalc cannot tell what it is
        if (
            isinstance(child, ast.Attribute)
            and isinstance(child.ctx, ast.Store)
            and isinstance(child.value, ast.Name)
            and child.value.id == receiver
        ):
            assigned.add(child.attr)
        if (
            isinstance(child, ast.Call)
            and isinstance(call := child.func, ast.Attribute)
            and call.attr in MODAL_CALLS
            and isinstance(target := call.value, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == receiver
        ):
            calls.append((receiver, target.attr, call.attr, child.lineno + first_line - 1))
        pending.extend(ast.iter_child_nodes(child))
    return tuple(sorted(calls, key=lambda c: (c[3], c[1], c[2]))), tuple(sorted(assigned))


def _parameters_of(arguments: ast.arguments) -> list[ast.arg]:
    named = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    return named + [a for a in (arguments.vararg, arguments.kwarg) if a is not None]


def function_facts(node: ast.FunctionDef | ast.AsyncFunctionDef, generator: bool, source: _Source) -> FunctionFacts:
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    kinds: list[ParameterKind] = ["positional_only"] * len(arguments.posonlyargs)
    kinds += ["positional_or_keyword"] * len(arguments.args)
    entries: list[tuple[ast.arg, ParameterKind, ast.expr | None]] = list(zip(positional, kinds, defaults, strict=True))
    if arguments.vararg:
        entries.append((arguments.vararg, "var_positional", None))
    entries += [(a, "keyword_only", d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    if arguments.kwarg:
        entries.append((arguments.kwarg, "var_keyword", None))
    return FunctionFacts(
        node.name,
        isinstance(node, ast.AsyncFunctionDef),
        generator,
        tuple(_decorator_name(d) for d in node.decorator_list),
        tuple(
            ParameterFacts(
                arg.arg, kind, source.annotation(arg.annotation), _default_value(node.name, arg.arg, default)
            )
            for arg, kind, default in entries
        ),
        source.annotation(node.returns),
    )


class _Source:
    """A module's text, cut into the source of its annotations (cheaper than `ast.unparse`, and what
    `_rewrite_text` parses again anyway)."""

    def __init__(self, text: str):
        self.text = text

    @functools.cached_property
    def _lines(self) -> list[str]:
        return _NEWLINE.split(self.text)

    def lines(self, node: ast.stmt) -> str:
        """The whole lines `node` spans."""
        return "\n".join(self._lines[node.lineno - 1 : node.end_lineno])

    def annotation(self, node: ast.expr | None) -> AnnotationSource:
        if node is None or isinstance(node, ast.Name):
            return None if node is None else node.id
        lines = self._lines[node.lineno - 1 : node.end_lineno]
        lines[-1] = _cut(lines[-1], 0, node.end_col_offset)
        lines[0] = _cut(lines[0], node.col_offset, None)
        return "(" + "\n".join(lines) + ")"  # parenthesized, so a continuation line parses on its own


def _cut(line: str, start: int, end: int | None) -> str:
    """`line[start:end]` in UTF-8 bytes, as the parser counts columns."""
    return line[start:end] if line.isascii() else line.encode()[start:end].decode()


def _lines_mentioning(source: str, word: str) -> list[int]:
    """The sorted line numbers, counted as Python's tokenizer counts them, on which `word` occurs."""
    if word not in source:
        return []
    starts = [0] + [match.end() for match in _NEWLINE.finditer(source)]
    lines: list[int] = []
    at = source.find(word)
    while at != -1:
        lines.append(bisect.bisect_right(starts, at))
        at = source.find(word, at + len(word))
    return lines


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _checked(default: Default | BadDefault | None) -> Default | None:
    if isinstance(default, BadDefault):
        raise HandlerError(default.message, default.hint)
    return default


def read_signature(node: FunctionFacts, module_alias: str, *, drop_first: bool = False) -> Signature:
    """The signature of a function as the generated wrapper must repeat it."""
    entries = node.parameters
    if drop_first:
        if not entries or entries[0].kind not in ("positional_only", "positional_or_keyword"):
            raise HandlerError(f"method {node.name!r} takes no `self` argument")
        entries = entries[1:]
    parameters = tuple(
        Parameter(p.name, p.kind, rewrite_annotation(p.annotation, module_alias), _checked(p.default)) for p in entries
    )
    return Signature(
        parameters=parameters,
        returns=rewrite_annotation(node.returns, module_alias),
        is_async=node.is_async,
        is_generator=node.is_generator,
    )


class BadDefault(NamedTuple):
    """A default the wrapper cannot repeat: an error only if the function is a handler."""

    message: str
    hint: str | None = None


def _default_value(function: str, parameter: str, node: ast.expr | None) -> Default | BadDefault | None:
    if node is None:
        return None
    value: object
    if isinstance(node, ast.Constant):  # most defaults; literal_eval would also leave four closures to collect
        value = node.value
    else:
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = _NOT_LITERAL
    if value is _NOT_LITERAL or isinstance(value, (set, frozenset, complex)) or value is Ellipsis:
        return BadDefault(
            f"{function}(): the default of {parameter!r} is `{_short(ast.unparse(node))}`, which is not a literal",
            hint="the generated wrapper repeats defaults; use a literal (number, string, None, list, dict) or "
            "make the parameter required",
        )
    if isinstance(value, float) and not math.isfinite(value):
        return BadDefault(f"{function}(): the default of {parameter!r} is not a finite number")
    return Default(value)


_NOT_LITERAL = object()


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _AnnotationRewriter(ast.NodeTransformer):
    """Qualify the user's names with the module alias; leave builtins and Literal[...] strings alone."""

    def __init__(self, alias: str):
        self.alias = alias
        self.qualified = False
        self.had_string = False

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in BUILTIN_NAMES:
            return node
        self.qualified = True
        return ast.copy_location(ast.Attribute(ast.Name(self.alias, ast.Load()), node.id, ast.Load()), node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):  # a forward reference
            self.had_string = True
            try:
                parsed = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return node
            visited: ast.AST = self.visit(parsed)
            return visited
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        node.value = self.visit(node.value)
        head = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if head in LITERAL_WRAPPERS:
            return node  # Literal["a"] holds values, not names
        if head == "Annotated" and isinstance(node.slice, ast.Tuple) and node.slice.elts:
            node.slice.elts[0] = self.visit(node.slice.elts[0])
            return node
        node.slice = self.visit(node.slice)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.value = self.visit(node.value)
        return node


def rewrite_annotation(node: AnnotationSource, module_alias: str) -> Annotation | None:
    """The annotation as the wrapper writes it.

    Builtin-only annotations (`bytes`, `list[str]`) stay plain: Modal reads class annotations as objects.
    Annotations that name the user's types become strings, since the user's module is imported only inside
    the container; FastAPI and typing.get_type_hints resolve them there. An annotation that holds a string
    (a forward reference) stays a string: its text must not become code that runs when the module is imported.
    """
    if node is None:
        return None
    if not node.startswith("("):  # a plain name, most annotations: the rewrite below, without a tree
        if node in BUILTIN_NAMES:
            return Annotation(node, quoted=False)
        return Annotation(f"{module_alias}.{node}", quoted=True)
    return _rewrite_text(node, module_alias)


@functools.lru_cache(maxsize=4096)
def _rewrite_text(source: str, module_alias: str) -> Annotation:
    # A fresh tree from the text: the rewriter changes the tree it visits, and the user's stays as parsed.
    rewriter = _AnnotationRewriter(module_alias)
    text = ast.unparse(rewriter.visit(ast.parse(source, mode="eval").body))
    return Annotation(text, quoted=rewriter.qualified or rewriter.had_string)


LIST_TYPES = frozenset({"list", "List", "Sequence", "MutableSequence"})


def annotation_is_list(annotation: Annotation | None) -> bool | None:
    """For batched handlers: True if an annotation is a list type, False if it clearly is not, None if unknown."""
    if annotation is None:
        return None
    node = ast.parse(annotation.expression, mode="eval").body
    if isinstance(node, ast.Subscript):
        node = node.value
    head = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    if head in LIST_TYPES:
        return True
    if head in {"Any", "object"}:
        return None
    return False
