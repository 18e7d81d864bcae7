"""`modalc init`: every starter, in TOML and YAML, is a valid project that builds, whose own tests pass and that
deploys offline; init never overwrites; names are checked; --interactive asks. Also: build and validate take
several manifests (what pre-commit passes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import REPO, run_cli
from modalc import init as starters
from modalc.cli import STARTER_NAMES, cli
from modalc.control_plane import ControlPlaneState, client_for, serve
from modalc.load import load_manifest
from modalc.validate import published_schema

STARTERS_DIR = REPO / "compiler" / "modalc" / "starters"
PARAMETERS = [(s, f) for s in starters.STARTERS for f in starters.FORMATS]


def init(directory: Path, *options: str) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    result = run_cli(["init", str(directory), *options], cwd=directory.parent)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr and "error" not in result.stderr, result.stderr
    return directory


def manifest_data(path: Path) -> dict:
    return load_manifest(path).data  # YAML as modalc reads it: YAML 1.2


def test_the_starters_are_the_directories_and_the_cli_choices() -> None:
    directories = sorted(p.name for p in STARTERS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert directories == sorted(starters.STARTERS)
    assert STARTER_NAMES == tuple(starters.STARTERS) and starters.DEFAULT_STARTER == "hello"


@pytest.mark.parametrize("starter", starters.STARTERS)
def test_a_starters_toml_and_yaml_manifests_are_the_same(tmp_path: Path, starter: str) -> None:
    toml = starters.render(starter, "toml", "demo", "demo_pkg")
    yaml = starters.render(starter, "yaml", "demo", "demo_pkg")
    (tmp_path / "app.toml").write_text(toml.files["app.toml"])
    (tmp_path / "app.yaml").write_text(yaml.files["app.yaml"])
    assert manifest_data(tmp_path / "app.toml") == manifest_data(tmp_path / "app.yaml")
    assert {p for p in toml.files if p != "app.toml"} == {p for p in yaml.files if p != "app.yaml"}


@pytest.mark.parametrize(("starter", "manifest_format"), PARAMETERS)
def test_every_starter_is_a_project_that_builds_and_validates(
    tmp_path: Path, starter: str, manifest_format: str
) -> None:
    project = init(tmp_path / "demo-app", "--example", starter, "--format", manifest_format)
    manifest = project / f"app.{manifest_format}"
    data = manifest_data(manifest)
    assert data["app"]["name"] == "demo-app"
    assert set(data["environments"]) == {"dev", "prod"} and data["environments"]["prod"]["protected"] is True
    url = published_schema()["$id"]
    assert url == f"https://modalc.dev/schemas/v{data['version']}/manifest.schema.json"
    header = "#:schema " if manifest_format == "toml" else "# yaml-language-server: $schema="
    assert manifest.read_text().splitlines()[0] == header + url
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {
        manifest.name,
        ".gitignore",
        ".pre-commit-config.yaml",
        "requirements-dev.txt",
        "demo_app/__init__.py",
        "tests/test_modal_app.py",
        "generated/app_dev.py",
        "generated/app_prod.py",
    } <= files
    assert not any("__PACKAGE__" in f or "__pycache__" in f for f in files)
    assert not any("__APP_NAME__" in (project / f).read_text() for f in files)
    assert "generated/" not in (project / ".gitignore").read_text().splitlines()  # committed, reviewed
    check = run_cli(["build", "--check"], cwd=project)
    assert check.exit_code == 0 and check.stderr == "modalc: 2 generated file(s) up to date\n", check.stderr
    validated = run_cli(["validate", "--format", "json"], cwd=project)
    assert json.loads(validated.stdout) == {"valid": True, "errors": 0, "warnings": 0, "diagnostics": []}


@pytest.mark.parametrize("starter", starters.STARTERS)
def test_every_starters_own_tests_pass(tmp_path: Path, starter: str) -> None:
    """The new project's tests, as its developer runs them: `python -m pytest tests` in the project."""
    project = init(tmp_path / "demo", "--example", starter)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "PYTEST_", "PYTHONPATH"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.mark.parametrize("starter", starters.STARTERS)
