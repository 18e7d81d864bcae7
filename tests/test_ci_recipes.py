"""docs/ci.md's recipes, run: every command of the GitHub Actions workflow and of the GitLab CI pipeline in
docs/ci/, on a project `modalc init` made, for a push to main (deploy dev, then prod) and then for a pull request
that changes prod (the plan is posted, and shows the change against what was deployed); a broken manifest
becomes GitHub annotations (through the problem matcher's own regexps) and GitLab Code Quality issues. docs/ci.md
shows the recipes' files verbatim, and its shell commands run here too (see tests/ci_runner.py for what is
real and what is a stand-in).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ci_runner import GitHubActions, GitLabCI, Runner

from helpers import REPO, run_cli
from modalc.control_plane import ControlPlaneState, serve
from modalc.init import pre_commit_config

RECIPES = REPO / "docs" / "ci"
CI_DOC = REPO / "docs" / "ci.md"
GITHUB = RECIPES / "github"
GITLAB = RECIPES / "gitlab"
TOKEN = {"id": "ak-deployer", "secret": "as-deployer"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def git(project: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com", *arguments],
        cwd=project,
        check=True,
        capture_output=True,
    )


def new_project(tmp_path: Path, recipe: Path) -> Path:
    """`modalc init` of the api starter, the recipe's files copied in, all committed on main."""
    project = tmp_path / "sentiment"
    result = run_cli(["init", str(project), "--example", "api"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    shutil.copytree(recipe, project, dirs_exist_ok=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "modalc init")
    return project


def change_prod(project: Path) -> None:
    """A pull request: prod's word_stats scales to 20 containers; generated/ is rebuilt and committed."""
    manifest = project / "app.toml"
    text = manifest.read_text()
    assert "functions.word_stats = { min_containers = 1, max_containers = 10" in text
    manifest.write_text(
        text.replace(
            "word_stats = { min_containers = 1, max_containers = 10",
            "word_stats = { min_containers = 1, max_containers = 20",
        )
    )
    assert run_cli(["build"], cwd=project).exit_code == 0
    git(project, "checkout", "-q", "-b", "scale-up")
    git(project, "commit", "-q", "-am", "prod: word_stats up to 20 containers")


def break_manifest(project: Path) -> None:
    manifest = project / "app.toml"
    manifest.write_text(manifest.read_text().replace("cpu = 0.25\n", 'cpu = 0.25\ngpuu = "T4"\n', 1))


@contextlib.contextmanager
def modal_account() -> Iterator[tuple[ControlPlaneState, str]]:
    """What the deploy jobs reach: a Modal workspace with a dev and a prod environment (the local fake), and its
    URL. Only its own token is accepted."""
    state = ControlPlaneState()
    state.add_environment("dev")
    state.add_environment("prod")
    state.add_token(TOKEN["id"], TOKEN["secret"])
    with serve(state) as handle:
        yield state, handle.url


def assert_plan_posted(body: str, plan_json: Path) -> None:
    assert body.startswith("### `modalc plan --env prod`\n```\nPlan: deploy sentiment to Modal environment 'prod'")
    changes = "Changes against the deployment in Modal environment 'prod' (module of commit "
    assert changes in body and "      autoscaling.max_containers: 10 -> 20\n" in body
    plan = json.loads(plan_json.read_text())
    assert [c["name"] for c in plan["changes"]] == ["word_stats"]
    assert json.dumps(plan, indent=2, sort_keys=True) in body  # the JSON, verbatim, in a <details> block


def matcher_annotations(matcher: dict[str, Any], log: str) -> list[dict[str, str]]:
    """What GitHub would annotate: each line of the log through each pattern, as actions/toolkit applies them."""
    annotations = []
    for line in log.splitlines():
        for entry in matcher["problemMatcher"]:
            (pattern,) = entry["pattern"]
            match = re.search(pattern["regexp"], line)
            if match:
                fields = ("file", "line", "column", "severity", "message")
                annotations.append({f: match.group(pattern[f]) for f in fields if f in pattern})
    return annotations


# --- GitHub Actions -----------------------------------------------------------------------------------------


def github(project: Path, tmp_path: Path, *, secrets: bool = True) -> GitHubActions:
    contexts = {
        "secrets.MODAL_TOKEN_ID": TOKEN["id"] if secrets else "",  # a fork's pull request gets no secrets
        "secrets.MODAL_TOKEN_SECRET": TOKEN["secret"] if secrets else "",
        "github.token": "ghs_stand-in",
        "github.event.pull_request.number": "42",
    }
    return GitHubActions(project, tmp_path / "runner", project / ".github" / "workflows" / "modalc.yml", contexts)


def test_github_workflow_deploys_main_and_plans_a_pull_request(tmp_path: Path) -> None:
    project = new_project(tmp_path, GITHUB)
    with modal_account() as (account, url):
        runner = github(project, tmp_path)
        push = runner.run("push", CONTROL_PLANE_PORT=str(free_port()), MODAL_SERVER_URL=url)
        assert list(push) == ["check", "test", "deploy-dev", "deploy-prod"]
        for job in push.values():
            assert job.ok, job.output()
        deployed = [(d["app"], d["environment"], d["deployment_tag"]) for d in account.deployments]
        assert deployed == [("sentiment", "dev", "0123456789ab"), ("sentiment", "prod", "0123456789ab")]
        assert "sentiment: deployed to Modal environment 'prod'" in push["deploy-prod"].output()
        # the test job's own control plane: an offline deploy of both environments, then its check
        assert "sentiment: deployed to Modal environment 'dev'" in push["test"].output()

        change_prod(project)
        pull_request = runner.run("pull_request", only=["check", "plan"], MODAL_SERVER_URL=url)
        assert list(pull_request) == ["check", "plan"]
        for job in pull_request.values():
            assert job.ok, job.output()
    arguments, body = runner.posted("gh")
    assert arguments == ["pr", "comment", "42", "--body-file", "plan.md"]
    assert_plan_posted(body, project / "plan.json")
    assert (tmp_path / "runner" / "plan.summary.md").read_text() == body


def test_github_plan_without_secrets_still_posts_a_plan(tmp_path: Path) -> None:
    project = new_project(tmp_path, GITHUB)
    (plan,) = github(project, tmp_path, secrets=False).run("pull_request", only=["plan"]).values()
    assert plan.ok, plan.output()
    body = (tmp_path / "runner" / "posted" / "gh.body").read_text()
    assert "Changes against what is deployed in Modal environment 'prod', unknown without Modal credentials:" in body


def test_github_problem_matcher_annotates_modalc_output(tmp_path: Path) -> None:
    project = new_project(tmp_path, GITHUB)
    break_manifest(project)
    runner = github(project, tmp_path)
    (check,) = runner.run("pull_request", only=["check"]).values()
    assert not check.ok
    names = [step.name for step in check.steps]
    assert names == ["Install", "Validate (each problem becomes an annotation on its line)", "Validation report (JSON)"]
    report = json.loads((project / "modalc-validate.json").read_text())
    matcher = json.loads((project / ".github" / "modalc-matcher.json").read_text())
    annotations = matcher_annotations(matcher, check.steps[1].output)
    expected = [
        {
            "file": d["file"],
            "line": str(d["line"]),
            "column": str(d["column"]),
            "severity": d["severity"],
            "message": f"{d['key_path']}: {d['message']}",
        }
        for d in report["diagnostics"]
    ]
    assert annotations == expected and len(expected) == 1
    assert annotations[0]["message"] == "functions.greet.gpuu: unknown key 'gpuu'; did you mean 'gpu'?"


def test_github_file_level_problems_are_annotated_on_the_file(tmp_path: Path) -> None:
    (tmp_path / "app.toml").write_text("version = [\n")
    result = run_cli(["validate", "app.toml"], cwd=tmp_path)
    matcher = json.loads((GITHUB / ".github" / "modalc-matcher.json").read_text())
    annotations = matcher_annotations(matcher, result.stderr)
    assert len(annotations) == 1 and annotations[0]["file"] == "app.toml", result.stderr
    assert not matcher_annotations(matcher, "modalc: 1 error\napp.toml: valid (dev, prod)\n")


# --- GitLab CI ----------------------------------------------------------------------------------------------


def test_gitlab_pipeline_deploys_main_and_plans_a_merge_request(tmp_path: Path) -> None:
    project = new_project(tmp_path, GITLAB)
    with modal_account() as (account, url):
        variables = {  # the project's CI/CD variables, and the runner's way to the local control plane
            "MODAL_TOKEN_ID": TOKEN["id"],
            "MODAL_TOKEN_SECRET": TOKEN["secret"],
            "MODALC_NOTES_TOKEN": "glpat-stand-in",
            "MODAL_SERVER_URL": url,
            "CONTROL_PLANE_PORT": str(free_port()),  # the test job's own control plane, on a free port here
        }
        runner = GitLabCI(project, tmp_path / "runner", project / ".gitlab-ci.yml", variables)
        push = runner.run("push")
        assert list(push) == ["validate", "test", "deploy-dev", "deploy-prod"]
        for job in push.values():
            assert job.ok, job.output()
        deployed = [(d["app"], d["environment"], d["deployment_tag"]) for d in account.deployments]
        assert deployed == [("sentiment", "dev", "01234567"), ("sentiment", "prod", "01234567")]
        assert json.loads((project / "gl-code-quality-report.json").read_text()) == []

        change_prod(project)
        merge_request = runner.run("merge_request", only=["validate", "plan"])
        assert list(merge_request) == ["validate", "plan"]
        for job in merge_request.values():
            assert job.ok, job.output()
    arguments, body = runner.posted("curl")
    assert arguments[-1] == "https://gitlab.example.com/api/v4/projects/1234/merge_requests/7/notes"
    assert "PRIVATE-TOKEN: glpat-stand-in" in arguments and "body@plan.md" in arguments
    assert_plan_posted(body, project / "plan.json")


def test_gitlab_code_quality_report_of_a_broken_manifest(tmp_path: Path) -> None:
    project = new_project(tmp_path, GITLAB)
    break_manifest(project)
    runner = GitLabCI(project, tmp_path / "runner", project / ".gitlab-ci.yml", {})
    (validate,) = runner.run("merge_request", only=["validate"]).values()
    assert not validate.ok
    assert "app.toml:19:1: error: functions.greet.gpuu: unknown key 'gpuu'" in validate.output()
    (issue,) = json.loads((project / "gl-code-quality-report.json").read_text())
    assert issue["location"] == {"path": "app.toml", "lines": {"begin": 19}}
    assert issue["severity"] == "major" and issue["description"].startswith("functions.greet.gpuu: unknown key")
    assert len(issue["fingerprint"]) == 64


# --- docs/ci.md -----------------------------------------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced code block of a Markdown text: (info string, content)."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```([^\n`]*)\n(.*?)^```$", text, re.M | re.S)]


def test_ci_doc_shows_the_recipe_files_verbatim() -> None:
    shown = {
        info.split("title=")[1]: content for info, content in fenced_blocks(CI_DOC.read_text()) if "title=" in info
    }
    recipes = {
        f"{recipe.name}/{path.relative_to(recipe)}": path.read_text()
        for recipe in (GITHUB, GITLAB)
        for path in sorted(recipe.rglob("*"))
        if path.is_file()
    }
    assert {k: v for k, v in shown.items() if k in recipes} == recipes
    assert shown[".pre-commit-config.yaml"] == pre_commit_config()  # what `modalc init` writes
    ControlPlaneState.from_json(shown["cp-state.json"])  # a state file the control plane loads
    assert set(shown) == {*recipes, ".pre-commit-config.yaml", "cp-state.json"}


def test_ci_doc_shell_commands_run(tmp_path: Path) -> None:
    """The doc's `sh` blocks, each in bash -e -o pipefail, beside a TOML and a YAML manifest `modalc init` wrote."""
    blocks = [content for info, content in fenced_blocks(CI_DOC.read_text()) if info == "sh"]
    assert blocks
    project = tmp_path / "project"
    assert run_cli(["init", str(project)], cwd=tmp_path).exit_code == 0
    assert run_cli(["init", str(tmp_path / "yaml"), "--format", "yaml"], cwd=tmp_path).exit_code == 0
    shutil.copy(tmp_path / "yaml" / "app.yaml", project / "app.yaml")
    runner = Runner(project, tmp_path / "runner")
    for block in blocks:
        code, output = runner.bash(block, runner.base_environment(), ["-e", "-o", "pipefail"])
        assert code == 0, f"{block}\n---\n{output}"
