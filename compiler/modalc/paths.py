"""Where generated modules go. Light on purpose: the CLI's cache check needs it without the compiler."""

from __future__ import annotations

import errno
import os
from pathlib import Path

DEFAULT_OUT_DIR = "generated"


def module_stem(environment: str) -> str:
    """Output modules are named after their environment (a user package of that name would shadow them)."""
    return f"app_{environment}"


def resolve(path: Path) -> Path:
    """`path.resolve()`, with a symlink loop raised as the OSError it is (Python 3.11 raises RuntimeError)."""
    try:
        return path.resolve()
    except RuntimeError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None


def resolve_or_absolute(path: Path) -> Path:
    """`path` resolved where it can be; else (a symlink loop) made absolute, for a later check to report."""
    try:
        return resolve(path)
    except OSError:
        return Path(os.path.abspath(path))


def default_out_dir(manifest_path: Path) -> Path:
    return resolve_or_absolute(manifest_path).parent / DEFAULT_OUT_DIR


def output_path(out_dir: Path, environment: str) -> Path:
    return out_dir / f"{module_stem(environment)}.py"


def describe_os_error(error: OSError, relative_to: Path | None = None) -> str:
    """`path: reason` for an OSError, as the user would read it (the path relative to `relative_to` if inside)."""
    reason = error.strerror or str(error)
    if not error.filename:
        return reason
    shown = str(error.filename)
    if relative_to is not None and Path(shown).is_relative_to(relative_to):
        shown = Path(shown).relative_to(relative_to).as_posix()
    return f"{shown}: {reason}"
