"""What editors and CI see: taplo (the TOML language server's validator, a draft-4 reader of any schema) and
check-jsonschema (draft 2020-12, TOML and YAML) accept every example against the published schema and reject
each kind of typo; modalc agrees, and reports each typo once.

Both tools come with the test extras (`pip install -e '.[test]'`); a test skips, saying why, when one cannot
run on this platform.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from helpers import CASES, REPO, examples, manifest_of
from modalc.pipeline import check_manifest
from modalc.validate import published_schema

PUBLISHED = REPO / "schemas" / "manifest.schema.json"
KITCHEN_SINK = REPO / "tests" / "fixtures" / "kitchen_sink"
TOML_MANIFESTS = [m for m in map(manifest_of, examples()) if m.suffix == ".toml"] + [KITCHEN_SINK / "app.toml"]
ALL_MANIFESTS = [manifest_of(e) for e in examples()] + [KITCHEN_SINK / "app.toml"]


def _tool(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    path = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (it comes with the test extras: pip install -e '.[test]')")
    try:
        subprocess.run([path, "--version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"{name} cannot run on this platform: {error}")
    return path


@pytest.fixture(scope="module")
def taplo() -> str:
    return _tool("taplo")


@pytest.fixture(scope="module")
def check_jsonschema() -> str:
    return _tool("check-jsonschema")


def run_taplo(taplo: str, files: list[Path], *options: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    command = [taplo, "lint", "--no-auto-config", "--colors", "never", *options, *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=60, env={"PATH": "/usr/bin:/bin"})


def run_check_jsonschema(tool: str, files: list[Path]) -> dict:
    command = [tool, "--color", "never", "-o", "json", "--schemafile", str(PUBLISHED), *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert not report.get("parse_errors"), report["parse_errors"]
    return report


# --- valid manifests ----------------------------------------------------------------------------------


def test_taplo_accepts_the_examples_through_their_schema_headers(taplo: str) -> None:
    headed = [m for m in TOML_MANIFESTS if m.read_text().startswith("#:schema ../../schemas/manifest.schema.json")]
    assert len(headed) >= 3
    result = run_taplo(taplo, headed)  # the `#:schema` directive is how an editor finds the schema
    assert result.returncode == 0, result.stderr


def test_taplo_accepts_every_toml_manifest(taplo: str) -> None:
    result = run_taplo(taplo, TOML_MANIFESTS, "--schema", PUBLISHED.as_uri())
    assert result.returncode == 0, result.stderr


def test_check_jsonschema_accepts_every_manifest(check_jsonschema: str) -> None:
    report = run_check_jsonschema(check_jsonschema, ALL_MANIFESTS)
    assert report["status"] == "ok", report["errors"]


PARTIAL_OVERRIDES = """
[functions.periodic]
handler = "sink.handlers:work"
image = "slim"
schedule = { period = { hours = 6 } }

[entrypoints.fan]
map = "gpu_image"
inputs = "items.jsonl"

[environments.partial]
app = { image = "conda", tags = { suite = "partial" } }
images.slim = { python = "3.11" }
images.docker = { build_args = { FLAVOR = "big" } }
volumes.data = { read_only = true }
secrets.api = { required_keys = ["API_TOKEN", "OTHER"] }
cloud_buckets.raw = { key_prefix = "other/" }
functions.every_setting = { retries = { max_delay = 20.0 }, gpu = "h100:4", volumes = { "/data" = { read_only = true } } }
functions.from_dockerfile = { schedule = { timezone = "Europe/Berlin" } }
functions.periodic = { schedule = { period = { minutes = 30 } } }
functions.server = { web = { port = 9000 } }
functions.wsgi = { web = { label = "sink-wsgi-partial" } }
classes.Model = { concurrency = { target_inputs = 2 }, parameters = { size = { default = 3 } }, methods = { http = { web = { method = "PUT" } } } }
entrypoints.fan = { output = "out.jsonl" }
"""


@pytest.fixture(scope="module")
def partial_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kitchen sink plus an environment that overrides a part of every kind of table."""
    project = tmp_path_factory.mktemp("partial") / "project"
    shutil.copytree(KITCHEN_SINK, project, ignore=shutil.ignore_patterns("generated"))
    (project / "items.jsonl").write_text("1\n2\n")
    manifest = project / "app.toml"
    manifest.write_text(manifest.read_text() + PARTIAL_OVERRIDES)
    return manifest


def test_partial_overrides_compile_and_pass_every_validator(
    partial_project: Path, taplo: str, check_jsonschema: str
) -> None:
    result = check_manifest(partial_project, environments=["partial"])
    assert result.ok, [d.render() for d in result.diagnostics]
    data = tomllib.loads(partial_project.read_text())
    assert not [e.message for e in Draft202012Validator(published_schema()).iter_errors(data)]
    taplo_result = run_taplo(taplo, [partial_project], "--schema", PUBLISHED.as_uri())
    assert taplo_result.returncode == 0, taplo_result.stderr
    assert run_check_jsonschema(check_jsonschema, [partial_project])["status"] == "ok"


# --- one typo each ------------------------------------------------------------------------------------

BASE = """\
version = 1

[app]
name = "demo"
image = "base"

[images.base]
base = "debian_slim"
python = "3.12"

[functions.process]
handler = "pkg.mod:process"
gpu = "h100:2"

[classes.Model]
handler = "pkg.mod:Model"
enter = ["load"]
methods = ["predict"]

[environments.dev]
functions.process = { gpu = "T4", max_containers = 2 }
"""
DEV = 'functions.process = { gpu = "T4", max_containers = 2 }'

