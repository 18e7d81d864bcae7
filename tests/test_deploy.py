"""Tier 4: `modalc deploy` and `modalc plan` through the real, unmodified modal client, against the local
control plane, for every example in dev and in prod."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    REPO,
    CliResult,
    assert_golden,
    assert_step_layer,
    base_command,
    copied_packages,
    examples,
    expected_steps,
    image_alias,
    manifest_of,
    merged_manifest,
    owner_app,
    root_image,
    run_cli,
)
from modalc.control_plane import ControlPlaneState, client_for, serve
from modalc.load import load_manifest

ENVIRONMENTS = ("dev", "prod")
CASES = [(example, env) for example in examples() for env in ENVIRONMENTS]
PLAN_GOLDENS = REPO / "tests" / "goldens" / "plan"
WEBHOOK_TYPES = {"fastapi": "fastapi_endpoint", "asgi": "asgi_app", "wsgi": "wsgi_app", "web_server": "web_server"}


def modal_environment_of(raw: dict[str, Any], environment: str) -> str:
    return raw["environments"][environment].get("modal_environment", environment)


def seed(state: ControlPlaneState, manifest: dict[str, Any], modal_env: str, *, skip_secret: str | None = None) -> None:
    """What a team would have created in Modal before deploying: the environment, secrets and volumes."""
    state.add_environment(modal_env)
    for alias, secret in manifest.get("secrets", {}).items():
        name = secret.get("name", alias)
        if name != skip_secret:
            state.add_secret(secret.get("environment", modal_env), name, secret.get("required_keys", []))
    for alias, volume in manifest.get("volumes", {}).items():
        if not volume.get("create_if_missing"):
            state.add_volume(volume.get("environment", modal_env), volume.get("name", alias))


def project_state(project: Path, environment: str, *, skip_secret: str | None = None) -> ControlPlaneState:
    """A control plane seeded with what `environment` of the project's manifest needs (its Modal name = its name)."""
    state = ControlPlaneState()
    seed(
        state,
        merged_manifest(load_manifest(manifest_of(project)).data, environment),
        environment,
        skip_secret=skip_secret,
    )
    return state


@contextlib.contextmanager
def control_plane(state: ControlPlaneState) -> Iterator[Any]:
    with serve(state) as handle, client_for(handle):
        yield handle


def deploy(project: Path, environment: str, *extra: str) -> CliResult:
    return run_cli(["deploy", manifest_of(project).name, "--env", environment, *extra], cwd=project)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "inference_api"
    shutil.copytree(REPO / "examples" / "inference_api", destination)
    return destination


# --- every example, both environments ----------------------------------------------------------------


@pytest.mark.parametrize(("example", "environment"), CASES, ids=lambda c: getattr(c, "name", c))
def test_deploy_sends_exactly_the_manifest(example: Path, environment: str) -> None:
    raw = load_manifest(manifest_of(example)).data
    manifest = merged_manifest(raw, environment)
    modal_env = modal_environment_of(raw, environment)
    state = ControlPlaneState()
    seed(state, manifest, modal_env)
    with control_plane(state):
        result = deploy(example, environment, "--yes")
    assert result.exit_code == 0, result.stderr + result.stdout
    assert f"{manifest['app']['name']}: deployed to Modal environment {modal_env!r}" in result.stdout
    (record,) = state.deployments
    assert_record_matches(record, manifest, modal_env)
    for function in record["functions"]:
        if function.get("webhook"):
            assert f"  {function['name']}: {function['webhook']['url']}" in result.stdout


def assert_record_matches(record: dict[str, Any], manifest: dict[str, Any], modal_env: str) -> None:
    assert record["app"] == manifest["app"]["name"]
    assert record["environment"] == modal_env
    for key, value in manifest["app"].get("tags", {}).items():
        assert record["tags"][key] == value
    functions = {f["name"]: f for f in record["functions"]}
    assert set(functions) == set(manifest.get("functions", {})) | set(manifest.get("classes", {}))
    for section in ("functions", "classes"):
        for name, spec in manifest.get(section, {}).items():
            sent = functions[name]
            assert sent["kind"] == ("function" if section == "functions" else "class")
            assert_settings(sent, spec, manifest, modal_env)
            assert_image(sent, spec, manifest, record)
            if section == "classes":
                methods = spec.get("methods", [])
                assert sorted(m["name"] for m in sent["class"]["methods"]) == sorted(methods)


