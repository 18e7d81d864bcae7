"""Load stage: manifest bytes -> plain data plus a source map, for TOML and YAML alike.

Plain data means what JSON can hold (dict, list, str, int, float, bool, None), except that TOML and YAML
dates stay `datetime.date`/`datetime.time` objects so validation can say "a date is not a string". The source
map gives every key path a line and column, so later stages report `file:line:col` without knowing the format.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, KeyPath, ManifestError
from .toml_positions import Span, scan_toml_positions

MAX_MANIFEST_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 48
MAX_NODES = 200_000

TOML_SUFFIXES = (".toml",)
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SourceMap:
    """Where each key path of a manifest is written."""

    file: str
    spans: dict[KeyPath, Span] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

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

    def has(self, path: KeyPath) -> bool:
        return tuple(path) in self.spans

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
    raw: bytes
    data: dict[str, object]
    source_map: SourceMap


def _fail(file: str, line: int, column: int, message: str, hint: str | None = None) -> ManifestError:
    return ManifestError([Diagnostic(file, line, column, message, hint=hint)])


def decode_manifest(raw: bytes, file: str) -> str:
    """Bytes -> text, refusing what is not a UTF-8 text file, with the position of the first bad byte."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _fail(
            file, 1, 1, f"manifest is {len(raw):,} bytes; the limit is {MAX_MANIFEST_BYTES:,} bytes",
            hint="split it, or generate the repetitive part with YAML anchors",
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_col(raw[: exc.start].decode("utf-8", "replace"))
        raise _fail(file, line, column, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded") from None
    nul = text.find("\x00")
    if nul >= 0:
        line, column = _line_col(text[:nul])
        raise _fail(file, line, column, "not a text file: it contains a NUL byte")
    if not text.strip():
        raise _fail(file, 1, 1, "manifest is empty", hint="start from `version = 1` and an [app] table with a name")
    return text


def _line_col(prefix: str) -> tuple[int, int]:
    line = prefix.count("\n") + 1
    column = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return line, column


def load_manifest(path: Path, display_name: str | None = None, raw: bytes | None = None) -> LoadedManifest:
    """Read and parse a manifest; raises ManifestError with positions for anything unreadable."""
    file = display_name or str(path)
    suffix = path.suffix.lower()
    if suffix not in TOML_SUFFIXES + YAML_SUFFIXES:
        raise _fail(file, 1, 1, f"unknown manifest format {suffix or '(no suffix)'!r}: use .toml, .yaml or .yml")
    if raw is None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise _fail(file, 1, 1, "no such file") from None
        except IsADirectoryError:
            raise _fail(file, 1, 1, "is a directory, not a manifest") from None
        except OSError as exc:
            raise _fail(file, 1, 1, f"cannot read: {exc.strerror}") from None
    text = decode_manifest(raw, file)
    if suffix in TOML_SUFFIXES:
        data, spans = parse_toml(text, file)
        fmt = "toml"
    else:
        data, spans = parse_yaml(text, file)
        fmt = "yaml"
    source_map = SourceMap(file, spans, tuple(text.splitlines()))
    return LoadedManifest(path, file, fmt, text, raw, data, source_map)


# --- TOML -------------------------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def parse_toml(text: str, file: str) -> tuple[dict[str, object], dict[KeyPath, Span]]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line, column = _line_col(text)
        if match := _TOML_POSITION.search(message):
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()]
        elif match := _TOML_END.search(message):
            message = message[: match.start()] + " at the end of the file"
        raise _fail(file, line, column, f"TOML syntax: {_toml_message(message)}") from None
    except RecursionError:
        raise _fail(file, 1, 1, "TOML syntax: values are nested too deeply") from None
    try:
        spans = scan_toml_positions(text)
    except (ValueError, RecursionError):
        spans = {}  # positions degrade to 1:1; the data itself came from tomllib
    if depth_error := _check_shape(data, file, spans):
        raise depth_error
    return data, spans


