"""Atomic file writes: a temporary file beside the target, synced, then renamed over it.

One implementation for every file modalc writes (generated modules, cache records, the control plane's
state). The temporary file gets the mode the target would get from a plain `open()`: the target's own mode
if it exists, else 0666 minus the umask. `mkstemp` alone would leave 0600, so a rebuild would quietly make
a committed 0644 module private.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMPORARY_SUFFIX = ".modalc-tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def stage(target: Path, data: bytes) -> Path:
    """Write `data` to a new temporary file beside `target` (same directory, so the rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _mode_for(target))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_atomic(target: Path, data: bytes) -> None:
    """Replace `target` with `data` in one step: readers see the old file or the new one, never a mix."""
    temporary = stage(target, data)
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
