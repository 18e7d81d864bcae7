"""Shared test helpers: run the CLI in-process, import generated modules, compare goldens."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CASES = REPO / "tests" / "cases"
REGENERATE = "make goldens   (or: python -m pytest tests -q --update-goldens)"


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], cwd: Path) -> CliResult:
    """Run `modalc ARGS` in-process in `cwd`, capturing output and the exit code."""
    from modalc.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(list(args))
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(previous)
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def manifest_of(directory: Path) -> Path:
    for name in ("app.toml", "app.yaml", "app.yml"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no manifest in {directory}")


def examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


@contextlib.contextmanager
def modal_environment(name: str) -> Iterator[None]:
    """Select a Modal environment the way `--env` does (the generated modules check it on import)."""
    previous = os.environ.get("MODAL_ENVIRONMENT")
    os.environ["MODAL_ENVIRONMENT"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MODAL_ENVIRONMENT", None)
        else:
            os.environ["MODAL_ENVIRONMENT"] = previous


def import_module_from(path: Path, modal_env: str, user_packages: Sequence[str] = ()) -> ModuleType:
    """Import a generated module by path with the real `modal`, forgetting any earlier user packages."""
    for name in list(sys.modules):
        if name.split(".")[0] in user_packages:
            del sys.modules[name]
    module_name = f"modalc_generated_{abs(hash((str(path), modal_env)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with modal_environment(modal_env):
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return module


def assert_golden(path: Path, actual: str, update: bool) -> None:
    """Compare with a committed golden file, or rewrite it under --update-goldens."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8") if path.exists() else None
    if expected != actual:
        import difflib

        diff = "".join(difflib.unified_diff(
            (expected or "").splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=f"{path.relative_to(REPO)} (committed)", tofile="(now)",
        ))
        raise AssertionError(
            f"golden mismatch: {path.relative_to(REPO)}\n{diff[:6000]}\nIf the change is intended, regenerate with:\n"
            f"    {REGENERATE}\nand read the diff before committing."
        )
