"""Source positions for every key and value of a TOML document.

``tomllib`` returns plain data without positions, but the compiler reports errors
as ``file:line:col`` for arbitrary key paths.  :func:`scan_toml_positions` walks
the source text once more (after ``tomllib`` has accepted it) and maps every path
of the parsed data to where its key and its value are written.

Standard library only, and cheap to import: this module is loaded on every build.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from functools import partial
from itertools import repeat
from operator import sub
from typing import Any, NamedTuple

from .diagnostics import KeyPath

__all__ = ["MAX_DEPTH", "Span", "scan_toml_positions"]


#: Deepest path accepted.  ``tomllib`` cannot parse values nested much deeper
#: than ~400 levels at Python's default recursion limit, and the result holds
#: one tuple per path, so very deep documents would cost memory quadratic in
#: their depth; beyond this limit we raise ``ValueError`` instead.
MAX_DEPTH = 1000


# A NamedTuple rather than a frozen dataclass: importing ``dataclasses`` pulls in
# ``inspect`` (several ms on every build), and frozen dataclass instances are
# about three times slower to create, which shows on large documents.
class Span(NamedTuple):
    """Where a key and its value are written (1-based; columns in characters)."""

    key_line: int
    key_col: int
    value_line: int
    value_col: int


_BARE_KEY = r"[A-Za-z0-9_-]++"
_BASIC_STR = r'"(?:[^"\\\n]++|\\.)*+"'
_LITERAL_STR = r"'[^'\n]*+'"
_ML_BASIC_STR = r'"""(?:[^"\\]++|\\.|"{1,2}+(?!"))*+"{3,5}+'
_ML_LITERAL_STR = r"'''(?:[^']++|'{1,2}+(?!'))*+'{3,5}+"
_DATE_TIME = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
    r"|[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:\.[0-9]+)?"
)
# Numbers, booleans, inf and nan: validity is tomllib's job, we only need extents.
_OTHER_SCALAR = r"[0-9A-Za-z_+.\-]++"
# Whitespace, newlines and comments, as allowed inside arrays (and, tolerating
# TOML 1.1, inline tables) and between statements.
_SKIP = r"(?:[ \t\r\n]++|#[^\n]*+)*+"


# A pattern that can match the empty string always matches: its `match` never returns None.
_AlwaysMatches = Callable[[str, int], re.Match[str]]


class _Patterns:
    """Compiled lazily: compiling costs milliseconds, importing must not."""

    ws: _AlwaysMatches
    skip: _AlwaysMatches
    separator: _AlwaysMatches
    end_of_statement: Callable[[str, int], re.Match[str] | None]

    def __init__(self) -> None:
        # Possessive quantifiers (Python 3.11+) keep every pattern linear, even
        # on unterminated strings in text that tomllib would reject.
        self.simple_key = re.compile(f"{_BARE_KEY}|{_BASIC_STR}|{_LITERAL_STR}", re.DOTALL).match
        # The common statement shape `bare_key = value`, in one match.
        self.bare_key_eq = re.compile(r"([A-Za-z0-9_-]++)[ \t]*+=[ \t]*+").match
        self.dot = re.compile(r"[ \t]*+\.[ \t]*+").match
        self.ws = re.compile(r"[ \t]*+").match  # type: ignore[assignment]
        self.skip = re.compile(_SKIP).match  # type: ignore[assignment]
        self.separator = re.compile(rf"{_SKIP}(,{_SKIP})?").match  # type: ignore[assignment]
        self.end_of_statement = re.compile(rf"[ \t]*+(?:#[^\n]*+)?(?:\r?\n{_SKIP}|\Z)").match
        self.scalar = re.compile(
            f"{_ML_BASIC_STR}|{_ML_LITERAL_STR}|{_BASIC_STR}|{_LITERAL_STR}|{_DATE_TIME}|{_OTHER_SCALAR}",
            re.DOTALL,
        ).match
        self.escape = re.compile(
            r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))",
            re.DOTALL,
        ).sub


_patterns: _Patterns | None = None

_SIMPLE_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "e": "\x1b",  # TOML 1.1
}


def _unescape(match: re.Match[str]) -> str:
    hex_digits = match.group(1) or match.group(2) or match.group(3)
    if hex_digits is not None:
        return chr(int(hex_digits, 16))
    char = match.group(4)
    try:
        return _SIMPLE_ESCAPES[char]
    except KeyError:
        raise ValueError(f"invalid escape sequence \\{char} in a key") from None


