"""Diagnostics: every problem modalc reports about a manifest, as data.

A diagnostic names the file, the 1-based line and column, the key path inside the manifest and a message.
Stages collect diagnostics instead of raising, so a user sees every problem of a manifest at once.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .credentials import redact

KeyPath = tuple[str | int, ...]

ERROR = "error"
WARNING = "warning"
FILE_LEVEL = 0  # the line (and column) of a problem with the file as a whole: no position is shown

# Stable codes for diagnostics other stages act on (so nothing matches message text).
MISSING_KEY = "missing-key"  # validate: a required key is absent
CREDENTIAL = "credential"  # a credential-shaped literal

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key_path(path: Sequence[str | int]) -> str:
    """Render a key path the way a TOML user writes it: `functions.fn.gpu`, `steps[2]`, `volumes."/cache"`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE_KEY.match(part) else json.dumps(part, ensure_ascii=False)
        out += f".{text}" if out else text
    return out


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a manifest. Ordered by position so output is sorted and stable."""

    file: str
    line: int
    column: int
    message: str
    key_path: KeyPath = field(default=(), compare=False)
    severity: str = field(default=ERROR, compare=False)
    hint: str | None = field(default=None, compare=False)
    code: str = field(default="", compare=False)  # a stable name for the kind of problem, where one is needed
    stage: str = field(default="", compare=False)  # load, validate, overlay, normalize, credentials

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def render(self) -> str:
        # Values are redacted, never the file's path: CI runners and temporary directories have random-looking
        # names (/builds/aZ8kQ9zLm2xP7vB4nR6tW1/...), and editors and problem matchers must find the file.
        where = f"{self.file}:{self.line}:{self.column}" if self.line != FILE_LEVEL else self.file
        key = format_key_path(self.key_path)
        text = f"{self.severity}: "
        if key:
            text += f"{key}: "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return _one_line(f"{where}: ") + redact(_one_line(text))

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line if self.line != FILE_LEVEL else None,
            "column": self.column if self.line != FILE_LEVEL else None,
            "severity": self.severity,
            "key_path": redact(format_key_path(self.key_path)),
            "message": redact(self.message),
            "hint": self.hint,
            "code": self.code or None,
            "stage": self.stage or None,
        }


def _one_line(text: str) -> str:
    """Escape control characters: a value quoted in a message must not start a forged line of output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


_DIGITS = re.compile(r"(\d+)")


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by position and drop exact repeats (environments re-validate what the base already reported)."""
    seen: set[tuple[object, ...]] = set()
    unique = []
    for diag in diagnostics:
        key = (diag.file, diag.line, diag.column, diag.severity, diag.key_path, diag.message)
        if key not in seen:
            seen.add(key)
            unique.append(diag)
    return sorted(unique, key=lambda d: (d.file, d.line, d.column, format_key_path(d.key_path), _natural(d.message)))


def _natural(text: str) -> tuple[str | int, ...]:
    """`text` with its numbers compared as numbers: `models.py:3: ...` before `models.py:13: ...`."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(text)))


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    return "".join(d.render() + "\n" for d in diagnostics)


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    document = {
        "valid": errors == 0,
        "errors": errors,
        "warnings": len(diagnostics) - errors,
        "diagnostics": [d.to_json() for d in diagnostics],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt word, compared case-insensitively, or None."""
    by_folded: dict[str, str] = {}
    for choice in choices:
        by_folded.setdefault(choice.casefold(), choice)
    folded = word.casefold()
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'X'?` for the closest choice, or "": the one phrasing every message uses."""
    suggestion = did_you_mean(word, choices)
    return f"; did you mean {suggestion!r}?" if suggestion else ""


def quote_choices(choices: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in choices)


class ManifestError(Exception):
    """Raised by a stage that cannot go on; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        super().__init__(render_text(diagnostics))
        self.diagnostics = list(diagnostics)