def _toml_message(message: str) -> str:
    if message == "Illegal character '\\n'":
        return "unterminated string (a one-line string must close on its line; use \"\"\" for several lines)"
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def _check_shape(data: object, file: str, spans: dict[KeyPath, Span]) -> ManifestError | None:
    """Bound depth and size, which the later stages walk recursively."""
    stack: list[tuple[object, KeyPath]] = [(data, ())]
    nodes = 0
    while stack:
        value, path = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return _fail(file, 1, 1, f"manifest has more than {MAX_NODES:,} values")
        if len(path) > MAX_DEPTH:
            line, column = SourceMap(file, spans).value_position(path)
            return _fail(file, line, column, f"values are nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return None


# --- YAML -------------------------------------------------------------------------------------------


def parse_yaml(text: str, file: str) -> tuple[dict[str, object], dict[KeyPath, Span]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "duplicate key" in str(problem):
            key = _duplicate_key_name(str(exc))
            problem = f"duplicate key {key!r}" if key else "duplicate key"
        raise _fail(file, line, column, f"YAML syntax: {_first_line(problem)}") from None
    except RecursionError:
        raise _fail(file, 1, 1, "YAML syntax: values are nested too deeply") from None
    except YAMLError as exc:
        raise _fail(file, 1, 1, f"YAML syntax: {_first_line(str(exc))}") from None
    converter = _YamlConverter(file)
    data = converter.convert(document, (), 0)
    if not isinstance(data, dict):
        line, column = converter.spans.get((), Span(1, 1, 1, 1))[2:4] if () in converter.spans else (1, 1)
        raise _fail(file, line, column, f"the manifest must be a mapping of keys, not {_yaml_kind(data)}")
    return data, converter.spans


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
    return f"a single value ({type(value).__name__})"


class _YamlConverter:
    """ruamel's round-trip objects -> plain data and spans; bounds depth and alias expansion."""

    def __init__(self, file: str):
        self.file = file
        self.spans: dict[KeyPath, Span] = {}
        self.nodes = 0

    def convert(self, node: object, path: KeyPath, depth: int) -> object:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        self.nodes += 1
        if self.nodes > MAX_NODES:
            line, column = self._position(path)
            raise _fail(
                self.file, line, column,
                f"manifest expands to more than {MAX_NODES:,} values (YAML aliases nested inside aliases?)",
            )
        if depth > MAX_DEPTH:
            line, column = self._position(path)
            raise _fail(self.file, line, column, f"values are nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, CommentedMap):
            return self._convert_map(node, path, depth)
        if isinstance(node, CommentedSeq):
            result = []
            for index, item in enumerate(node):
                child = (*path, index)
                try:
                    line, column = node.lc.item(index)
                    self.spans[child] = Span(line + 1, column + 1, line + 1, column + 1)
                except (KeyError, TypeError, IndexError, AttributeError):
                    pass
                result.append(self.convert(item, child, depth + 1))
            return result
        return _plain_scalar(node)

    def _convert_map(self, node: object, path: KeyPath, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in node.items():  # type: ignore[attr-defined]
            key_pos = _lc(node, "key", key)
            value_pos = _lc(node, "value", key) or key_pos
            if not isinstance(key, str):
                line, column = key_pos or self._position(path)
                raise _fail(
                    self.file, line, column,
                    f"keys must be strings, not {_describe_yaml_key(key)}", hint="quote the key",
                )
            child = (*path, key)
            if key_pos:
                vl, vc = value_pos or key_pos
                self.spans[child] = Span(key_pos[0], key_pos[1], vl, vc)
            result[key] = self.convert(value, child, depth + 1)
        return result

    def _position(self, path: KeyPath) -> tuple[int, int]:
        return SourceMap(self.file, self.spans).value_position(path)


def _lc(node: object, kind: str, key: object) -> tuple[int, int] | None:
    try:
        line, column = getattr(node.lc, kind)(key)  # type: ignore[attr-defined]
    except (KeyError, TypeError, AttributeError):
        return None  # keys merged in with `<<:` have no position of their own
    return line + 1, column + 1


def _describe_yaml_key(key: object) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return f"the boolean {str(key).lower()}"
    if isinstance(key, (int, float)):
        return f"the number {key}"
    return type(key).__name__


def _plain_scalar(node: object) -> object:
    # ruamel's scalar types subclass the builtins; hand back the builtins themselves.
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return bool(node) if type(node).__name__ == "ScalarBoolean" else int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, (datetime.date, datetime.time)):
        return node
    if isinstance(node, bytes):
        return node
    return str(node)
