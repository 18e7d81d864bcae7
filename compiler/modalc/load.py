"""Load stage: manifest bytes -> plain data plus a source map, for TOML and YAML alike.

Plain data means what JSON can hold (dict, list, str, int, float, bool, None), except that TOML and YAML
dates stay `datetime.date`/`datetime.time` objects so validation can say "a date is not a string". The source
map gives every key path a line and column, so later stages report `file:line:col` without knowing the format.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import FILE_LEVEL, Diagnostic, KeyPath, ManifestError
from .toml_positions import Span, scan_toml_positions
from .toml_tables import Tables, parse_by_table

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 48
MAX_NODES = 2_000_000

TOML_SUFFIXES = (".toml",)
YAML_SUFFIXES = (".yaml", ".yml")


# Where a line ends, as each parser counts lines: tomli at "\n" only, libyaml also at a lone "\r", NEL, LS and PS
# (`str.splitlines` breaks at more, and its line numbers would not be the positions').
TOML_LINE_BREAK = re.compile(r"\r?\n")
YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class SourceMap:
    """Where each key path of a manifest is written.

    Positions are only needed to report a problem, so a TOML manifest is scanned for them on first use: a
    valid manifest never pays for it.
    """

    def __init__(
        self,
        file: str,
        spans: dict[KeyPath, Span] | None = None,
        text: str = "",
        scan: Callable[[str], dict[KeyPath, Span]] | None = None,
        line_break: re.Pattern[str] = TOML_LINE_BREAK,
    ):
        self.file = file
        self._spans = spans
        self._text = text
        self._scan = scan
        self._line_break = line_break
        self._lines: list[str] | None = None

    @property
    def spans(self) -> dict[KeyPath, Span]:
        if self._spans is None:
            try:
                self._spans = self._scan(self._text) if self._scan else {}
            except (ValueError, RecursionError):
                self._spans = {}  # positions degrade to 1:1; the data itself came from the parser
        return self._spans

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self._line_break.split(self._text)
        return self._lines

    def _nearest(self, path: KeyPath) -> tuple[KeyPath, Span | None]:
        path = tuple(path)
        while path and path not in self.spans:
            path = path[:-1]
        return path, self.spans.get(path)

    def value_position(self, path: KeyPath) -> tuple[int, int]:
        """Line and column of the value at `path`, or of its closest written ancestor."""
        found, span = self._nearest(path)
        if span is None:
            return (1, 1)
        if found != tuple(path):
            return (span.key_line, span.key_col)
        return (span.value_line, span.value_col)

    def key_position(self, path: KeyPath) -> tuple[int, int]:
        """Line and column of the key that introduces `path` (for an unknown or misplaced key)."""
        _, span = self._nearest(path)
        return (span.key_line, span.key_col) if span else (1, 1)

    def source_token(self, path: KeyPath) -> str | None:
        """The text written at a scalar value's position, up to the end of the token (for hints)."""
        if tuple(path) not in self.spans:
            return None
        line, col = self.value_position(path)
        if not 1 <= line <= len(self.lines):
            return None
        match = re.match(r"[^\s,#\]}]+", self.lines[line - 1][col - 1 :])
        return match.group(0) if match else None


@dataclass(frozen=True)
class LoadedManifest:
    path: Path
    display_name: str
    format: str
    text: str
    data: dict[str, object]
    source_map: SourceMap
    value_count: int = 0  # how many values the document holds (what MAX_NODES bounds), for TOML
    by_table: bool = False  # a large TOML document parsed one table at a time (`toml_tables`)
    tables: Tables | None = None  # its cuts, where known (the incremental build's; else `Tables.of(text)`)


def _fail(file: str, line: int, column: int, message: str, hint: str | None = None) -> ManifestError:
    return ManifestError([Diagnostic(file, line, column, message, hint=hint)])


