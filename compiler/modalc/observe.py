"""What a compile looked at, as it was when it looked: the build cache's proof that an input has not changed.

Two kinds of input. A path whose existence and kind the compile checked (a source directory, a local file,
the candidates for a handler module) is recorded before it is checked: `ObservedPaths.add` stats it, and every
stage adds a path before looking at it. A file whose content the compile reads (a handler module) is read
through `read_bytes`, which stats the open file before reading it and hashes exactly the bytes read. A stat
taken after the compile would record an edit made during the build as if it had been compiled.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

# kind ("file", "dir", "other"), size, mtime_ns, ctime_ns, inode, device. ctime cannot be set by the user, so an
# edit that restores the modification time still changes it.
Stat = tuple[str, int, int, int, int, int]


class Observation(NamedTuple):
    stat: Stat | None  # None: the path did not exist
    at_ns: int  # when it was observed (wall clock, as file timestamps are)
    sha256: str | None = None  # for content the compile read: the hash of exactly those bytes


def _kind(mode: int) -> str:
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def stat_tuple(info: os.stat_result) -> Stat:
    return (_kind(info.st_mode), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def stat_of(path: Path | str) -> Stat | None:
    try:
        return stat_tuple(os.stat(path))
    except (OSError, ValueError):
        return None


class ObservedPaths(set[Path]):
    """A set of paths that remembers how each one was when it was first added (callers add, then check)."""

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        super().__init__()
        self.seen: dict[Path, Observation] = {}
        self.update(paths)

    def add(self, path: Path) -> None:
        if path not in self.seen:
            self.seen[path] = Observation(stat_of(path), time.time_ns())
        super().add(path)

    def update(self, *groups: Iterable[Path]) -> None:
        for group in groups:
            for path in group:
                self.add(path)


def read_bytes(path: Path, into: dict[Path, Observation]) -> bytes:
    """The file's bytes, recording its stat (taken on the open file, before reading) and their hash."""
    with open(path, "rb") as handle:
        before = stat_tuple(os.fstat(handle.fileno()))
        at = time.time_ns()
        data = handle.read()
    into.setdefault(path, Observation(before, at, hashlib.sha256(data).hexdigest()))
    return data


def merge(*groups: dict[Path, Observation]) -> dict[Path, Observation]:
    """One observation per path: the content observation where there is one, else the earliest look."""
    merged: dict[Path, Observation] = {}
    for group in groups:
        for path, observation in group.items():
            known = merged.get(path)
            if known is None or (observation.sha256 is not None and known.sha256 is None):
                merged[path] = observation
    return merged