def test_every_starter_plans_and_deploys_offline(tmp_path: Path, starter: str) -> None:
    project = init(tmp_path / "demo", "--example", starter)
    state = ControlPlaneState()
    state.add_environment("dev")
    state.add_environment("prod")
    with serve(state) as handle, client_for(handle):
        planned = run_cli(["plan", "--env", "dev", "--json"], cwd=project)
        assert planned.exit_code == 0, planned.stderr
        assert json.loads(planned.stdout)["deployment"]["app"] == "demo"
        for environment in ("dev", "prod"):
            deployed = run_cli(["deploy", "--env", environment, "--yes"], cwd=project)
            assert deployed.exit_code == 0, deployed.stderr + deployed.stdout
        again = run_cli(["plan", "--env", "prod"], cwd=project)
    assert again.exit_code == 0 and "Changes against the deployment in Modal environment 'prod': none" in again.stdout
    assert [(d["app"], d["environment"]) for d in state.deployments] == [("demo", "dev"), ("demo", "prod")]
    data = manifest_data(project / "app.toml")
    names = {f["name"] for f in state.deployments[-1]["functions"]}
    assert names == set(data.get("functions", {})) | set(data.get("classes", {}))


def test_the_yaml_projects_modules_are_the_toml_projects(tmp_path: Path) -> None:
    for starter in starters.STARTERS:
        toml = init(tmp_path / starter / "toml" / "demo", "--example", starter)
        yaml = init(tmp_path / starter / "yaml" / "demo", "--example", starter, "--format", "yaml")
        for module in ("app_dev.py", "app_prod.py"):
            toml_lines = (toml / "generated" / module).read_text().splitlines()
            yaml_lines = (yaml / "generated" / module).read_text().splitlines()
            assert toml_lines[0].replace("app.toml", "app.yaml") == yaml_lines[0]
            assert toml_lines[1:] == yaml_lines[1:]


# --- never overwrite ----------------------------------------------------------------------------------------


def tree(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): p.read_text() for p in directory.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "existing", ["app.toml", "app.yaml", "demo/__init__.py", "tests/test_modal_app.py", "generated/app_dev.py"]
)
def test_init_refuses_to_overwrite_anything(tmp_path: Path, existing: str) -> None:
    project = tmp_path / "demo"
    (project / existing).parent.mkdir(parents=True)
    (project / existing).write_text("mine\n")
    before = tree(project)
    result = run_cli(["init", "demo"], cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr == f"modalc: demo/ already has {existing}; nothing written (init never overwrites)\n"
    assert tree(project) == before


def test_init_lists_every_conflict_at_once(tmp_path: Path) -> None:
    for name in ("app.toml", "requirements-dev.txt"):
        (tmp_path / name).write_text("mine\n")
    result = run_cli(["init"], cwd=tmp_path)
    assert result.exit_code == 1
    assert "this directory already has app.toml, requirements-dev.txt; nothing written" in result.stderr


def test_init_in_an_existing_repository_adds_to_gitignore_and_keeps_pre_commit_config(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# mine\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n.venv/")  # no final newline
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    result = run_cli(["init", "--name", "svc"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "README.md").read_text() == "# mine\n"
    assert (tmp_path / ".pre-commit-config.yaml").read_text() == "repos: []\n"
    kept = ".pre-commit-config.yaml: kept as it is; add these lines to its `repos:`\n    - repo: https://github.com/"
    assert kept in result.stderr and "\n        - id: modalc-validate" in result.stderr
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", ".venv/"] and lines.count(".venv/") == 1 and "__pycache__/" in lines
    assert f".gitignore: {len(starters.GITIGNORE) - 1} line(s) added" in result.stderr
    assert (tmp_path / "svc" / "handlers.py").is_file()
    assert run_cli(["init", "--name", "svc"], cwd=tmp_path).exit_code == 1  # a second init finds the first


def test_batch_starter_ignores_its_results(tmp_path: Path) -> None:
    project = init(tmp_path / "demo", "--example", "batch")
    assert "results.jsonl" in (project / ".gitignore").read_text().splitlines()
    assert (project / "data" / "items.jsonl").is_file()


# --- names ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directory", "app_name", "package"),
    [
        ("My Project!", "my-project", "my_project"),
        ("2fast", "2fast", "app2fast"),
        ("json", "json", "json_app"),  # the standard library's
        ("tests", "tests", "tests_app"),  # beside the project's tests/
        ("app_dev", "app_dev", "my_app_dev"),  # the generated modules' names
        ("...", "modal-app", "modal_app"),
    ],
)
def test_default_names_come_from_the_directory(directory: str, app_name: str, package: str) -> None:
    assert starters.default_app_name(Path(directory)) == app_name
    assert starters.default_package(app_name) == package
    assert starters.package_problem(package) is None


def test_whisper_starter_does_not_shadow_the_whisper_package(tmp_path: Path) -> None:
    project = init(tmp_path / "whisper", "--example", "whisper")
    assert (project / "whisper_app" / "transcriber.py").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--name", "bad name"], "'bad name' is not a Modal app name"),
        (["--package", "os"], "'os' cannot be the handler package: it would shadow the standard library's os module"),
        (["--package", "app_x"], "the generated modules are named app_<environment>"),
        (["--package", "class"], "it is a Python keyword"),
        (["--package", "Bad-Name"], "use lower-case letters, digits and '_'"),
        (["--example", "nope"], "Invalid value for '--example'"),
        (["--format", "json"], "Invalid value for '--format'"),
    ],
)
def test_bad_names_and_choices_are_usage_errors(tmp_path: Path, options: list[str], message: str) -> None:
    result = run_cli(["init", "demo", *options], cwd=tmp_path)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "demo").exists()


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = run_cli(["init", "taken"], cwd=tmp_path)
    assert result.exit_code == 2