# name -> (what to replace in BASE, with what, the word taplo's message quotes, modalc's message)
TYPOS = {
    "function_key": ('gpu = "h100:2"', 'gpuu = "h100:2"', "gpuu", "unknown key 'gpuu'; did you mean 'gpu'?"),
    "class_key": ('enter = ["load"]', 'enterr = ["load"]', "enterr", "unknown key 'enterr'; did you mean 'enter'?"),
    "missing_handler": ('handler = "pkg.mod:process"\n', "", "handler", "missing required key 'handler'"),
    "unknown_gpu": ('gpu = "h100:2"', 'gpu = "H10O"', "H10O", "unknown GPU type 'H10O'; did you mean 'H100'?"),
    "gpu_count": ('gpu = "h100:2"', 'gpu = "t4:9"', "t4:9", "T4 allows 1 to 8 GPUs per container, not 9"),
    "override_key": (DEV, 'functions.process = { gpu = "T4", max_containerz = 2 }', "max_containerz", "did you mean"),
    "override_nested_key": (
        DEV,
        "functions.process = { retries = { max_retries = 2, backof_coefficient = 2.0 } }",
        "backof_coefficient",
        "unknown key 'backof_coefficient'; did you mean 'backoff_coefficient'?",
    ),
    "override_endpoint_key": (
        DEV,
        'functions.process = { web = { type = "fastapi", methd = "POST" } }',
        "methd",
        "unknown key 'methd'; did you mean 'method'?",
    ),
    "override_type": (DEV, 'functions.process = { max_containers = "2" }', '"2"', "expected an integer"),
    "override_gpu": (DEV, 'functions.process = { gpu = "T5" }', "T5", "unknown GPU type 'T5'"),
    "override_image_key": (DEV, 'images.base = { pyhton = "3.11" }', "pyhton", "did you mean 'python'?"),
    "override_app_key": (DEV, 'app = { imag = "base" }', "imag", "unknown key 'imag'; did you mean 'image'?"),
    "environment_key": (DEV, 'modal_env = "production"', "modal_env", "did you mean 'modal_environment'?"),
}


@pytest.fixture(scope="module")
def typo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each typo as app.toml in its own project (with the error cases' user code), plus a YAML twin."""
    root = tmp_path_factory.mktemp("typos")
    files = {}
    for name, (old, new, _, _) in TYPOS.items():
        assert old in BASE, name
        project = root / name
        shutil.copytree(CASES / "_project", project)
        text = BASE.replace(old, new, 1)
        (project / "app.toml").write_text(text)
        (project / "app.yaml").write_text(json.dumps(tomllib.loads(text), indent=2))  # JSON is YAML 1.2
        files[name] = project / "app.toml"
    return files


def test_the_typo_free_base_is_valid_everywhere(tmp_path: Path, taplo: str, check_jsonschema: str) -> None:
    shutil.copytree(CASES / "_project", tmp_path / "project")
    manifest = tmp_path / "project" / "app.toml"
    manifest.write_text(BASE)
    assert check_manifest(manifest).ok
    assert run_taplo(taplo, [manifest], "--schema", PUBLISHED.as_uri()).returncode == 0
    assert run_check_jsonschema(check_jsonschema, [manifest])["status"] == "ok"


@pytest.mark.parametrize("name", TYPOS)
def test_taplo_rejects_each_typo(name: str, typo_files: dict[str, Path], taplo: str) -> None:
    result = run_taplo(taplo, [typo_files[name]], "--schema", PUBLISHED.as_uri())
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors and any(TYPOS[name][2] in line for line in errors), result.stderr


@pytest.fixture(scope="module")
def check_jsonschema_report(typo_files: dict[str, Path], check_jsonschema: str) -> dict:
    files = [f for path in typo_files.values() for f in (path, path.with_suffix(".yaml"))]
    return run_check_jsonschema(check_jsonschema, files)  # one run: the tool takes half a second to start


@pytest.mark.parametrize("name", TYPOS)
@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_check_jsonschema_rejects_each_typo(
    name: str, suffix: str, typo_files: dict[str, Path], check_jsonschema_report: dict
) -> None:
    flagged = {Path(error["filename"]).resolve() for error in check_jsonschema_report["errors"]}
    assert typo_files[name].with_suffix(suffix).resolve() in flagged


@pytest.mark.parametrize("name", TYPOS)
def test_modalc_reports_each_typo_once(name: str, typo_files: dict[str, Path]) -> None:
    result = check_manifest(typo_files[name], display_name="app.toml")
    errors = [d.render() for d in result.diagnostics if d.is_error]
    assert len(errors) == 1, errors
    assert TYPOS[name][3] in errors[0], errors[0]


# --- the catalog --------------------------------------------------------------------------------------


def test_the_catalog_associates_modalc_manifests_by_file_name(tmp_path: Path, taplo: str) -> None:
    """With schemas/catalog.json (its URL pointed at the local copy, offline), taplo checks modalc*.toml only."""
    catalog = json.loads((REPO / "schemas" / "catalog.json").read_text())
    catalog["schemas"][0]["url"] = PUBLISHED.as_uri()
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    text = BASE.replace('gpu = "h100:2"', 'gpuu = "h100:2"')
    for name in ("modalc.toml", "modalc.prod.toml", "app.toml"):
        (tmp_path / name).write_text(text)
    options = ("--schema-catalog", (tmp_path / "catalog.json").as_uri())
    for name, expected in (("modalc.toml", 1), ("modalc.prod.toml", 1), ("app.toml", 0)):
        result = run_taplo(taplo, [tmp_path / name], *options, cwd=tmp_path)
        assert result.returncode == expected, (name, result.stderr)
