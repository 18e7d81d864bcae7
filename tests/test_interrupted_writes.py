"""A build interrupted while it writes leaves the old modules or the new ones, never a mix, and no litter.

Each test runs `modalc build` in a child process that sends itself a real signal at a chosen moment: after
the first module is staged, or after the first one is replaced (the moment the rollback record used to miss).
SIGINT and SIGTERM wait for the replacements; SIGKILL cannot, so the journal lets the next build finish.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES, run_cli

DRIVER = """
import os, signal, sys
import modalc.write as write

signal_name, moment = sys.argv[1], sys.argv[2]
number = getattr(signal, signal_name)
real_replace, real_stage, seen = os.replace, write._stage, {"replace": 0, "stage": 0}

def replace(source, target):
    real_replace(source, target)
    if os.path.basename(str(target)).startswith("app_"):
        seen["replace"] += 1
        if moment == "after-first-replace" and seen["replace"] == 1:
            os.kill(os.getpid(), number)

def stage(path, text):
    staged = real_stage(path, text)
    seen["stage"] += 1
    if moment == "after-first-stage" and seen["stage"] == 1:
        os.kill(os.getpid(), number)
    return staged

os.replace = replace
write._stage = stage
from modalc.cli import main
main(["build"])
"""


@pytest.fixture
def whisper(tmp_path: Path) -> Path:
    project = tmp_path / "whisper"
    shutil.copytree(EXAMPLES / "whisper_service", project)
    manifest = project / "app.toml"
    manifest.write_text(manifest.read_text().replace("timeout = 600", "timeout = 900"))  # both modules change
    return project


def modules(project: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((project / "generated").glob("app_*.py"))}


def litter(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "generated").iterdir() if p.name.startswith("."))


def build_and_signal(project: Path, signal_name: str, moment: str) -> int:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, signal_name, moment], cwd=project, env=environment, capture_output=True
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    return done.returncode


def new_modules(project: Path) -> dict[str, str]:
    from modalc.pipeline import compile_manifest

    result = compile_manifest(project / "app.toml")
    return {p.name: text for p, text in sorted(result.outputs.items())}


@pytest.mark.parametrize(("signal_name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupt_after_the_first_replace_waits_for_the_whole_set(
    whisper: Path, signal_name: str, code: int
) -> None:
    assert build_and_signal(whisper, signal_name, "after-first-replace") == code
    assert modules(whisper) == new_modules(whisper), "all new: the interrupt waited for the last replacement"
    assert litter(whisper) == []


@pytest.mark.parametrize(("signal_name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupt_while_staging_leaves_the_old_set_and_no_temporary_files(
    whisper: Path, signal_name: str, code: int
) -> None:
    before = modules(whisper)
    assert build_and_signal(whisper, signal_name, "after-first-stage") == code
    assert modules(whisper) == before
    assert litter(whisper) == []


def test_sigkill_after_the_first_replace_is_finished_by_the_next_build(whisper: Path) -> None:
    before = modules(whisper)
    assert build_and_signal(whisper, "SIGKILL", "after-first-replace") == -signal.SIGKILL
    mixed = modules(whisper)
    assert mixed != before and mixed != new_modules(whisper), "the kill left a mix (what the journal is for)"
    assert ".modalc-journal.json" in litter(whisper)

    check = run_cli(["build", "--check"], cwd=whisper)
    assert check.exit_code == 1
    assert "was killed while it replaced the modules in generated/; run `modalc build` to finish it" in check.stderr
    deploy = run_cli(["deploy", "--env", "dev"], cwd=whisper)
    assert deploy.exit_code == 1 and "was killed while it replaced the modules" in deploy.stderr

    rebuilt = run_cli(["build"], cwd=whisper)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert "finished its write, then built" in rebuilt.stderr
    assert modules(whisper) == new_modules(whisper)
    assert litter(whisper) == []
    assert run_cli(["build", "--check"], cwd=whisper).exit_code == 0


def test_sigkill_while_staging_leaves_a_temporary_file_the_next_build_removes(whisper: Path) -> None:
    before = modules(whisper)
    assert build_and_signal(whisper, "SIGKILL", "after-first-stage") == -signal.SIGKILL
    assert modules(whisper) == before
    (left,) = litter(whisper)
    assert left.startswith(".app_") and left.endswith(".modalc-tmp")
    assert run_cli(["build"], cwd=whisper).exit_code == 0
    assert litter(whisper) == [] and modules(whisper) == new_modules(whisper)


def test_temporary_files_of_a_live_process_are_kept(tmp_path: Path) -> None:
    from modalc.atomic import remove_stale, stage

    live = stage(tmp_path / "app_dev.py", b"x")  # this process: alive
    dead = tmp_path / ".app_prod.py.999999999.abcdefgh.modalc-tmp"  # no such process
    dead.write_text("x")
    old_style = tmp_path / ".app_x.py.abcdefgh.modalc-tmp"  # an older modalc's name, without a process id
    old_style.write_text("x")
    os.utime(old_style, (1, 1))
    assert sorted(p.name for p in remove_stale(tmp_path)) == sorted([dead.name, old_style.name])
    assert live.exists()


def test_an_unchanged_module_is_held_once(tmp_path: Path) -> None:
    from modalc.write import plan_changes

    header = "# Generated by modalc from app.toml for environment dev.\n"
    (tmp_path / "app_dev.py").write_text(header + "same\n")
    (tmp_path / "app_prod.py").write_text(header.replace("dev", "prod") + "before\n")
    outputs = {tmp_path / "app_dev.py": header + "same\n", tmp_path / "app_prod.py": header + "after\n"}
    same, changed = plan_changes(outputs, tmp_path, "app.toml")
    assert same.old is same.new and not same.changed  # the text read from disk is not kept (10,000 handlers: 6 MB)
    assert changed.old is not None and changed.old.endswith("before\n") and changed.changed  # kept for a rollback