def assert_settings(sent: dict[str, Any], spec: dict[str, Any], manifest: dict[str, Any], modal_env: str) -> None:
    gpus = spec.get("gpu")
    gpus = [gpus] if isinstance(gpus, str) else gpus or []
    wanted = [{"type": g.split(":")[0].upper(), "count": int(g.split(":")[1]) if ":" in g else 1} for g in gpus]
    assert (sent.get("gpus") or []) == wanted, sent["name"]
    assert sent["timeout_secs"] == spec.get("timeout", 300)
    scaling = sent["autoscaling"]
    for key in ("min_containers", "max_containers", "buffer_containers", "scaledown_window"):
        assert scaling.get(key) == spec.get(key), (sent["name"], key)
    concurrency = spec.get("concurrency")
    if concurrency:
        assert sent["concurrency"]["max_inputs"] == concurrency.get("max_inputs")
        assert sent["concurrency"].get("target_inputs") in (concurrency.get("target_inputs"), None, 0) or sent[
            "concurrency"
        ]["target_inputs"] == concurrency.get("target_inputs", concurrency["max_inputs"])
    else:
        assert not sent.get("concurrency"), sent["name"]
    schedule = spec.get("schedule")
    if not schedule:
        assert sent.get("schedule") is None
    elif "cron" in schedule:
        assert sent["schedule"] == {"cron": schedule["cron"], "timezone": schedule.get("timezone", "UTC")}
    else:
        assert sent["schedule"]["period"] == schedule["period"]
    web = spec.get("web")
    if web:
        assert sent["webhook"]["type"] == WEBHOOK_TYPES[web["type"]]
        assert sent["webhook"]["url"].startswith("https://") and sent["webhook"]["url"].endswith(".modal.run")
        if web.get("label"):
            assert web["label"] in sent["webhook"]["url"]
        if web["type"] == "fastapi":
            assert sent["webhook"]["method"] == web.get("method", "GET")
    else:
        assert sent.get("webhook") is None
    app = owner_app(manifest, spec)
    secret_aliases = [*app.get("secrets", []), *spec.get("secrets", [])]
    named = [s for s in sent["secrets"] if "name" in s]
    assert named == [
        {
            "name": manifest["secrets"][a].get("name", a),
            "environment": manifest["secrets"][a].get("environment", modal_env),
        }
        for a in secret_aliases
    ]
    mounts = {**app.get("volumes", {}), **spec.get("volumes", {})}
    volumes = {v["mount_path"]: v for v in sent["volumes"]}
    assert set(volumes) == set(mounts)
    for path, value in mounts.items():
        value = {"volume": value} if isinstance(value, str) else value
        declared = manifest["volumes"][value["volume"]]
        assert volumes[path]["name"] == declared.get("name", value["volume"])
        assert volumes[path]["environment"] == modal_env
        assert volumes[path]["read_only"] == value.get("read_only", declared.get("read_only", False))


def assert_image(sent: dict[str, Any], spec: dict[str, Any], manifest: dict[str, Any], record: dict[str, Any]) -> None:
    alias = image_alias(manifest, spec)
    layers = record["images"][sent["image"]]["layers"]
    root = root_image(manifest, alias)
    if root["base"] == "registry":  # its first layers install Python; the manifest's steps come after them
        layers = layers[len(layers) - len(expected_steps(manifest, alias)) - 1 :]
    else:
        assert layers[0]["dockerfile_commands"][0].startswith(base_command(root))
    steps = expected_steps(manifest, alias)
    assert len(layers) == 1 + len(steps)
    for step, layer in zip(steps, layers[1:], strict=True):
        assert_step_layer(step, layer["dockerfile_commands"])
    package = spec["handler"].split(".")[0]
    if package in copied_packages(
        steps
    ):  # already in the image (a build step needed it): Modal does not mount it again
        return
    shipped = [f["path"] for m in sent["mounts"] for f in m.get("files", [])]
    assert any(path.startswith(f"/root/{package}/") for path in shipped), shipped


# --- safety ----------------------------------------------------------------------------------------


def test_missing_secret_in_prod_fails_preflight_and_creates_nothing(project: Path) -> None:
    state = project_state(project, "prod", skip_secret="huggingface")
    with control_plane(state):
        result = deploy(project, "prod", "--yes")
    assert result.exit_code == 1
    assert result.stderr == (
        "modalc: preflight failed; nothing was deployed:\n"
        "  - secret 'huggingface' (used by function predict) does not exist in Modal environment 'prod'; "
        "create it with `modal secret create --env prod huggingface HF_TOKEN=...`\n"
    )
    assert state.deployments == []
    assert state.environments["prod"].get("apps", {}) == {}


def test_secret_without_its_required_keys_fails_preflight(project: Path) -> None:
    state = project_state(project, "dev", skip_secret="huggingface")
    state.add_secret("dev", "huggingface", ["SOMETHING_ELSE"])
    with control_plane(state):
        result = deploy(project, "dev")
    assert result.exit_code == 1
    assert (
        "secret 'huggingface' (used by function predict) in Modal environment 'dev' lacks required keys: HF_TOKEN"
        in result.stderr
    )
    assert state.deployments == []


