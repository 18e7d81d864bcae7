"""What an import produces besides the manifest: problems with their source lines, and the aliases it chose."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .sdk import Site

ERROR = "error"  # not imported: exit 1 unless --partial
NOTE = "note"  # imported, with something the user should know (a rename, a value pinned)

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
PYTHON_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Problem:
    site: Site | None
    message: str
    severity: str = ERROR

    def render(self, root: Path) -> str:
        where = "modalc import"
        if self.site is not None:
            try:
                shown = self.site.file.relative_to(root).as_posix()
            except ValueError:
                shown = str(self.site.file)
            where = f"{shown}:{self.site.line}"
        label = "not imported" if self.severity == ERROR else "note"
        return f"{where}: {label}: {self.message}"


class Aliases:
    """Unique, valid names for the entries of one manifest section."""

    def __init__(self, pattern: re.Pattern[str] = ALIAS):
        self.pattern = pattern
        self.taken: set[str] = set()

    def allocate(self, preferred: str, fallback: str) -> str:
        candidate = self.clean(preferred) or self.clean(fallback) or "x"
        alias, n = candidate, 2
        while alias in self.taken:
            alias, n = f"{candidate}-{n}" if self.pattern is ALIAS else f"{candidate}_{n}", n + 1
        self.taken.add(alias)
        return alias

    def clean(self, name: str) -> str:
        if self.pattern is PYTHON_NAME:
            text = re.sub(r"[^A-Za-z0-9_]", "_", name).lstrip("_0123456789")
        else:
            text = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip("_.-")
        text = text[:62]
        return text if text and self.pattern.match(text) else ""
