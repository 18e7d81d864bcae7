"""YAML 1.2 for manifests: libyaml's composer for speed, YAML 1.2 core-schema meaning decided here.

PyYAML's C composer turns text into a node graph with positions about fifteen times faster than a pure Python
parser; its constructor, though, speaks YAML 1.1 (`no` is False, `3.10` is 3.1, duplicate keys silently win).
So modalc takes only the nodes and constructs plain data itself under the YAML 1.2 core schema: plain scalars
resolve to null, booleans, integers and floats by the 1.2 rules, quoted scalars stay strings, duplicate keys
are errors, only core tags are allowed (plus `!!str`), `<<` merge keys work, and every key and item gets its
line and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import yaml

from .diagnostics import KeyPath
from .toml_positions import Span

PLAIN = "tag:modalc,2026:plain"  # an untagged plain scalar, resolved below
STR = "tag:yaml.org,2002:str"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
ALLOWED_TAGS = frozenset({PLAIN, STR, MAP, SEQ, INT, FLOAT, BOOL, NULL})

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_Base: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


class _Composer(_Base):  # type: ignore[misc]
    """Composes nodes only; leaves implicit plain scalars for the YAML 1.2 rules below."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return PLAIN if implicit[0] else STR
        return MAP if kind is yaml.MappingNode else SEQ


class YamlProblem(Exception):
    """A manifest-level problem found while constructing (the caller turns it into a diagnostic)."""

    def __init__(self, message: str, line: int, column: int, path: KeyPath = (), hint: str | None = None):
        super().__init__(message)
        self.message, self.line, self.column, self.path, self.hint = message, line, column, path, hint


def compose(text: str) -> Any:
    """The single document's root node (None for an empty stream); raises yaml.YAMLError on bad syntax."""
    loader = _Composer(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def position(node: Any) -> tuple[int, int]:
    mark = getattr(node, "start_mark", None)
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def scalar_value(node: Any) -> object:
    tag, text = node.tag, node.value
    if tag == STR:
        return text
    if tag in (PLAIN, NULL) and _NULL.match(text):
        return None
    if tag in (PLAIN, BOOL) and text in _BOOL:
        return _BOOL[text]
    if tag in (PLAIN, INT):
        if _INT.match(text):
            return int(text)
        if _OCT.match(text):
            return int(text[2:], 8)
        if _HEX.match(text):
            return int(text[2:], 16)
    if tag in (PLAIN, FLOAT):
        if _FLOAT.match(text):
            return float(text)
        if _INF.match(text):
            return -math.inf if text.startswith("-") else math.inf
        if _NAN.match(text):
            return math.nan
    if tag == PLAIN:
        return text
    kind = tag.rsplit(":", 1)[-1]
    raise YamlProblem(f"{text!r} is not a valid !!{kind}", *position(node))


class Constructor:
    """Nodes -> plain data plus the span of every key and item."""

    def __init__(self, describe_key: Callable[[object], str]):
        self.spans: dict[KeyPath, Span] = {}
        self.describe_key = describe_key

    def construct(self, node: Any, path: KeyPath = ()) -> object:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                line, column = position(item)
                self.spans[(*path, index)] = Span(line, column, line, column)
                items.append(self.construct(item, (*path, index)))
            return items
        return scalar_value(node)

    def _pairs(self, node: Any) -> list[tuple[Any, Any]]:
        """Key/value node pairs with `<<` merges applied: explicit keys first, then merged ones they lack."""
        own: list[tuple[Any, Any]] = []
        merged: list[tuple[Any, Any]] = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag == PLAIN and key.value == "<<":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise YamlProblem("a merge key (<<) takes a mapping or a list of mappings", *position(source))
                    merged.extend(self._pairs(source))
            else:
                own.append((key, value))
        seen = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        for key, value in merged:
            if key.value not in seen:
                seen.add(key.value)
                own.append((key, value))
        return own

    def _mapping(self, node: Any, path: KeyPath) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in self._pairs(node):
            key_line, key_column = position(key_node)
            key = scalar_value(key_node) if isinstance(key_node, yaml.ScalarNode) else key_node
            if not isinstance(key, str):
                raise YamlProblem(
                    f"keys must be strings, not {self.describe_key(key)}",
                    key_line,
                    key_column,
                    path,
                    hint="quote the key",
                )
            if key in result:
                raise YamlProblem(f"duplicate key {key!r}", key_line, key_column, (*path, key))
            empty = isinstance(value_node, yaml.ScalarNode) and value_node.value == "" and value_node.tag == PLAIN
            value_line, value_column = (key_line, key_column) if empty else position(value_node)
            self.spans[(*path, key)] = Span(key_line, key_column, value_line, value_column)
            result[key] = self.construct(value_node, (*path, key))
        return result