def test_missing_environment_is_reported(project: Path) -> None:
    state = ControlPlaneState()
    with control_plane(state):
        result = deploy(project, "dev")
    assert result.exit_code == 1
    assert "Modal environment 'dev' does not exist: create it with `modal environment create dev`" in result.stderr


def test_redeploy_without_change_is_a_no_op_and_a_change_redeploys(project: Path) -> None:
    state = project_state(project, "dev")
    with control_plane(state):
        first = deploy(project, "dev")
        second = deploy(project, "dev")
        forced = deploy(project, "dev", "--force")
        manifest = project / "app.toml"
        manifest.write_text(
            manifest.read_text().replace(
                "functions.api = { max_containers = 2 }", "functions.api = { max_containers = 3 }"
            )
        )
        assert run_cli(["build", "app.toml", "--env", "dev"], cwd=project).exit_code == 0
        third = deploy(project, "dev", "--tag", "v2")
    assert first.exit_code == second.exit_code == forced.exit_code == third.exit_code == 0
    assert "sentiment-api: no changes in Modal environment 'dev'" in second.stdout
    assert [d["version"] for d in state.deployments] == [1, 2, 3]
    assert state.deployments[-1]["deployment_tag"] == "v2"
    api = next(f for f in state.deployments[-1]["functions"] if f["name"] == "api")
    assert api["autoscaling"]["max_containers"] == 3
    hashes = [d["tags"]["modalc.module-sha256"] for d in state.deployments]
    assert hashes[0] == hashes[1] != hashes[2]
    digests = [d["tags"]["modalc.deploy-sha256"] for d in state.deployments]
    assert digests[0] == digests[1] != digests[2]


LOOKUPS = ("SecretGetOrCreate", "AppGetOrCreate")  # the preflight's and `App.lookup`'s