def decode_manifest(raw: bytes, file: str, suffix: str = ".toml") -> str:
    """Bytes -> text, refusing what is not a UTF-8 text file, with the position of the first bad byte."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _fail(
            file,
            FILE_LEVEL,
            FILE_LEVEL,
            f"manifest is {len(raw):,} bytes; the limit is {MAX_MANIFEST_BYTES:,} bytes",
            hint="split it into smaller apps",
        )
    try:
        text = manifest_text(raw)
    except UnicodeDecodeError as exc:
        raw = raw.removeprefix(b"\xef\xbb\xbf")
        line, column = _line_col(raw[: exc.start].decode("utf-8", "replace"))
        raise _fail(file, line, column, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded") from None
    nul = text.find("\x00")
    if nul >= 0:
        line, column = _line_col(text[:nul])
        raise _fail(file, line, column, "not a text file: it contains a NUL byte")
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        what = "manifest is empty" if not text.strip() else "manifest has only comments"
        hint = (
            "start with `version: 1` and an `app:` mapping with a name"
            if suffix in YAML_SUFFIXES
            else "start with `version = 1` and an [app] table with a name"
        )
        raise _fail(file, 1, 1, what, hint=hint)
    return text


def manifest_text(raw: bytes) -> str:
    """The text of manifest bytes, without a UTF-8 byte order mark (UnicodeDecodeError if not UTF-8)."""
    return raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")


def _line_col(prefix: str) -> tuple[int, int]:
    line = prefix.count("\n") + 1
    column = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return line, column


def load_manifest(path: Path, display_name: str | None = None, raw: bytes | None = None) -> LoadedManifest:
    """Read and parse a manifest; raises ManifestError with positions for anything unreadable."""
    file = display_name or str(path)
    suffix = path.suffix.lower()
    if suffix not in TOML_SUFFIXES + YAML_SUFFIXES:
        raise _fail(
            file,
            FILE_LEVEL,
            FILE_LEVEL,
            f"unknown manifest format {suffix or '(no suffix)'!r}: use .toml, .yaml or .yml",
        )
    if raw is None:
        try:
            size = path.stat().st_size
            if size > MAX_MANIFEST_BYTES:
                raise _fail(
                    file,
                    FILE_LEVEL,
                    FILE_LEVEL,
                    f"manifest is {size:,} bytes; the limit is {MAX_MANIFEST_BYTES:,} bytes",
                    hint="split it into smaller apps",
                )
            raw = path.read_bytes()
        except FileNotFoundError:
            raise _fail(file, FILE_LEVEL, FILE_LEVEL, "no such file") from None
        except IsADirectoryError:
            raise _fail(file, FILE_LEVEL, FILE_LEVEL, "is a directory, not a manifest") from None
        except OSError as exc:
            raise _fail(file, FILE_LEVEL, FILE_LEVEL, f"cannot read: {exc.strerror}") from None
    text = decode_manifest(raw, file, suffix)
    if suffix in TOML_SUFFIXES:
        data, by_table = parse_toml(text, file)
        source_map = SourceMap(file, text=text, scan=scan_toml_positions)
        value_count = check_shape(data, file, lambda: source_map)
        return LoadedManifest(path, file, "toml", text, data, source_map, value_count, by_table)
    data, spans = parse_yaml(text, file)
    return LoadedManifest(path, file, "yaml", text, data, SourceMap(file, spans, text=text, line_break=YAML_LINE_BREAK))


# --- TOML -------------------------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def parse_toml(text: str, file: str) -> tuple[dict[str, object], bool]:
    """The document, and whether it was parsed one table at a time."""
    import tomli  # compiled (mypyc) wheels parse twice as fast as the standard library's tomllib

    if error := check_flow_depth(text, file):
        raise error
    try:
        data = parse_by_table(text)
        if data is not None:
            return data, True
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        message = str(exc)
        line, column = _line_col(text)
        at_end = False
        if match := _TOML_POSITION.search(message):
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()]
        elif match := _TOML_END.search(message):
            message = message[: match.start()]
            at_end = True
        message, better_column = _toml_message(message, text, line)
        if at_end and "never closed" not in message:
            message += " (at the end of the file: is a bracket or quote never closed?)"
        raise _fail(file, line, better_column or column, f"TOML syntax: {message}") from None
    except RecursionError:
        raise _fail(file, 1, 1, "TOML syntax: values are nested too deeply") from None
    return data, False


_TOML_PROBLEMS = {
    "Illegal character '\\n'": 'a one-line string is never closed (use """ for strings across lines)',
    "Cannot overwrite a value": "a key is set twice",
    "Expected newline or end of document after a statement": "unexpected text after a value (a string without quotes?)",
    "Invalid initial character for a key part": "expected a key (an inline table { ... } must fit on one line)",
    "Unclosed array": "an array is never closed",
    "Unclosed inline table": "an inline table is never closed",
}


def _toml_message(message: str, text: str, line: int) -> tuple[str, int]:
    """The TOML parser's message in the manifest's terms, and the column it is best reported at."""
    declared = re.match(r"Cannot declare \((.*)\) twice", message)
    if declared:
        parts = [p.strip().strip("'\"") for p in declared.group(1).split(",") if p.strip()]
        return f"table [{'.'.join(parts)}] is declared twice", 1
    if message == "Cannot overwrite a value" and 1 <= line <= len(text.splitlines()):
        key = re.match(r"\s*([^=\s]+)\s*=", text.splitlines()[line - 1])
        if key:
            return f"key {key.group(1)!r} is set twice", text.splitlines()[line - 1].index(key.group(1)) + 1
    for raw, better in _TOML_PROBLEMS.items():
        if message.startswith(raw):
            return better, 0
    return (message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message), 0


