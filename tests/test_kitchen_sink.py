"""One manifest with every image base, step kind, mount kind and endpoint kind, through every tier:
golden modules, the real SDK importing them, a deploy through the real client, and plain `modal deploy`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, assert_golden, run_cli
from modal_introspection import import_with_capture, schedule_fields, webhook_fields
from modalc.control_plane import ControlPlaneState, client_environ, client_for, serve
from modalc.formatting import black_formatted
from modalc.pipeline import compile_manifest

FIXTURE = REPO / "tests" / "fixtures" / "kitchen_sink"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "kitchen_sink"
    shutil.copytree(FIXTURE, destination)
    return destination


def seeded(environment: str) -> ControlPlaneState:
    state = ControlPlaneState()
    state.add_environment(environment)
    state.add_secret(environment, "sink-api", ["API_TOKEN"])
    state.add_secret(environment, "sink-registry", ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"])
    state.add_secret(environment, "sink-aws", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
    state.add_volume(environment, "sink-data")
    return state


def test_goldens_and_black(update_goldens: bool) -> None:
    result = compile_manifest(FIXTURE / "app.toml", display_name="app.toml")
    assert result.ok, [d.render() for d in result.diagnostics]
    for path, source in result.outputs.items():
        assert_golden(path, source, update_goldens)
        assert black_formatted(source) == source


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_sdk_registers_every_kind(project: Path, environment: str) -> None:
    assert run_cli(["build"], cwd=project).exit_code == 0
    _, captured = import_with_capture(project / "generated" / f"app_{environment}.py", environment, ["sink"])
    registered = captured.by_name()
    expected = {"every_setting", "gpu_image", "from_dockerfile", "server", "Model"}
    # `web = false` in dev switches the WSGI app off: with nothing left to serve, it is not deployed there.
    assert set(registered) == expected | ({"wsgi"} if environment == "prod" else set())
    every = registered["every_setting"].settings
    assert every["gpu"] == ["H100:2", "A100-80GB"] and every["cpu"] == (1.0, 2.0) and every["memory"] == (1024, 4096)
    assert every["region"] == ["us-east", "us-west"] and every["cloud"] == "aws"
    assert registered["from_dockerfile"].settings["nonpreemptible"] and not every["nonpreemptible"]
    assert type(every["volumes"]["/raw"]).__name__ == "_CloudBucketMount"
    assert every["volumes"]["/raw"].bucket_name == "sink-raw" and every["volumes"]["/raw"].read_only
    server = webhook_fields(registered["server"].settings["webhook_config"])
    assert server["type"] == "WEBHOOK_TYPE_WEB_SERVER" and server["web_server_port"] == 8000
    schedule = schedule_fields(registered["from_dockerfile"].settings["schedule"])
    assert schedule == (
        None if environment == "dev" else {"cron": {"cronString": "*/15 * * * *", "timezone": "America/New_York"}}
    )
    model = registered["Model"].settings
    assert model["enable_memory_snapshot"] and model["max_concurrent_inputs"] == 4


def test_deploy_through_the_real_client(project: Path) -> None:
    assert run_cli(["build"], cwd=project).exit_code == 0
    state = seeded("prod")
    with serve(state) as handle, client_for(handle):
        result = run_cli(["deploy", "--env", "prod", "--yes"], cwd=project)
    assert result.exit_code == 0, result.stderr
    (record,) = state.deployments
    functions = {f["name"]: f for f in record["functions"]}
    bases = {image["base_image"] for image in record["images"].values()}
    assert {
        "mambaorg/micromamba:2.1.1-debian12-slim",
        "nvidia/cuda:12.4.0-base-ubuntu22.04",
        "python:3.11-slim",
    } <= bases
    assert functions["every_setting"]["cloud_bucket_mounts"][0]["secret"] == {"name": "sink-aws", "environment": "prod"}
    assert [g["type"] for g in functions["every_setting"]["gpus"]] == ["H100", "A100-80GB"]
    methods = {m["name"]: m for m in functions["Model"]["class"]["methods"]}
    assert methods["http"]["webhook"]["requires_proxy_auth"] is True and methods["app"]["webhook"]["type"] == "asgi_app"
    assert "  Model.http: https://" in result.stdout


def test_plain_modal_deploy_of_a_generated_module(project: Path, tmp_path: Path) -> None:
    """`modal deploy --env dev generated/app_dev.py` works as is; the prod module refuses the dev environment."""
    assert run_cli(["build"], cwd=project).exit_code == 0
    state = seeded("dev")
    with serve(state) as handle:
        environment = {**client_environ(handle, tmp_path, environment=None), "COLUMNS": "250"}
        environment.pop("PYTHONPATH", None)

        def modal_deploy(module: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "modal", "deploy", "--env", "dev", module],
                cwd=project,
                env=environment,
                capture_output=True,
                text=True,
                timeout=120,
            )

        deployed = modal_deploy("generated/app_dev.py")
        refused = modal_deploy("generated/app_prod.py")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert [(d["app"], d["environment"]) for d in state.deployments] == [("kitchen-sink", "dev")]
    assert refused.returncode != 0
    assert "is compiled for Modal environment 'prod', not 'dev'" in refused.stdout + refused.stderr
    assert os.path.exists(project / "generated" / "app_prod.py")
