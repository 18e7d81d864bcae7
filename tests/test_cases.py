"""Every case directory in tests/cases/ is an end-to-end test, sqlc-style.

A failure case holds a manifest (and any files it needs), an optional `args` file with the command line
(default: `build <manifest>`), and `expected.txt`: the exit code on the first line, then stderr. It must fail
with exactly that, writing nothing.

A success case holds a manifest and its code, and `expected/`: the generated modules (`app_<env>.py`) and the
offline plan of each environment (`plan-<env>.json`, as `modalc plan --env ENV --json --offline` prints it).
The user code in tests/cases/_project/ is copied beside every case's manifest.
Regenerate every expectation with `make goldens` and read the diff before committing it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import CASES, assert_golden, manifest_of, run_cli

CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))
FAILURES = [p for p in CASE_DIRS if not (p / "expected").is_dir()]
SUCCESSES = [p for p in CASE_DIRS if (p / "expected").is_dir()]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def prepare(case: Path, destination: Path) -> Path:
    shutil.copytree(CASES / "_project", destination)
    shutil.copytree(case, destination, dirs_exist_ok=True)
    for name in ("expected.txt", "args"):
        (destination / name).unlink(missing_ok=True)
    shutil.rmtree(destination / "expected", ignore_errors=True)
    return destination


def _arguments(case: Path, project: Path) -> list[str]:
    args_file = case / "args"
    return args_file.read_text().split() if args_file.exists() else ["build", manifest_of(project).name]


@pytest.mark.parametrize("case", FAILURES, ids=lambda p: p.name)
def test_error_case(case: Path, tmp_path: Path, update_goldens: bool) -> None:
    project = prepare(case, tmp_path / "project")
    before = _tree(project)
    result = run_cli(_arguments(case, project), cwd=project)
    assert "Traceback" not in result.stderr
    assert result.exit_code != 0, "a broken manifest must fail"
    assert _tree(project) == before, "a failed build must write nothing"
    assert_golden(case / "expected.txt", f"exit: {result.exit_code}\n{result.stderr}", update_goldens)


@pytest.mark.parametrize("case", SUCCESSES, ids=lambda p: p.name)
def test_success_case(case: Path, tmp_path: Path, update_goldens: bool) -> None:
    project = prepare(case, tmp_path / "project")
    built = run_cli(_arguments(case, project), cwd=project)
    assert built.exit_code == 0, built.stderr
    modules = sorted((project / "generated").glob("app_*.py"))
    assert modules, "a success case generates modules"
    expected = case / "expected"
    if update_goldens:
        for stale in expected.glob("*"):
            stale.unlink()
    else:
        wanted = sorted(p.name for p in expected.glob("app_*.py"))
        assert [m.name for m in modules] == wanted, "generated modules differ from expected/"
    for module in modules:
        assert_golden(expected / module.name, module.read_text(encoding="utf-8"), update_goldens)
        environment = module.stem.removeprefix("app_")
        command = ["plan", "--json", "--offline"] + (["--env", environment] if environment != "default" else [])
        planned = run_cli(command, cwd=project)
        assert planned.exit_code == 0, planned.stderr
        assert_golden(expected / f"plan-{environment}.json", planned.stdout, update_goldens)


def test_there_are_at_least_twenty_failure_cases() -> None:
    assert len(FAILURES) >= 20
