"""Format stage: make sure a module is black-formatted, without paying for black when it already is.

Render emits the layouts black keeps as they are (exploded brackets with magic trailing commas, lines that
fit), so black would leave the module unchanged; the tests assert exactly that for every golden file and for
generated manifests. Only a line render cannot vouch for (a long line that is not a lone string) sends the
module through black, with a Mode pinned here, never read from the user's configuration.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from .pyliteral import LINE_LENGTH

TARGET_VERSION = "PY311"

_STRING = r'(?:"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')'
# A line black cannot shorten: a comment, or one string, optionally after `name=` or `"key": `.
_UNSPLITTABLE = re.compile(rf"^\s*(?:#.*|(?:[A-Za-z_][A-Za-z0-9_]*=|{_STRING}: )?{_STRING},?)$")


@cache
def black_mode() -> Any:
    from black.mode import Mode, TargetVersion

    return Mode(
        target_versions={getattr(TargetVersion, TARGET_VERSION)},
        line_length=LINE_LENGTH,
        string_normalization=True,
        magic_trailing_comma=True,
        preview=False,
    )


def _width(line: str) -> int:
    if line.isascii():
        return len(line)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)


def needs_black(source: str) -> bool:
    """True when some line is too long and black might split it."""
    return any(_width(line) > LINE_LENGTH and not _UNSPLITTABLE.match(line) for line in source.splitlines())


def format_module(source: str) -> str:
    if not needs_black(source):
        return source
    import black

    return black.format_str(source, mode=black_mode())


def black_formatted(source: str) -> str:
    """What black makes of a module (for tests and `make lint`)."""
    import black

    return black.format_str(source, mode=black_mode())
