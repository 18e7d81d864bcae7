"""`modalc plan` as a diff against what is deployed: the baseline is found through the deployment's modalc
tags and the git history of the generated module, then both modules are planned offline and compared."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_deploy import control_plane, project_state

from helpers import EXAMPLES, run_cli


def _git(project: Path, *args: str) -> None:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", *args], cwd=project, env=environment, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "inference_api"
    shutil.copytree(EXAMPLES / "inference_api", destination)
    _git(destination, "init", "-q", "-b", "main")
    _git(destination, "add", "-A")
    _git(destination, "commit", "-qm", "first")
    return destination


def _plan(project: Path, *extra: str) -> tuple[int, dict]:
    result = run_cli(["plan", "--env", "dev", "--json", "--detailed-exitcode", *extra], cwd=project)
    assert result.exit_code in (0, 2), result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_plan_after_a_deploy_shows_no_changes_then_each_change(project: Path) -> None:
    state = project_state(project, "dev")
    with control_plane(state):
        assert run_cli(["deploy", "--env", "dev"], cwd=project).exit_code == 0
        code, unchanged = _plan(project)
        assert (code, unchanged["changes"]) == (0, [])
        assert unchanged["baseline"] == {"description": "the deployment in Modal environment 'dev'", "known": True}

        manifest = project / "app.toml"
        manifest.write_text(
            manifest.read_text().replace(
                "functions.api = { max_containers = 2 }", "functions.api = { max_containers = 3 }"
            )
        )
        assert run_cli(["build", "--env", "dev"], cwd=project).exit_code == 0
        code, changed = _plan(project)
        assert code == 2
        assert changed["changes"] == [
            {
                "action": "update",
                "kind": "function",
                "name": "api",
                "fields": {"autoscaling.max_containers": {"old": 2, "new": 3}},
            }
        ]
        assert changed["baseline"]["description"].startswith(
            "the deployment in Modal environment 'dev' (module of commit "
        )
        text = run_cli(["plan", "--env", "dev"], cwd=project).stdout
        assert "Changes against the deployment in Modal environment 'dev'" in text
        assert "  ~ function api\n      autoscaling.max_containers: 2 -> 3\n" in text
        assert "0 to create, 1 to update, 0 to delete" in text
        assert "(local placeholder)" in text


def test_a_code_only_change_is_a_change_of_the_shipped_files(project: Path) -> None:
    state = project_state(project, "dev")
    with control_plane(state):
        assert run_cli(["deploy", "--env", "dev"], cwd=project).exit_code == 0
        handler = project / "inference" / "endpoints.py"
        handler.write_text(handler.read_text() + "\n\ndef helper():\n    return 1\n")
        code, plan = _plan(project)
    assert code == 2
    (change,) = plan["changes"]
    assert (change["action"], change["kind"]) == ("update", "files")
    assert change["fields"]["deploy_digest"]["new"] == plan["deploy_digest"]


def test_plan_against_a_git_ref(project: Path) -> None:
    manifest = project / "app.toml"
    manifest.write_text(manifest.read_text().replace("scaledown_window = 120", "scaledown_window = 60"))
    assert run_cli(["build"], cwd=project).exit_code == 0
    code, plan = _plan(project, "--base", "HEAD")
    assert code == 2
    assert plan["baseline"] == {"description": "generated/app_dev.py at HEAD", "known": True}
    assert plan["changes"] == [
        {
            "action": "update",
            "kind": "function",
            "name": "predict",
            "fields": {"autoscaling.scaledown_window": {"old": 120, "new": 60}},
        }
    ]
    code, plan = _plan(project, "--base", "HEAD", "--offline")
    assert plan["changes"]  # --base wins over --offline: the ref is local


def test_without_credentials_everything_is_new_and_the_plan_says_why(project: Path) -> None:
    code, plan = _plan(project)
    assert code == 2
    assert plan["baseline"] == {
        "description": "what is deployed in Modal environment 'dev', unknown without Modal credentials",
        "known": False,
    }
    assert {(c["action"], c["kind"], c["name"]) for c in plan["changes"]} == {
        ("create", "function", "api"),
        ("create", "function", "predict"),
        ("create", "image", "serve"),
    }
