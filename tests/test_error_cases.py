"""Every bad manifest in tests/cases/ fails with its exact message and exit code, and writes nothing.

A case is a directory: the manifest (and any files it needs), an optional `args` file with the command line
(default: `build <manifest>`), and `expected.txt`: the exit code on the first line, then stderr.
The user code in tests/cases/_project/ is copied beside every case's manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import CASES, assert_golden, manifest_of, run_cli

CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def prepare(case: Path, destination: Path) -> Path:
    shutil.copytree(CASES / "_project", destination)
    shutil.copytree(case, destination, dirs_exist_ok=True)
    for name in ("expected.txt", "args"):
        (destination / name).unlink(missing_ok=True)
    return destination


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_error_case(case: Path, tmp_path: Path, update_goldens: bool) -> None:
    project = prepare(case, tmp_path / "project")
    args_file = case / "args"
    args = args_file.read_text().split() if args_file.exists() else ["build", manifest_of(project).name]
    before = _tree(project)
    result = run_cli(args, cwd=project)
    assert "Traceback" not in result.stderr
    assert result.exit_code != 0, "a broken manifest must fail"
    assert _tree(project) == before, "a failed build must write nothing"
    assert_golden(case / "expected.txt", f"exit: {result.exit_code}\n{result.stderr}", update_goldens)


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASE_DIRS) >= 20