def check_shape(data: object, file: str, source_map: Callable[[], SourceMap]) -> int:
    """Bound depth and size, which the later stages walk recursively; the number of values."""
    stack: list[tuple[object, int]] = [(data, 0)]
    nodes = 1
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if depth >= MAX_DEPTH and children:
            line, column = source_map().value_position(_first_too_deep(data))
            raise _fail(file, line, column, f"values are nested more than {MAX_DEPTH} levels deep")
        nodes += len(children)
        if nodes > MAX_NODES:
            raise _fail(file, FILE_LEVEL, FILE_LEVEL, f"manifest has more than {MAX_NODES:,} values")
        stack += [(child, depth + 1) for child in children if isinstance(child, (dict, list))]
    return nodes


def _first_too_deep(data: object) -> KeyPath:
    """The path of the first value nested more than MAX_DEPTH levels deep, in the order `check_shape` walks."""
    stack: list[tuple[object, KeyPath]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return ()


# --- YAML -------------------------------------------------------------------------------------------

# Tags a manifest may carry: the YAML 1.2 core schema's, written or implied. Anything else (!!python/object,
# !!set, !!binary, !custom) is refused: a manifest is plain data.
ALLOWED_TAGS = frozenset(
    {
        "tag:modalc,2026:plain",
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
    }
)

_YAML_PROBLEMS = (
    ("found unexpected end of stream", "a quoted string is never closed"),
    ("found character '\\t' that cannot start any token", "a tab character: indent with spaces"),
    ("mapping values are not allowed", "a key is not allowed here (bad indentation, or a missing space after ':'?)"),
    ("but found another document", "a manifest is one YAML document; another one starts here"),
    ("did not find expected '-' indicator", "expected a list item ('- ...'); is the indentation right?"),
    (
        "found character that cannot start any token",
        "a character that cannot start a value (a tab? indent with spaces)",
    ),
    ("found duplicate anchor", "an anchor (&name) is defined twice"),
)


def parse_yaml(text: str, file: str) -> tuple[dict[str, object], dict[KeyPath, Span]]:
    import yaml

    from . import yaml12

    if error := check_flow_depth(text, file):
        raise error
    try:
        node = yaml12.compose(text)
        if node is None:
            raise _fail(file, 1, 1, "the manifest must be a mapping of keys, not an empty document")
        _check_yaml_nodes(node, file)
        constructor = yaml12.Constructor(_describe_yaml_key)
        data = constructor.construct(node)
    except ManifestError:
        raise
    except yaml12.YamlProblem as problem:
        raise ManifestError(
            [Diagnostic(file, problem.line, problem.column, problem.message, problem.path, hint=problem.hint)]
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_syntax_error(exc, file) from None
    except RecursionError:
        raise _fail(file, 1, 1, "YAML syntax: values are nested too deeply") from None
    except yaml.YAMLError as exc:
        raise _fail(file, 1, 1, f"YAML syntax: {_first_line(str(exc))}") from None
    if not isinstance(data, dict):
        raise _fail(
            file,
            1,
            1,
            f"the manifest must be a mapping of keys, not {_yaml_kind(data)}",
            hint="start with `version: 1` and an `app:` mapping with a name",
        )
    return data, constructor.spans


def _yaml_syntax_error(exc: object, file: str) -> ManifestError:
    problem = str(getattr(exc, "problem", None) or getattr(exc, "context", None) or "invalid YAML")
    context = str(getattr(exc, "context", None) or "")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if "duplicate key" in problem:
        key = _duplicate_key_name(str(exc))
        problem = f"duplicate key {key!r}" if key else "duplicate key"
    elif "quoted scalar" in context and getattr(exc, "context_mark", None) is not None:
        mark = exc.context_mark  # type: ignore[attr-defined]
        problem = "a quoted string is never closed"
    else:
        for raw, better in _YAML_PROBLEMS:
            if raw in problem:
                problem = better
                break
        else:
            problem = (
                _first_line(problem)
                .replace("<block end>", "the end of this block")
                .replace("<block mapping start>", "a mapping")
                .replace("'?'", "another key")
            )
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return _fail(file, line, column, f"YAML syntax: {problem}")


def _check_yaml_nodes(root: object, file: str) -> None:
    """Before constructing anything: no custom tags, no alias cycles, no aliases that expand past the limit."""
    sizes: dict[int, int] = {}
    stack: list[tuple[object, int, tuple[int, ...]]] = [(root, 0, ())]
    order: list[object] = []
    while stack:
        node, depth, ancestors = stack.pop()
        tag = getattr(node, "tag", None)
        mark = getattr(node, "start_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if tag not in ALLOWED_TAGS:
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            raise _fail(file, line, column, f"YAML tag {shown!r} is not allowed in a manifest; write plain values")
        if depth > MAX_DEPTH:
            raise _fail(file, line, column, f"values are nested more than {MAX_DEPTH} levels deep")
        if id(node) in ancestors:
            raise _fail(file, line, column, "this alias refers to a value that contains it")
        if id(node) in sizes:
            continue
        sizes[id(node)] = -1
        order.append(node)
        children = _yaml_children(node)
        for child in children:
            stack.append((child, depth + 1, (*ancestors, id(node))))
    # Expanded size (aliases counted each time they are used), leaves first.
    for node in reversed(order):
        size = 1 + sum(sizes.get(id(child), 1) for child in _yaml_children(node))
        sizes[id(node)] = size
        if size > MAX_NODES:
            mark = getattr(node, "start_mark", None)
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise _fail(
                file,
                line,
                column,
                f"this value expands to more than {MAX_NODES:,} values (YAML aliases nested inside aliases?)",
            )


def _yaml_children(node: object) -> list[object]:
    value = getattr(node, "value", None)
    if not isinstance(value, list):
        return []
    children: list[object] = []
    for item in value:
        children.extend(item if isinstance(item, tuple) else (item,))
    return children


def check_flow_depth(text: str, file: str) -> ManifestError | None:
    """Refuse absurd bracket nesting before a recursive parser meets it (it would take seconds to fail)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH or not _may_nest_too_deep(text):
        return None
    at = first_too_deep_bracket(text)
    if at is None:
        return None
    line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    return _fail(file, line, column, f"values are nested more than {MAX_DEPTH} levels deep")


def first_too_deep_bracket(text: str) -> int | None:
    """Where the first bracket more than MAX_DEPTH deep opens, outside strings and comments; None if none does."""
    depth = 0
    for match in _FLOW_TOKENS.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif char in "]}":
            depth = max(0, depth - 1)
    return None


# TOML's strings, with their escapes (`"say \"hi"` is one string), and its comments, each to its end, or to the
# end of its line or of the file where it is never closed (a syntax error, which the parser then reports).
_STRINGS_AND_COMMENTS = (
    r'"""(?:\\.|[^\\])*?(?:"""|\Z)'
    r"|'''.*?(?:'''|\Z)"
    r'|"(?:\\.|[^"\\\n])*"?'
    r"|'[^'\n]*'?"
    r"|#[^\n]*"
)
_FLOW_TOKENS = re.compile(_STRINGS_AND_COMMENTS + r"|[\[\]{}]", re.DOTALL)
# What the quick bound removes: every string and comment, then every character that is not a bracket.
_NOT_BRACKETS = re.compile(_STRINGS_AND_COMMENTS + r"""|[^\[\]{}"'#]+""", re.DOTALL)
_INNERMOST_PAIR = re.compile(r"[\[{][\]}]")


def _may_nest_too_deep(text: str) -> bool:
    """False when no bracket can be more than MAX_DEPTH deep: each pass removes the innermost pairs, so nesting
    of depth d is gone after d passes. Unclosed brackets (a syntax error) are left to the exact scan."""
    brackets = _NOT_BRACKETS.sub("", text)
    for _ in range(MAX_DEPTH):
        reduced = _INNERMOST_PAIR.sub("", brackets)
        if len(reduced) == len(brackets):
            break
        brackets = reduced
    return "[" in brackets or "{" in brackets


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _duplicate_key_name(text: str) -> str | None:
    match = re.search(r'found duplicate key "([^"]*)"', text)
    return match.group(1) if match else None


def _yaml_kind(value: object) -> str:
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    return f"a single value ({_describe_yaml_key(value)})"


def _describe_yaml_key(key: object) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return f"the boolean {str(key).lower()}"
    if isinstance(key, (int, float)):
        return f"the number {key}"
    if isinstance(key, (datetime.date, datetime.time)):
        return f"the date {key.isoformat()}"
    kind = type(key).__name__
    if isinstance(key, (tuple, list)) or kind == "SequenceNode":
        return "a list"
    if isinstance(key, dict) or kind == "MappingNode":
        return "a mapping"
    return "a value of another kind"
