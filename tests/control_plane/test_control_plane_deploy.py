"""Deploy a broad hand-written app to "dev" and "prod", in-process and with `modal deploy`,
and check what the fake control plane recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modalc.control_plane import ControlPlaneHandle, serve

APP = "cp-demo"


@pytest.fixture(scope="module")
def deployed(kit: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlaneHandle, Path]]:
    """One server, the app deployed in-process to both environments (tags dev-1, prod-1)."""
    path = kit.write_app(tmp_path_factory.mktemp("app"), APP)
    with serve(kit.seeded_state()) as handle:
        for env in kit.environments:
            kit.deploy(handle, path, env, tag=f"{env}-1")
        yield handle, path


def first_record(handle: ControlPlaneHandle, env: str) -> dict[str, Any]:
    return handle.state.deployments_for(APP, env)[0]


def functions(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in record["functions"]}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_record_per_publish_with_app_tags(deployed: tuple[ControlPlaneHandle, Path], env: str) -> None:
    handle, _ = deployed
    record = first_record(handle, env)
    assert record["environment"] == env
    assert record["version"] == 1
    assert record["deployment_tag"] == f"{env}-1"
    assert record["tags"] == {"team": "ml", "tier": "gold"}
    assert sorted(functions(record)) == [
        "Embedder",
        "Model",
        "api",
        "hello",
        "legacy",
        "nightly",
        "refresh",
        "server",
        "train",
    ]
    app = handle.state.app(env, APP)
    assert app is not None and app["state"] == "deployed"
    assert app["tags"] == record["tags"]


def test_function_resources_gpu_fallbacks_and_placement(
    deployed: tuple[ControlPlaneHandle, Path],
) -> None:
    train = functions(first_record(deployed[0], "dev"))["train"]
    assert train["kind"] == "function"
    assert [g["type"] for g in train["gpus"]] == ["H100", "A100-80GB", "L40S"]
    assert train["cpu"] == 4.0
    assert train["memory_mb"] == [2048, 8192]
    assert train["ephemeral_disk_mb"] == 50 * 1024
    assert (train["timeout_secs"], train["startup_timeout_secs"]) == (900, 120)
    assert (train["regions"], train["cloud"], train["nonpreemptible"]) == (
        ["us-east"],
        "aws",
        True,
    )


def test_classes_parameters_methods_batching(
    deployed: tuple[ControlPlaneHandle, Path],
) -> None:
    fns = functions(first_record(deployed[0], "prod"))
    model = fns["Model"]
    assert model["kind"] == "class"
    assert model["gpus"] == [{"type": "A10G", "count": 1}]
    assert model["class"]["parameters"] == [
        {"name": "variant", "type": "string", "has_default": True, "default": "small"},
        {"name": "replicas", "type": "int", "has_default": True, "default": 2},
    ]
    methods = {m["name"]: m for m in model["class"]["methods"]}
    assert sorted(methods) == ["infer", "predict"]
    assert methods["predict"]["webhook"] is None
    infer = methods["infer"]["webhook"]
    assert (infer["type"], infer["method"], infer["docs"]) == (
        "fastapi_endpoint",
        "POST",
        True,
    )
    assert infer["url"] == "https://modalc-local-prod--cp-demo-model-infer.modal.run"
    assert model["concurrency"] == {"max_inputs": 16, "target_inputs": 12}
    assert model["autoscaling"] == {
        "min_containers": 1,
        "max_containers": 4,
        "buffer_containers": 1,
        "scaledown_window": 300,
    }
    assert model["memory_snapshot"] is True
    assert model["secrets"] == [{"name": "api-keys", "environment": "prod"}]
    assert fns["Embedder"]["batching"] == {"max_size": 32, "wait_ms": 50}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_web_endpoints_get_environment_specific_urls(deployed: tuple[ControlPlaneHandle, Path], env: str) -> None:
    fns = functions(first_record(deployed[0], env))
    hooks = {name: fns[name]["webhook"] for name in ("hello", "api", "legacy", "server")}
    assert {n: h["type"] for n, h in hooks.items()} == {
        "hello": "fastapi_endpoint",
        "api": "asgi_app",
        "legacy": "wsgi_app",
        "server": "web_server",
    }
    assert hooks["hello"]["label"] == "cp-demo-hello"
    assert hooks["hello"]["requires_proxy_auth"] is True
    assert hooks["hello"]["url"] == f"https://modalc-local-{env}--cp-demo-hello.modal.run"
    assert hooks["api"]["url"] == f"https://modalc-local-{env}--cp-demo-api.modal.run"
    assert (hooks["server"]["port"], hooks["server"]["startup_timeout"]) == (8000, 30.0)
    assert fns["train"]["webhook"] is None


def test_schedules_retries_volumes_and_bucket_mounts(
    deployed: tuple[ControlPlaneHandle, Path],
) -> None:
    fns = functions(first_record(deployed[0], "dev"))
    nightly, refresh = fns["nightly"], fns["refresh"]
    assert nightly["schedule"] == {"cron": "0 3 * * *", "timezone": "Europe/Paris"}
    assert nightly["retries"] == {
        "retries": 4,
        "backoff_coefficient": 2.0,
        "initial_delay_ms": 2000,
        "max_delay_ms": 60000,
    }
    assert refresh["schedule"] == {"period": {"hours": 6}}
    assert refresh["retries"]["retries"] == 2
    assert nightly["volumes"] == [
        {
            "name": "datasets",
            "environment": "dev",
            "mount_path": "/datasets",
            "read_only": True,
            "sub_path": None,
        },
        {
            "name": "models",
            "environment": "dev",
            "mount_path": "/models",
            "read_only": False,
            "sub_path": None,
        },
    ]
    [bucket] = nightly["cloud_bucket_mounts"]
    assert bucket["bucket_name"] == "training-data"
    assert bucket["read_only"] is True
    assert bucket["secret"] == {"name": "aws-creds", "environment": "dev"}
    assert sorted(deployed[0].state.environments["dev"]["volumes"]) == [
        "datasets",
        "models",
    ]


def test_secrets_are_named_and_values_never_stored(deployed: tuple[ControlPlaneHandle, Path], kit: Any) -> None:
    handle, _ = deployed
    train = functions(first_record(handle, "prod"))["train"]
    assert train["secrets"] == [
        {"name": "api-keys", "environment": "prod"},
        {"inline_keys": ["INLINE_TOKEN"]},
        {"inline_keys": ["FEATURE_FLAG"]},
    ]
    assert kit.inline_secret_value not in handle.state.to_json()
    assert handle.state.environments["prod"]["secrets"]["api-keys"] == {"keys": ["API_KEY", "API_URL"]}


def test_image_layers_and_mounts(deployed: tuple[ControlPlaneHandle, Path]) -> None:
    record = first_record(deployed[0], "dev")
    fns = functions(record)
    image = record["images"][fns["api"]["image"]]
    assert image["python_version"].startswith("3.12")
    commands = [layer["dockerfile_commands"] for layer in image["layers"]]
    assert image["base_image"].startswith("python:3.12")
    assert commands[0][0] == f"FROM {image['base_image']}"
    flat = [c for layer in commands for c in layer]
    for expected in (
        "RUN apt-get install -y curl",
        "RUN python -m pip install numpy==2.1.0",
        "RUN echo built > /built.txt",
        "ENV APP_MODE=test",
        "WORKDIR /srv",
        "COPY . /",
    ):
        assert expected in flat
    assert any("uv pip install" in c and "pydantic==2.9.0" in c for c in flat)
    copy_layer = image["layers"][-1]
    assert copy_layer["context_mount"]["files"][0]["path"] == "/srv/config.json"
    cuda = record["images"][fns["train"]["image"]]
    assert cuda["base_image"] == "nvidia/cuda:12.4.0-base-ubuntu22.04"
    # add_python= copies in a standalone build, whose mount name gives the version.
    assert cuda["python_version"].startswith("3.11")
    copied = [[f["path"] for f in layer["context_mount"]["files"]] for layer in cuda["layers"][1:]]
    assert copied == [
        ["/opt/assets/labels.txt"],
        ["/root/cp_helpers/__init__.py", "/root/cp_helpers/text.py"],
    ]
    conda = record["images"][fns["Embedder"]["image"]]
    assert conda["base_image"].startswith("mambaorg/micromamba")
    assert conda["python_version"] == "3.11"
    files = {f["path"]: f["size"] for m in fns["api"]["mounts"] for f in m.get("files") or []}
    # The empty __init__.py is uploaded as present-but-empty data and must be kept.
    assert files["/root/cp_helpers/__init__.py"] == 0
    assert files["/root/cp_helpers/text.py"] > 0
    assert files["/srv/assets/labels.txt"] == 8
    assert "/root/app.py" in files


def test_cli_deploy_records_the_same_as_in_process(
    deployed: tuple[ControlPlaneHandle, Path], kit: Any, tmp_path: Path
) -> None:
    handle, path = deployed
    for env in kit.environments:
        result = kit.cli_deploy(handle, path, env, tmp_path / env, "--tag", f"{env}-cli")
        assert result.returncode == 0, result.stderr
        # The deploy output lists every web URL the server assigned.
        assert f"https://modalc-local-{env}--cp-demo-api.modal.run" in result.stdout
        assert f"https://modalc-local-{env}--cp-demo-model-infer.modal.run" in result.stdout
        records = handle.state.deployments_for(APP, env)
        cli, in_process = records[-1], records[0]
        assert cli["version"] == in_process["version"] + 1
        assert cli["deployment_tag"] == f"{env}-cli"
        strip = lambda r: json.dumps({**r, "version": 0, "deployment_tag": None}, sort_keys=True)  # noqa: E731
        assert strip(cli) == strip(in_process)
    assert "AppGetLayout" in handle.calls
