"""A large TOML manifest parsed one top-level table at a time, then assembled: the same document, less memory.

`tomli` keeps bookkeeping for every key of a document until it returns (at 10,000 handlers, twice the size of
the data itself). Parsed table by table, that bookkeeping lives for one table, and each table's strings are
interned as it arrives (keys and short values repeat across thousands of functions), so the data is about half
its size too.

A document is cut before every line that begins with `[` (after spaces or tabs, which TOML allows before a
header, so every header starts a piece). Where such a line is inside a multi-line string or
array, the piece before it leaves that string or array open and fails to parse; then, and for anything else not
provably what a whole parse would build (a table declared twice, a header reaching into a table its dotted keys
or an inline table defined, keys set again), `parse_by_table` returns None and the caller parses the document
whole, which also reports the error exactly where it is.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_TABLES = 200  # below this, one parse is as cheap and the document small

_HEADER_START = re.compile(r"^[ \t]*(\[)", re.MULTILINE)
_BARE_HEADER = re.compile(r"(\[\[?)([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)(\]\]?)[ \t]*(?:#[^\n]*)?\r?\n?")
_SHORT = 64  # strings up to this length are interned (names, image aliases, GPU types)

# How a table of the assembled document came to be, which decides what a later header may do with it.
_IMPLICIT = "implicit"  # only named as part of a longer header, `[a]` in `[a.b]`: a header may still declare it
_DECLARED = "declared"  # by its own header: a second one is an error
Document = dict[str, Any]


Header = tuple[tuple[str, ...], bool]  # a table's key path, and whether it is an array of tables (`[[...]]`)


def table_starts(text: str, begin: int = 0, end: int | None = None) -> list[int]:
    """Where each piece begins: the `[` of every line that starts with one after optional spaces or tabs."""
    # From the start of `begin`'s line, so an indented header at `begin` is found (`^` is a real line start).
    begin = text.rfind("\n", 0, begin) + 1
    return [match.start(1) for match in _HEADER_START.finditer(text, begin, len(text) if end is None else end)]


@dataclass
class Tables:
    """How `parse_by_table` cuts a document: each piece's start and header."""

    starts: list[int] = field(default_factory=list)
    headers: list[Header] = field(default_factory=list)

    @classmethod
    def of(cls, text: str) -> Tables | None:
        """The cuts of a document `parse_by_table` assembled (None if a header cannot be read)."""
        starts = table_starts(text)
        headers = [header_of(piece(text, starts, k)) for k in range(len(starts))]
        return None if None in headers else cls(starts, headers)  # type: ignore[arg-type]


def piece(text: str, starts: Sequence[int], k: int) -> str:
    """The k-th piece: from its start to the next one's, or to the end."""
    return text[starts[k] : starts[k + 1] if k + 1 < len(starts) else len(text)]


def parse_by_table(text: str, min_tables: int | None = None) -> Document | None:
    """The document `tomli.loads(text)` returns, or None where that cannot be shown table by table."""
    import tomli

    starts = table_starts(text)
    if not starts or len(starts) < (MIN_TABLES if min_tables is None else min_tables):
        return None
    try:
        root: Document = _interned(tomli.loads(text[: starts[0]]))
        assembly = Assembly(root)
        for k in range(len(starts)):
            table = piece(text, starts, k)
            header = header_of(table)
            if header is None or not assembly.add(*header, tomli.loads(table)):
                return None
    except (tomli.TOMLDecodeError, RecursionError):
        return None
    return root


def header_of(piece: str) -> Header | None:
    """The key path of the piece's header line and whether it is an array of tables (`[[...]]`)."""
    match = _BARE_HEADER.match(piece)
    if match is None or (match.group(1) == "[[") != (match.group(3) == "]]"):
        return _quoted_header(piece)
    return tuple(map(sys.intern, match.group(2).split("."))), match.group(1) == "[["


def _quoted_header(piece: str) -> Header | None:
    import tomli

    line = piece.split("\n", 1)[0]
    try:
        value: Any = tomli.loads(line)
    except tomli.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(value, dict) and len(value) == 1:
        key, value = next(iter(value.items()))
        path.append(key)
        if value == {} or value == [{}]:
            return tuple(path), isinstance(value, list)
    return None


class Assembly:
    def __init__(self, root: Document):
        self.root = root
        self.origin: dict[int, str] = {}  # id of each table a header made or named; the rest are values
        self.arrays: set[int] = set()  # ids of arrays of tables made by `[[...]]`

    def add(self, path: Sequence[str], is_array: bool, parsed: Document) -> bool:
        """Place one piece's table; False if a whole parse might build something else or refuse it."""
        content = _content(parsed, path, is_array)
        if content is None:
            return False
        node = self.root
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
                self.origin[id(child)] = _IMPLICIT
            elif type(child) is list and id(child) in self.arrays:
                child = child[-1]  # `[a.b]` after `[[a]]` is a table of a's last element
            elif type(child) is not dict or id(child) not in self.origin:
                return False  # through a value, an inline table or a table of dotted keys
            node = child
        last = path[-1]
        existing = node.get(last)
        content = _interned(content)
        if is_array:
            if existing is None:
                existing = node[last] = []
                self.arrays.add(id(existing))
            elif type(existing) is not list or id(existing) not in self.arrays:
                return False
            existing.append(content)
            self.origin[id(content)] = _DECLARED
            return True
        if existing is None:
            node[last] = content
            self.origin[id(content)] = _DECLARED
            return True
        if type(existing) is dict and self.origin.get(id(existing)) == _IMPLICIT and not existing.keys() & content:
            existing.update(content)
            self.origin[id(existing)] = _DECLARED
            return True
        return False


def _content(parsed: Document, path: Sequence[str], is_array: bool) -> Document | None:
    """The table under the header, if the piece defines nothing else (no second header hides in it)."""
    node: Any = parsed
    for key in path:
        if type(node) is not dict or len(node) != 1 or key not in node:
            return None
        node = node[key]
    if is_array:
        return node[0] if type(node) is list and len(node) == 1 else None
    return node if type(node) is dict else None


def _interned(value: Any) -> Any:
    """The same value with its keys and short strings interned: equal strings become one object."""
    kind = type(value)
    if kind is dict:
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    if kind is list:
        return [_interned(v) for v in value]
    if kind is str and len(value) <= _SHORT:
        return sys.intern(value)
    return value