class _Scanner:
    def __init__(self, text: str, patterns: _Patterns) -> None:
        self.text = text
        self.p = patterns
        # key path -> (key offset, value offset); the first write of a path wins.
        self.offsets: dict[KeyPath, tuple[int, int]] = {}
        # Resolved path of each array of tables -> number of [[...]] headers so far.
        self.aot_counts: dict[KeyPath, int] = {}

    def error(self, message: str, pos: int) -> ValueError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return ValueError(f"{message} (at line {line}, column {col})")

    def dotted_key(self, pos: int) -> tuple[list[tuple[str, int]], int]:
        """Parse ``a . "b" . 'c'``; return [(name, offset)] and the end offset."""
        text = self.text
        simple_key = self.p.simple_key
        dot = self.p.dot
        parts: list[tuple[str, int]] = []
        while True:
            m = simple_key(text, pos)
            if m is None:
                raise self.error("expected a key", pos)
            token = m.group()
            if token[0] == '"':
                token = self.p.escape(_unescape, token[1:-1])
            elif token[0] == "'":
                token = token[1:-1]
            parts.append((token, pos))
            pos = m.end()
            m = dot(text, pos)
            if m is None:
                return parts, pos
            pos = m.end()

    def key_value(self, pos: int, table: KeyPath) -> tuple[KeyPath, int]:
        """Parse ``key =`` relative to ``table``; record the key (and the implicit
        tables of a dotted key) and return the value's path and start offset."""
        text = self.text
        offsets = self.offsets
        m = self.p.bare_key_eq(text, pos)
        if m is not None and len(table) < MAX_DEPTH:
            path = table + (m.group(1),)
            value_pos = m.end()
            offsets.setdefault(path, (pos, value_pos))
            return path, value_pos
        parts, pos = self.dotted_key(pos)
        if len(table) + len(parts) > MAX_DEPTH:
            raise self.error(f"key nested deeper than {MAX_DEPTH} levels", pos)
        path = table
        for name, key_pos in parts[:-1]:
            path = path + (name,)
            # An implicit table made by a dotted key has no value text of its
            # own; its segment is the most useful place to point at.
            offsets.setdefault(path, (key_pos, key_pos))
        pos = self.p.ws(text, pos).end()
        if not text.startswith("=", pos):
            raise self.error("expected '=' after a key", pos)
        pos = self.p.ws(text, pos + 1).end()
        path = path + (parts[-1][0],)
        offsets.setdefault(path, (parts[-1][1], pos))
        return path, pos

    def header(self, pos: int) -> tuple[KeyPath, int]:
        """Parse a ``[table]`` or ``[[array.of.tables]]`` header starting at
        ``pos`` (its first '['); return the table it opens and the end offset."""
        text = self.text
        offsets = self.offsets
        is_array = text.startswith("[[", pos)
        bracket_pos = pos
        pos = self.p.ws(text, pos + (2 if is_array else 1)).end()
        parts, pos = self.dotted_key(pos)
        if len(parts) > MAX_DEPTH:
            raise self.error(f"table nested deeper than {MAX_DEPTH} levels", pos)
        pos = self.p.ws(text, pos).end()
        closer = "]]" if is_array else "]"
        if not text.startswith(closer, pos):
            raise self.error(f"expected '{closer}' to close the table header", pos)
        pos += len(closer)

        path: KeyPath = ()
        last = len(parts) - 1
        for i, (name, key_pos) in enumerate(parts):
            path = path + (name,)
            offsets.setdefault(path, (key_pos, bracket_pos))
            count = self.aot_counts.get(path)
            if i < last:
                # A header segment naming an array of tables means its last element.
                if count is not None:
                    path = path + (count - 1,)
            elif is_array:
                index = count or 0
                self.aot_counts[path] = index + 1
                path = path + (index,)
                offsets.setdefault(path, (key_pos, bracket_pos))
        if len(path) > MAX_DEPTH:
            raise self.error(f"table nested deeper than {MAX_DEPTH} levels", pos)
        return path, pos

    def value(self, pos: int, path: KeyPath) -> int:
        """Scan the value starting at ``pos`` (its path already recorded),
        recording everything nested inside it; return its end offset.

        Iterative, with an explicit stack, so that deep nesting can hit neither
        the recursion limit nor the C stack.
        """
        text = self.text
        offsets = self.offsets
        scalar = self.p.scalar
        separator = self.p.separator
        # Frames: [container path, is_array, items seen so far].
        stack: list[list[Any]] = []
        while True:
            # A value for `path` starts at `pos`.
            c = text[pos : pos + 1]
            if c == "[" or c == "{":
                if len(path) >= MAX_DEPTH:
                    raise self.error(f"value nested deeper than {MAX_DEPTH} levels", pos)
                stack.append([path, c == "[", 0])
                pos += 1
            else:
                m = scalar(text, pos)
                if m is None:
                    raise self.error("expected a value", pos)
                pos = m.end()
            # Move to the start of the next value, closing finished containers.
            # Scalar array items are handled in this loop: they are the bulk of
            # large documents.
            while True:
                if not stack:
                    return pos
                frame = stack[-1]
                container, is_array, count = frame
                m = separator(text, pos)
                pos = m.end()
                has_comma = m.lastindex is not None
                closer = "]" if is_array else "}"
                if text.startswith(closer, pos) and (count or not has_comma):
                    stack.pop()
                    pos += 1
                    continue
                if has_comma != (count > 0):
                    raise self.error(
                        f"expected ',' or '{closer}'" if count else "expected a value",
                        pos,
                    )
                frame[2] = count + 1
                if not is_array:
                    path, pos = self.key_value(pos, container)
                    break
                path = container + (count,)
                offsets[path] = (pos, pos)
                if text.startswith(("[", "{"), pos):
                    break
                m = scalar(text, pos)
                if m is None:
                    raise self.error("expected a value", pos)
                pos = m.end()

    def scan(self) -> None:
        text = self.text
        n = len(text)
        scalar = self.p.scalar
        end_of_statement = self.p.end_of_statement
        table: KeyPath = ()
        pos = self.p.skip(text, 0).end()
        while pos < n:
            if text[pos] == "[":
                table, pos = self.header(pos)
            else:
                path, pos = self.key_value(pos, table)
                m = None if text.startswith(("[", "{"), pos) else scalar(text, pos)
                pos = m.end() if m is not None else self.value(pos, path)
            m = end_of_statement(text, pos)
            if m is None:
                raise self.error("expected the end of the line", pos)
            pos = m.end()


