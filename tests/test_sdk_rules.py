"""Every manifest modalc accepts is one the `modal` SDK accepts: the audit of its construction-time rules.

A rule the SDK enforces only when the module is imported or deployed (`CloudBucketMount` wanting a `/` at the
end of `key_prefix`, say) used to pass `modalc build` and then fail `modalc plan` with an internal error. Each
row below is one rule near its boundary: either modalc refuses the manifest at its line, or the real SDK
accepts it (the module is planned offline through the real client). Where modalc refuses, a second test
switches modalc's check off and shows that the SDK refuses the same manifest, so no rule here is invented.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_hardening import BASE, make_project

from helpers import run_cli, toml_dumps

Change = tuple[tuple[str | int, ...], Any]


def _base() -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    del data["functions"]["process"]["web"]
    return data


def _apply(data: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    for path, value in changes:
        node: Any = data
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
        node[path[-1]] = value
    return data


FN = ("functions", "process")
BUCKET = ("cloud_buckets", "raw")
STEPS = ("images", "base", "steps")

# (what, changes, None if the SDK accepts it, else the text of modalc's refusal)
AUDIT: list[tuple[str, list[Change], str | None]] = [
    ("key_prefix without a trailing /", [((*BUCKET, "key_prefix"), "datasets")], "'datasets' must end in '/'"),
    (
        "requester_pays without a secret",
        [((*BUCKET, "requester_pays"), True)],
        "a Requester Pays bucket is billed to the caller",
    ),
    ("requester_pays with a secret", [((*BUCKET, "requester_pays"), True), ((*BUCKET, "secret"), "keys")], None),
    ("endpoint_url (the SDK's bucket_endpoint_url)", [((*BUCKET, "endpoint_url"), "https://r2.example.com")], None),
    (
        "OIDC role and a secret",
        [((*BUCKET, "oidc_auth_role_arn"), "arn:aws:iam::1:role/r"), ((*BUCKET, "secret"), "keys")],
        None,
    ),
    (
        "a volume named like an app id",
        [(("volumes", "data", "name"), "ap-" + "a" * 22)],
        "has the shape of a Modal app id, which Modal refuses as a volume name",
    ),
    ("a volume name of 64 characters", [(("volumes", "data", "name"), "v" * 64)], None),
    ("a secret named like an app id (the SDK allows it)", [(("secrets", "keys", "name"), "ap-" + "b" * 22)], None),
    ("an app name of 64 characters", [(("app", "name"), "a" * 64)], None),
    (
        "one Modal volume under two aliases, mounted twice",
        [(("volumes", "other"), {"name": "data-volume"}), ((*FN, "volumes", "/other"), "other")],
        "volumes 'data' and 'other' are both the Modal volume 'data-volume'",
    ),
    ("sub_path absolute, '..' or '/'", [((*FN, "volumes", "/data", "sub_path"), "/abs/../x")], None),
    (
        "a pip option in the package list",
        [((*STEPS, 1, "pip", 0), "--no-deps")],
        "'--no-deps' is an option, not a package",
    ),
    ("a uv option in the package list", [((*STEPS, 2, "uv_pip", 0), "-U")], "'-U' is an option, not a package"),
    ("scaledown_window 1", [((*FN, "scaledown_window"), 1)], "must be at least 2"),
    ("scaledown_window 3601", [((*FN, "scaledown_window"), 3601)], "must be at most 3600"),
    (
        "scaledown_window 2 and 3600",
        [((*FN, "scaledown_window"), 2), (("functions", "on_gpu", "scaledown_window"), 3600)],
        None,
    ),
    ("batch size 1001", [(("functions", "on_gpu", "batched"), {"max_batch_size": 1001, "wait_ms": 1})], "at most 1000"),
    (
        "batch wait 600001 ms",
        [(("functions", "on_gpu", "batched"), {"max_batch_size": 2, "wait_ms": 600001})],
        "at most 600,000",
    ),
    (
        "target_inputs above max_inputs",
        [((*FN, "concurrency"), {"max_inputs": 2, "target_inputs": 3})],
        "is above max_inputs",
    ),
    ("retries initial_delay 61", [((*FN, "retries"), {"max_retries": 1, "initial_delay": 61})], "must be at most 60"),
    ("retries max_delay 0.5", [((*FN, "retries"), {"max_retries": 1, "max_delay": 0.5})], "must be at least 1"),
    ("cpu limit under request", [((*FN, "cpu"), [0.5, 0.25])], "request 0.5 is above limit 0.25"),
    ("memory limit under request", [((*FN, "memory"), [1024, 512])], "request 1024 is above limit 512"),
    ("cpu 0.01", [((*FN, "cpu"), 0.01)], None),
    ("min_containers above max_containers", [((*FN, "min_containers"), 5), ((*FN, "max_containers"), 2)], "is above"),
    ("timeout 86400", [((*FN, "timeout"), 86400)], None),
    ("web_server port 0", [((*FN, "web"), {"type": "web_server", "port": 0})], "must be at least 1"),
    ("a web label of digits", [((*FN, "web"), {"type": "fastapi", "label": "12345"})], None),
    ("a tag of 63 characters", [(("app", "tags", "team"), "t" * 63)], None),
    ("Python 3.9", [(("images", "base", "python"), "3.9")], "is not available on Modal"),
    ("Python 3.14", [(("images", "base", "python"), "3.14")], None),
    ("nonpreemptible without a region", [((*FN, "nonpreemptible"), True)], None),
    ("any:5", [((*FN, "gpu"), "any:5")], "any allows 1 to 4 GPUs per container"),
    ("memory snapshot with a GPU", [((*FN, "memory_snapshot"), True), ((*FN, "gpu"), "T4")], None),
    (
        "single use with concurrency",
        [((*FN, "single_use_containers"), True), ((*FN, "concurrency"), {"max_inputs": 4})],
        "cannot take concur",
    ),
    ("a relative workdir", [((*STEPS, 6, "workdir"), "srv")], "container paths are absolute"),
    (
        "a pyproject without [project] dependencies",
        [(STEPS, [{"pip_pyproject": "poetry.toml"}])],
        "'poetry.toml' has no [project] dependencies list",
    ),
    (
        "optional_dependencies without the table",
        [(STEPS, [{"pip_pyproject": "plain.toml", "optional_dependencies": ["gpu"]}])],
        "'plain.toml' has no [project.optional-dependencies] table to take 'gpu' from",
    ),
    (
        "an optional group the pyproject lacks",
        [(STEPS, [{"pip_pyproject": "groups.toml", "optional_dependencies": ["x"]}])],
        None,
    ),
]


@pytest.fixture(scope="module")
def audit_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("audit"))
    (project / "poetry.toml").write_text('[tool.poetry.dependencies]\npython = "^3.12"\n')
    (project / "plain.toml").write_text('[project]\nname = "x"\ndependencies = ["rich"]\n')
    (project / "groups.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["rich"]\n[project.optional-dependencies]\ngpu = ["torch"]\n'
    )
    return project


def _copy(project: Path, destination: Path, changes: list[Change]) -> Path:
    shutil.copytree(project, destination)
    (destination / "app.toml").write_text(toml_dumps(_apply(_base(), changes)))
    return destination


@pytest.mark.parametrize(("what", "changes", "refusal"), AUDIT, ids=[row[0] for row in AUDIT])
def test_modalc_refuses_it_or_the_sdk_accepts_it(
    audit_project: Path, tmp_path: Path, what: str, changes: list[Change], refusal: str | None
) -> None:
    project = _copy(audit_project, tmp_path / "p", changes)
    built = run_cli(["build"], cwd=project)
    assert "Traceback" not in built.stderr and "internal error" not in built.stderr, built.stderr
    if refusal is not None:
        assert built.exit_code == 1 and refusal in built.stderr, built.stderr
        return
    assert built.exit_code == 0, built.stderr
    planned = run_cli(["plan", "--offline", "--json"], cwd=project)
    assert planned.exit_code == 0, f"modalc accepted it, the SDK did not: {planned.stderr}"


def _off(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> None:
    import importlib

    monkeypatch.setattr(importlib.import_module(module), name, lambda *args, **kwargs: None)


SDK_CONFIRMS: list[tuple[str, Callable[[pytest.MonkeyPatch], None], str]] = [
    (
        "key_prefix without a trailing /",
        lambda m: _off(m, "modalc.normalize.storage", "check_bucket_rules"),
        "ValueError",
    ),
    (
        "requester_pays without a secret",
        lambda m: _off(m, "modalc.normalize.storage", "check_bucket_rules"),
        "ValueError",
    ),
    (
        "a volume named like an app id",
        lambda m: _off(m, "modalc.normalize.storage", "check_volume_rules"),
        "Invalid Volume name",
    ),
    (
        "one Modal volume under two aliases, mounted twice",
        lambda m: _off(m, "modalc.normalize.storage", "check_volume_paths_by_name"),
        "The same Volume cannot be mounted in multiple locations",
    ),
    (
        "a pip option in the package list",
        lambda m: _off(m, "modalc.normalize.sdk_rules", "check_images"),
        "cannot contain other arguments",
    ),
    (
        "a pyproject without [project] dependencies",
        lambda m: _off(m, "modalc.normalize.sdk_rules", "check_images"),
        "ValueError",
    ),
    (
        "optional_dependencies without the table",
        lambda m: _off(m, "modalc.normalize.sdk_rules", "check_images"),
        "KeyError",
    ),
]


@pytest.mark.parametrize(("what", "switch_off", "sdk_says"), SDK_CONFIRMS, ids=[row[0] for row in SDK_CONFIRMS])
def test_the_sdk_refuses_what_modalc_refuses(
    audit_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    what: str,
    switch_off: Callable[[pytest.MonkeyPatch], None],
    sdk_says: str,
) -> None:
    changes = next(row[1] for row in AUDIT if row[0] == what)
    project = _copy(audit_project, tmp_path / "p", changes)
    switch_off(monkeypatch)
    assert run_cli(["build", "--no-cache"], cwd=project).exit_code == 0, "with modalc's check off, it builds"
    planned = run_cli(["plan", "--offline", "--json"], cwd=project)
    assert planned.exit_code != 0
    assert sdk_says in planned.stderr or sdk_says in _last_crash(), planned.stderr


def _last_crash() -> str:
    import os

    crashes = sorted((Path(os.environ["MODALC_CACHE_DIR"]) / "crashes").glob("*.txt"), key=lambda p: p.stat().st_mtime)
    return crashes[-1].read_text() if crashes else ""
