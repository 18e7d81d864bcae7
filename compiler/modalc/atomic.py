"""Atomic file writes: a temporary file beside the target, synced, then renamed over it.

One implementation for every file modalc writes (generated modules, cache records, the control plane's
state). The temporary file gets the mode the target would get from a plain `open()`: the target's own mode
if it exists, else 0666 minus the umask. `mkstemp` alone would leave 0600, so a rebuild would quietly make
a committed 0644 module private.

A temporary file's name carries the id of the process that made it (`.app_dev.py.<pid>.<random>.modalc-tmp`),
so what a killed process left behind (SIGKILL runs no cleanup) is recognised and removed by the next write to
that directory (`remove_stale`), while a concurrent process's files are left alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
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


def stage(target: Path, data: bytes | Sequence[bytes]) -> Path:
    """Write `data` (bytes, or parts to join) to a new temporary file beside `target` (same directory, so the
    rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.writelines([data] if isinstance(data, bytes) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _mode_for(target))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_atomic(target: Path, data: bytes | Sequence[bytes]) -> None:
    """Replace `target` with `data` in one step: readers see the old file or the new one, never a mix."""
    temporary = stage(target, data)
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# A temporary file without a process id in its name (written by an older modalc) is stale after this long.
_UNOWNED_STALE_SECONDS = 600


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _owner(path: Path) -> int | None:
    """The process id in a temporary file's name (`.<target>.<pid>.<random>.modalc-tmp`), None if it has none."""
    parts = path.name[: -len(TEMPORARY_SUFFIX)].rsplit(".", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def remove_stale(directory: Path, *, own: bool = False) -> list[Path]:
    """Remove the temporary files in `directory` whose process is gone (with `own`, this process's too: an
    interrupt can land between a file being staged and its caller recording it); the paths removed."""
    import time

    removed: list[Path] = []
    try:
        candidates = [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(TEMPORARY_SUFFIX)]
    except OSError:
        return removed
    for path in candidates:
        owner = _owner(path)
        try:
            if owner is None:
                stale = time.time() - path.lstat().st_mtime > _UNOWNED_STALE_SECONDS
            else:
                stale = (own and owner == os.getpid()) or not process_alive(owner)
            if stale:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed
