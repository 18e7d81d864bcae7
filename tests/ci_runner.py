"""Run docs/ci's GitHub Actions workflow and GitLab CI pipeline on this machine, command for command.

Each `run:` step (GitHub) and each job's `script:` (GitLab) runs in bash exactly as written, in the project's
directory, in an environment made like the runner's: the CI system's own variables, the file's `env:` and
`variables:`, and `${{ ... }}` expressions replaced from a table the test gives (an expression the table lacks
fails the test, so a recipe cannot use one that nothing checks). What is not a command is checked for what it
is: a `uses:` step must be one of the actions below, `if:` and `rules:` conditions must be ones the test knows.
Three things are not real: `gh` and `curl` are stubs that record what they were asked to post, pip has no
index (every requirement is already installed, so an install is a check), and deploy jobs reach the local
control plane through MODAL_SERVER_URL, the one variable a runner adds for them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
KNOWN_ACTIONS = {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"}
STUB = """#!/bin/sh
# A stand-in for {name}: records its arguments, and the file it would post.
printf '%s\\n' "$@" > "{log}/{name}.args"
previous=""
for argument in "$@"; do
  case "$previous" in
    --body-file) cp "$argument" "{log}/{name}.body" ;;
    --data-urlencode) case "$argument" in body@*) cp "${{argument#body@}}" "{log}/{name}.body" ;; esac ;;
  esac
  previous="$argument"
done
"""


@dataclass
class Step:
    job: str
    name: str
    command: str
    returncode: int
    output: str


@dataclass
class JobResult:
    name: str
    ok: bool
    steps: list[Step] = field(default_factory=list)

    def output(self) -> str:
        return "".join(step.output for step in self.steps)


def substitute(text: str, context: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in context:
            raise AssertionError(f"the recipe uses ${{{{ {expression} }}}}, which this test does not know")
        return context[expression]

    return EXPRESSION.sub(value, text)


class Runner:
    """What both CI systems share: a clean environment, stubs, and the processes steps leave behind."""

    def __init__(self, project: Path, scratch: Path) -> None:
        self.project = project
        self.scratch = scratch
        self.stubs = scratch / "stubs"
        self.stub_log = scratch / "posted"
        self.stubs.mkdir(parents=True, exist_ok=True)
        self.stub_log.mkdir(exist_ok=True)
        for name in ("gh", "curl"):
            stub = self.stubs / name
            stub.write_text(STUB.format(name=name, log=self.stub_log))
            stub.chmod(0o755)
        (scratch / "home").mkdir(exist_ok=True)
        self.groups: list[int] = []

    def base_environment(self) -> dict[str, str]:
        return {
            "PATH": os.pathsep.join([str(self.stubs), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": str(self.scratch / "home"),
            "LANG": "C.UTF-8",
            "CI": "true",
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "MODALC_CACHE_DIR": str(self.scratch / "modalc-cache"),
            "COLUMNS": "200",
        }

    def bash(self, script: str, environment: Mapping[str, str], options: list[str]) -> tuple[int, str]:
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", *options, "-c", script],
            cwd=self.project,
            env=dict(environment),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # what it starts in the background is ended with the job
        )
        self.groups.append(process.pid)
        output, _ = process.communicate(timeout=300)
        return process.returncode, output

    def end_background_processes(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
        self.groups.clear()

    def posted(self, name: str) -> tuple[list[str], str]:
        """What the `gh` or `curl` stub was asked to do: its arguments and the body it would have posted."""
        arguments = (self.stub_log / f"{name}.args").read_text().splitlines()
        return arguments, (self.stub_log / f"{name}.body").read_text()


class GitHubActions(Runner):
    """Runs the jobs of a workflow file for one event (`push` to main, or `pull_request`)."""

    CONDITIONS = {
        "github.event_name == 'pull_request'": {"pull_request"},
        "github.event_name == 'push' && github.ref == 'refs/heads/main'": {"push"},
    }

    def __init__(self, project: Path, scratch: Path, workflow: Path, contexts: Mapping[str, str]) -> None:
        super().__init__(project, scratch)
        self.workflow = yaml.safe_load(workflow.read_text())
        self.contexts = contexts

    def jobs_for(self, event: str) -> list[str]:
        names = []
        for name, job in self.workflow["jobs"].items():
            condition = job.get("if")
            if condition is not None and condition not in self.CONDITIONS:
                raise AssertionError(f"job {name}: the test does not know the condition {condition!r}")
            if condition is None or event in self.CONDITIONS[condition]:
                names.append(name)
        return names

    def run(self, event: str, only: list[str] | None = None, **extra: str) -> dict[str, JobResult]:
        """Every job of the event in file order (which is `needs:` order); `only` limits them."""
        results: dict[str, JobResult] = {}
        for name in self.jobs_for(event):
            if only is not None and name not in only:
                continue
            job = self.workflow["jobs"][name]
            for needed in job.get("needs", []):
                assert needed not in results or results[needed].ok, f"{name} needs {needed}, which failed"
            results[name] = self.run_job(name, job, event, extra)
        return results

    def run_job(self, name: str, job: dict[str, Any], event: str, extra: Mapping[str, str]) -> JobResult:
        result = JobResult(name, ok=True)
        github_env = self.scratch / f"{name}.env"
        github_env.write_text("")
        summary = self.scratch / f"{name}.summary.md"
        environment = {
            **self.base_environment(),
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_REF": "refs/heads/main" if event == "push" else "refs/pull/42/merge",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_WORKSPACE": str(self.project),
            "GITHUB_ENV": str(github_env),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(self.scratch),
            **{k: substitute(str(v), self.contexts) for k, v in self.workflow.get("env", {}).items()},
            **{k: substitute(str(v), self.contexts) for k, v in job.get("env", {}).items()},
            **extra,
        }
        try:
            for step in job["steps"]:
                condition = step.get("if")
                assert condition in (None, "always()"), f"{name}: unknown step condition {condition!r}"
                if not result.ok and condition != "always()":
                    continue
                if "uses" in step:
                    assert step["uses"] in KNOWN_ACTIONS, f"{name}: the test does not know {step['uses']}"
                    if step["uses"].startswith("actions/upload-artifact"):
                        path = self.project / step["with"]["path"]
                        assert path.is_file(), f"{name}: the artifact {path.name} was not written"
                    continue
                exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines() if line)
                step_environment = {
                    **environment,
                    **exported,
                    **{k: substitute(str(v), self.contexts) for k, v in step.get("env", {}).items()},
                }
                command = substitute(step["run"], self.contexts)
                code, output = self.bash(command, step_environment, ["-e"])  # GitHub's `bash -e {0}`
                result.steps.append(Step(name, step.get("name", command), command, code, output))
                result.ok = result.ok and code == 0
        finally:
            self.end_background_processes()
        return result


class GitLabCI(Runner):
    """Runs the jobs of a .gitlab-ci.yml for one pipeline source (`push` to the default branch, or `merge_request`)."""

    RESERVED = {"stages", "workflow", "default", "variables", "cache", "include", "image"}
    CONDITIONS = {
        '$CI_PIPELINE_SOURCE == "merge_request_event"': {"merge_request"},
        "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH": {"push"},
    }

    def __init__(self, project: Path, scratch: Path, pipeline: Path, variables: Mapping[str, str]) -> None:
        super().__init__(project, scratch)
        self.pipeline = yaml.safe_load(pipeline.read_text())
        self.variables = variables

    def jobs_for(self, source: str) -> list[str]:
        for rule in self.pipeline["workflow"]["rules"]:
            assert rule["if"] in self.CONDITIONS, f"unknown workflow rule {rule['if']!r}"
        names = []
        for name, job in self.pipeline.items():
            if name in self.RESERVED or name.startswith("."):
                continue
            rules = job.get("rules")
            if rules is None:
                names.append(name)
                continue
            for rule in rules:
                assert rule["if"] in self.CONDITIONS, f"job {name}: unknown rule {rule['if']!r}"
            if any(source in self.CONDITIONS[rule["if"]] for rule in rules):
                names.append(name)
        stages = self.pipeline["stages"]
        return sorted(names, key=lambda n: stages.index(self.pipeline[n]["stage"]))

    def run(self, source: str, only: list[str] | None = None) -> dict[str, JobResult]:
        results: dict[str, JobResult] = {}
        for name in self.jobs_for(source):
            if only is not None and name not in only:
                continue
            job = self.pipeline[name]
            for needed in job.get("needs", []):
                assert needed not in results or results[needed].ok, f"{name} needs {needed}, which failed"
            results[name] = self.run_job(name, job, source)
        return results

    def run_job(self, name: str, job: dict[str, Any], source: str) -> JobResult:
        environment = {
            **self.base_environment(),
            "GITLAB_CI": "true",
            "CI_PROJECT_DIR": str(self.project),
            "CI_PIPELINE_SOURCE": "merge_request_event" if source == "merge_request" else "push",
            "CI_COMMIT_SHORT_SHA": "01234567",
            "CI_DEFAULT_BRANCH": "main",
            **({"CI_COMMIT_BRANCH": "main"} if source == "push" else {"CI_MERGE_REQUEST_IID": "7"}),
            "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
            "CI_PROJECT_ID": "1234",
        }
        for scope in (self.pipeline.get("variables", {}), job.get("variables", {})):
            for key, value in scope.items():
                environment[key] = subprocess.run(
                    ["bash", "-c", f'printf %s "{value}"'], env=environment, capture_output=True, text=True
                ).stdout  # GitLab expands $VARIABLES in variables
        environment.update(self.variables)  # the project's CI/CD variables win over the file's
        lines = [*job.get("before_script", self.pipeline["default"]["before_script"]), *job["script"]]
        result = JobResult(name, ok=True)
        try:
            code, output = self.bash("\n".join(lines), environment, ["-e", "-o", "pipefail"])  # the runner's bash
        finally:
            self.end_background_processes()
        result.steps.append(Step(name, name, "\n".join(lines), code, output))
        result.ok = code == 0
        if "artifacts" in job:
            artifacts = job["artifacts"]
            if result.ok or artifacts.get("when") == "always":
                for path in [*artifacts.get("paths", []), *artifacts.get("reports", {}).values()]:
                    assert (self.project / path).is_file(), f"{name}: the artifact {path} was not written"
        return result