def scan_toml_positions(text: str) -> dict[KeyPath, Span]:
    """Map every key path of a TOML document to where its key and value are written.

    ``text`` should be a document that ``tomllib.loads`` accepts; the keys of the
    result are then exactly the paths of ``tomllib.loads(text)``: table keys as
    ``str`` (decoded, as tomllib returns them), array indices as ``int``.

    Positions are 1-based; lines are separated by ``\\n`` (so CRLF counts once)
    and columns count characters (code points; a tab is one column).

    * ``key = value``: the key position is the key's last segment (at the opening
      quote if quoted), the value position the value's first character.
    * An array element: key and value are both the element's first character.
    * A table defined by a ``[a.b]`` header: the key is the ``b`` segment, the
      value the header's ``[``.
    * ``[[fruit]]``: ``("fruit", i)`` points at the ``fruit`` segment and ``[`` of
      the i-th such header, ``("fruit",)`` at those of the first one.
    * Implicit tables (created by ``[a.b.c]`` or ``a.b.c = 1``) point where their
      segment is *first* written: for a header, key = the segment and value =
      the header's ``[``; for a dotted key, key = value = the segment.
    * A table created implicitly and later given its own header (``[a.b]`` then
      ``[a]``) keeps the position of its first mention, not of its header: each
      path maps to one place, and the first mention is where a reader meets it.

    Runs in time linear in the input (plus the total length of the returned
    paths).  Raises ``ValueError`` on text it cannot scan (text tomllib would
    reject) and on paths deeper than :data:`MAX_DEPTH`; never ``RecursionError``.
    """
    global _patterns
    if _patterns is None:
        _patterns = _Patterns()
    scanner = _Scanner(text, _patterns)
    scanner.scan()

    # Line starts, as offsets of the preceding "\n" (-1 for the first line):
    # an offset's line number is how many of these lie before it.
    starts = [-1]
    find = text.find
    i = find("\n")
    while i != -1:
        starts.append(i)
        i = find("\n", i + 1)
    # This runs once per path of the document, so it is kept in C through
    # map()/zip(): column = offset - start of its line (1-based either way).
    before = [0, *starts]
    line_of = partial(bisect_left, starts)
    offsets = scanner.offsets
    key_offsets = [k for k, _ in offsets.values()]
    value_offsets = [v for _, v in offsets.values()]
    key_lines = list(map(line_of, key_offsets))
    value_lines = list(map(line_of, value_offsets))
    key_cols = map(sub, key_offsets, map(before.__getitem__, key_lines))
    value_cols = map(sub, value_offsets, map(before.__getitem__, value_lines))
    spans = zip(key_lines, key_cols, value_lines, value_cols, strict=True)
    return dict(zip(offsets, map(tuple.__new__, repeat(Span), spans), strict=True))