def test_preflight_and_the_lookup_of_what_is_deployed_go_out_together(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lookup answers after 0.2 s: one after the other they would never overlap; together they all do."""
    import asyncio
    import time

    from modalc.control_plane.servicer import ControlPlaneServicer

    spans: list[tuple[str, float, float]] = []
    for name in LOOKUPS:
        answer = getattr(ControlPlaneServicer, name)

        async def slow(self: Any, request: Any, answer: Any = answer, name: str = name) -> Any:
            started = time.monotonic()
            await asyncio.sleep(0.2)
            try:
                with self.state.lock:
                    return answer(self, request)
            finally:  # a lookup of what is not deployed answers NOT_FOUND
                spans.append((name, started, time.monotonic()))

        monkeypatch.setattr(ControlPlaneServicer, name, slow)
    manifest = project / "app.toml"  # a third secret, so three lookups precede the deploy
    manifest.write_text(manifest.read_text().replace('secrets = ["hf"]', 'secrets = ["hf", "extra"]', 1))
    manifest.write_text(manifest.read_text() + '\n[secrets.extra]\nname = "extra-keys"\n')
    assert run_cli(["build", "app.toml", "--env", "dev"], cwd=project).exit_code == 0
    state = project_state(project, "dev")
    with control_plane(state):
        result = deploy(project, "dev")
    assert result.exit_code == 0, result.stderr
    first = sorted(spans, key=lambda span: span[1])[:4]
    assert sorted(name for name, _, _ in first) == ["AppGetOrCreate", *["SecretGetOrCreate"] * 3]
    assert max(start for _, start, _ in first) < min(end for _, _, end in first), "a lookup waited for another"


def test_every_missing_secret_is_reported_in_order(project: Path) -> None:
    state = ControlPlaneState()
    state.add_environment("dev")
    with control_plane(state):
        result = deploy(project, "dev")
    assert result.exit_code == 1
    assert result.stderr == (
        "modalc: preflight failed; nothing was deployed:\n"
        "  - secret 'huggingface' (used by function predict) does not exist in Modal environment 'dev'; "
        "create it with `modal secret create --env dev huggingface HF_TOKEN=...`\n"
        "  - secret 'sentiment-api-keys' (used by function predict, function api) does not exist in Modal "
        "environment 'dev'; create it with `modal secret create --env dev sentiment-api-keys API_KEY=...`\n"
    )
    assert state.deployments == []


def test_protected_environment_needs_yes_without_a_terminal(project: Path) -> None:
    state = project_state(project, "prod")
    with control_plane(state):
        refused = deploy(project, "prod")
        assert state.deployments == []
        accepted = deploy(project, "prod", "--yes")
    assert refused.exit_code == 1
    assert "environment 'prod' is protected: pass --yes to deploy without a terminal" in refused.stderr
    assert accepted.exit_code == 0 and len(state.deployments) == 1


def test_stale_committed_module_is_refused(project: Path) -> None:
    manifest = project / "app.toml"
    manifest.write_text(manifest.read_text().replace("scaledown_window = 120", "scaledown_window = 90"))
    state = ControlPlaneState()
    with control_plane(state):
        result = deploy(project, "dev")
    assert result.exit_code == 1
    assert result.stderr.startswith("modalc: generated/app_dev.py is stale")
    assert "Run `modalc build app.toml --env dev`" in result.stderr
    assert state.deployments == []


def test_a_module_cannot_be_deployed_to_another_environment_by_hand(project: Path) -> None:
    """Plain `modal deploy --env dev generated/app_prod.py` must fail before creating anything."""
    import modal

    from modalc.prepare import import_module

    state = ControlPlaneState()
    state.add_environment("dev")
    with control_plane(state):
        modal.config.config.override_locally("environment", "dev")
        with pytest.raises(RuntimeError, match="compiled for Modal environment 'prod'"):
            import_module(project / "generated" / "app_prod.py")
    assert state.deployments == []


# --- plan ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("example", "environment"), CASES, ids=lambda c: getattr(c, "name", c))
def test_plan_json_is_a_golden_file(example: Path, environment: str, update_goldens: bool) -> None:
    result = run_cli(["plan", manifest_of(example).name, "--env", environment, "--json"], cwd=example)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["environment"]["name"] == environment
    assert_golden(PLAN_GOLDENS / f"{example.name}-{environment}.json", result.stdout, update_goldens)


def test_plan_text_names_what_would_be_created() -> None:
    example = REPO / "examples" / "whisper_service"
    result = run_cli(["plan", "--env", "prod"], cwd=example)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        "Plan: deploy whisper-transcriber to Modal environment 'prod' (environment prod, protected)\n"
    )
    assert "  gpu         H100 then A100-80GB\n" in result.stdout
    assert "volume whisper-cache (created if missing); used by class Transcriber" in result.stdout


# --- the README's walkthrough, as a user runs it ------------------------------------------------------


def test_readme_offline_walkthrough(tmp_path: Path) -> None:
    """A control plane process, then `modalc plan` and `modalc deploy` processes for dev and prod."""
    import os
    import socket
    import subprocess
    import sys
    import time

    project = tmp_path / "whisper_service"
    shutil.copytree(REPO / "examples" / "whisper_service", project)
    state_file = tmp_path / "cp-state.json"
    state_file.write_text('{"environments": {"dev": {}, "prod": {}}}')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "modalc.control_plane", "--port", str(port), "--state", str(state_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and server.poll() is None, "control plane did not start"
            time.sleep(0.05)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
        environment.update(
            MODAL_SERVER_URL=f"http://127.0.0.1:{port}",
            MODAL_TOKEN_ID="ak-local",
            MODAL_TOKEN_SECRET="as-local",
            MODAL_CONFIG_PATH=os.devnull,
        )
        modalc = [sys.executable, "-m", "modalc"]

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*modalc, *args], cwd=project, env=environment, capture_output=True, text=True)

        planned = run("plan", "--env", "prod")
        assert planned.returncode == 0, planned.stderr
        assert planned.stdout.startswith("Plan: deploy whisper-transcriber to Modal environment 'prod'")
        dev = run("deploy", "--env", "dev")
        prod = run("deploy", "--env", "prod", "--yes")
        assert dev.returncode == 0, dev.stderr
        assert prod.returncode == 0, prod.stderr
        assert "whisper-transcriber: deployed to Modal environment 'prod'" in prod.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    state = json.loads(state_file.read_text())
    deployed = [(d["app"], d["environment"]) for d in state["deployments"]]
    assert deployed == [("whisper-transcriber", "dev"), ("whisper-transcriber", "prod")]
    gpus = {d["environment"]: d["functions"][0]["gpus"] for d in state["deployments"]}
    assert gpus == {
        "dev": [{"type": "T4", "count": 1}],
        "prod": [{"type": "H100", "count": 1}, {"type": "A100-80GB", "count": 1}],
    }


@pytest.mark.parametrize("answer", [True, False])
def test_protected_environment_asks_at_a_terminal(project: Path, monkeypatch: pytest.MonkeyPatch, answer: bool) -> None:
    import sys

    import click

    questions: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(click, "confirm", lambda text, **kwargs: questions.append(text) or answer)
    state = project_state(project, "prod")
    with control_plane(state):
        result = deploy(project, "prod")
    assert len(questions) == 1 and "to protected environment 'prod'" in questions[0]
    # The question comes after what the deploy would change (here: everything, nothing is deployed yet).
    assert "Changes against Modal environment 'prod', where sentiment-api is not deployed:" in result.stderr
    assert "  + function predict\n" in result.stderr
    if answer:
        assert result.exit_code == 0 and len(state.deployments) == 1
    else:
        assert result.exit_code == 1 and "deploy cancelled; nothing was deployed" in result.stderr
        assert state.deployments == []