def test_explicit_names(tmp_path: Path) -> None:
    project = init(tmp_path / "x", "--name", "billing.api", "--package", "billing", "--example", "api")
    assert manifest_data(project / "app.toml")["app"]["name"] == "billing.api"
    assert manifest_data(project / "app.toml")["functions"]["greet"]["handler"] == "billing.api:greet"


# --- interactive ------------------------------------------------------------------------------------------------


def test_interactive_asks_for_each_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    answers = "\n".join(["asked", "batch", "yaml", "number cruncher", "numbers", "os", "crunch"])
    result = CliRunner().invoke(cli, ["init", "--interactive"], input=answers + "\n")
    assert result.exit_code == 0, result.output
    project = tmp_path / "asked"
    data = manifest_data(project / "app.yaml")
    assert data["app"]["name"] == "numbers"
    assert data["functions"]["process"]["handler"] == "crunch.work:process"
    assert "Error: letters, digits" in result.output  # "number cruncher" was asked again
    assert "it would shadow the standard library's os module" in result.output  # and so was "os"


def test_interactive_defaults_are_the_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "here", "--interactive", "--example", "api"], input="\n" * 5)
    assert result.exit_code == 0, result.output
    assert "Starter (hello, api, batch, whisper) [api]: " in result.output
    assert manifest_data(tmp_path / "here" / "app.toml")["app"]["name"] == "here"
    assert (tmp_path / "here" / "here" / "api.py").is_file()


# --- several manifests (pre-commit passes every changed one) ---------------------------------------------------


@pytest.fixture
def two_projects(tmp_path: Path) -> Path:
    init(tmp_path / "api", "--example", "api")
    init(tmp_path / "batch", "--example", "batch", "--format", "yaml")
    return tmp_path


def test_validate_takes_several_manifests(two_projects: Path) -> None:
    result = run_cli(["validate", "api/app.toml", "batch/app.yaml"], cwd=two_projects)
    assert result.exit_code == 0
    assert result.stderr == "api/app.toml: valid (dev, prod)\nbatch/app.yaml: valid (dev, prod)\n"
    broken = two_projects / "api" / "app.toml"
    broken.write_text(broken.read_text().replace('method = "GET"', 'method = "GETT"'))
    result = run_cli(["validate", "api/app.toml", "batch/app.yaml"], cwd=two_projects)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("api/app.toml:") and "functions.greet.web.method" in lines[0]
    assert lines[1].startswith("modalc: api/app.toml: 1 error (references, GPUs, schedules and handlers are checked")
    assert lines[2:] == ["batch/app.yaml: valid (dev, prod)"]
    report = json.loads(
        run_cli(["validate", "--format", "json", "batch/app.yaml", "api/app.toml"], cwd=two_projects).stdout
    )
    assert report["valid"] is False and report["errors"] == 1
    assert [d["file"] for d in report["diagnostics"]] == ["api/app.toml"]


def test_build_check_takes_several_manifests(two_projects: Path) -> None:
    result = run_cli(["build", "--check", "api/app.toml", "batch/app.yaml"], cwd=two_projects)
    assert result.exit_code == 0 and result.stderr.count("2 generated file(s) up to date") == 2
    (two_projects / "batch" / "generated" / "app_dev.py").unlink()
    result = run_cli(["build", "--check", "api/app.toml", "batch/app.yaml"], cwd=two_projects)
    assert result.exit_code == 1 and "batch/generated/app_dev.py: missing" in result.stderr
    assert run_cli(["build", "api/app.toml", "batch/app.yaml"], cwd=two_projects).exit_code == 0
    assert (two_projects / "batch" / "generated" / "app_dev.py").is_file()
    result = run_cli(["build", "api/app.toml", "batch/app.yaml", "--out", "x"], cwd=two_projects)
    assert result.exit_code == 2 and "--out needs a single manifest" in result.stderr
