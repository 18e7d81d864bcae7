"""What a team meets in review: modules that depend only on what they compile to, merges without conflicts,
file modes kept, and two manifests that cannot overwrite each other's modules."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from helpers import EXAMPLES, run_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "inference_api"
    shutil.copytree(EXAMPLES / "inference_api", destination)
    return destination


def _modules(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "generated").glob("app_*.py"))}


def _edit(project: Path, old: str, new: str) -> None:
    manifest = project / "app.toml"
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new, 1))


def test_a_comment_only_edit_changes_no_module(project: Path) -> None:
    before = _modules(project)
    _edit(project, "[functions.api]", "# the public API\n[functions.api]")
    check = run_cli(["build", "--check"], cwd=project)
    assert check.exit_code == 0, check.stderr
    assert run_cli(["build"], cwd=project).exit_code == 0
    assert _modules(project) == before


def test_a_prod_only_change_leaves_the_dev_module_alone(project: Path) -> None:
    before = _modules(project)
    _edit(
        project,
        "functions.api = { min_containers = 1, max_containers = 10 }",
        "functions.api = { min_containers = 1, max_containers = 12 }",
    )
    assert run_cli(["build"], cwd=project).exit_code == 0
    after = _modules(project)
    assert after["app_dev.py"] == before["app_dev.py"]
    assert after["app_prod.py"] != before["app_prod.py"]


def _git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(["git", *args], cwd=project, env=environment, capture_output=True, text=True)


def test_two_branches_that_change_different_functions_merge_cleanly(project: Path) -> None:
    assert _git(project, "init", "-q", "-b", "main").returncode == 0
    _git(project, "add", "-A")
    assert _git(project, "commit", "-qm", "base").returncode == 0
    for branch, (old, new) in {
        "predict": ("scaledown_window = 120", "scaledown_window = 90"),
        "api": ("cpu = 1.0", "cpu = 2.0"),
    }.items():
        _git(project, "checkout", "-qb", branch, "main")
        _edit(project, old, new)
        assert run_cli(["build"], cwd=project).exit_code == 0
        _git(project, "commit", "-qam", branch)
    _git(project, "checkout", "-q", "predict")
    merged = _git(project, "merge", "-q", "--no-edit", "api")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    check = run_cli(["build", "--check"], cwd=project)
    assert check.exit_code == 0, check.stderr


def test_a_rebuild_keeps_the_module_mode_and_new_modules_follow_the_umask(project: Path) -> None:
    module = project / "generated" / "app_dev.py"
    module.chmod(0o644)
    _edit(project, "scaledown_window = 120", "scaledown_window = 90")
    previous = os.umask(0o022)
    try:
        assert run_cli(["build"], cwd=project).exit_code == 0
        assert stat.S_IMODE(module.stat().st_mode) == 0o644
        (project / "generated" / "app_prod.py").unlink()
        os.umask(0o027)
        assert run_cli(["build"], cwd=project).exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((project / "generated" / "app_prod.py").stat().st_mode) == 0o640


def test_two_manifests_in_one_folder_cannot_overwrite_each_other(tmp_path: Path) -> None:
    for name in ("first", "second"):
        (tmp_path / f"{name}.toml").write_text(
            f'version = 1\n[app]\nname = "{name}"\nimage = "base"\n'
            '[images.base]\nbase = "debian_slim"\npython = "3.12"\n'
            '[functions.work]\nhandler = "jobs:work"\n'
        )
    (tmp_path / "jobs.py").write_text("def work():\n    return 1\n")
    assert run_cli(["build", "first.toml"], cwd=tmp_path).exit_code == 0
    before = (tmp_path / "generated" / "app_default.py").read_bytes()
    result = run_cli(["build", "second.toml"], cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        "modalc: app_default.py in generated/ was generated from first.toml, not second.toml: two manifests in one "
        "directory would overwrite each other's modules; give this one its own --out DIR; nothing written\n"
    )
    assert (tmp_path / "generated" / "app_default.py").read_bytes() == before
    assert run_cli(["build", "second.toml", "--out", "generated_second"], cwd=tmp_path).exit_code == 0
