"""Where generated modules go. Light on purpose: the CLI's cache check needs it without the compiler."""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUT_DIR = "generated"


def module_stem(environment: str) -> str:
    """Output modules are named after their environment (a user package of that name would shadow them)."""
    return f"app_{environment}"


def default_out_dir(manifest_path: Path) -> Path:
    return manifest_path.resolve().parent / DEFAULT_OUT_DIR


def output_path(out_dir: Path, environment: str) -> Path:
    return out_dir / f"{module_stem(environment)}.py"
