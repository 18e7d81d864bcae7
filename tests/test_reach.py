"""What real Modal apps use, declared in examples/llm_platform, checked against what the real SDK builds:
image steps (ENTRYPOINT [], dockerfile_commands, run_function), derived images, clusters, http_server classes,
experimental options, secrets in another environment, queues and dicts, several apps, and the entrypoint kinds."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES, import_module_from, run_cli
from modal_introspection import import_with_capture, raw_function
from modalc.control_plane import ControlPlaneState, client_for, serve

EXAMPLE = EXAMPLES / "llm_platform"
PACKAGES = ["platform_app", "weights"]


@pytest.fixture(scope="module", params=["dev", "prod"])
def captured(request: pytest.FixtureRequest):
    environment = request.param
    module, capture = import_with_capture(EXAMPLE / "generated" / f"app_{environment}.py", environment, PACKAGES)
    return environment, module, capture


def test_the_cluster_the_http_server_and_the_experimental_options(captured) -> None:
    environment, module, capture = captured
    registered = capture.by_name()
    finetune = module.finetune.info()
    assert (finetune.cluster_info.size, finetune.cluster_info.rdma) == (2, True)
    assert finetune.gpus == ([("A100-80GB", 8)] if environment == "dev" else [("H100", 8)])
    server = registered["Server"].settings
    assert server["http_config"].port == 8000 and list(server["http_config"].proxy_regions) == ["us-east"]
    assert (server["http_config"].startup_timeout, server["http_config"].exit_grace_period) == (600, 10)
    assert (server["max_concurrent_inputs"], server["target_concurrent_inputs"]) == (None, 32)
    assert server["experimental_options"] == {"enable_gpu_snapshot": "True"}  # Modal sends them as strings
    assert server["enable_memory_snapshot"] is True
    assert registered["Generator"].settings["max_concurrent_inputs"] == 8


def test_a_secret_from_another_environment_and_the_queue_and_dict(captured) -> None:
    _, module, _ = captured
    assert module.finetune.info().secrets == ["modal.Secret.from_name('huggingface', environment_name='shared')"]
    assert type(module.QUEUES["reports"]).__name__ == "Queue" and type(module.DICTS["status"]).__name__ == "Dict"


def test_derived_images_share_their_parent_layers(captured) -> None:
    _, module, capture = captured
    registered = capture.by_name()
    serving = capture.layers(registered["Generator"].settings["image"])
    trainer = capture.layers(registered["finetune"].settings["image"])
    cuda = [("dockerfile", ["FROM base", "ENTRYPOINT []"])]
    assert serving[: len(cuda)] == trainer[: len(cuda)] == cuda
    # The same image objects, not copies: Modal builds the shared layers once.
    from modal._utils.async_utils import synchronizer

    parent = synchronizer._translate_in(module.IMAGES["cuda"])
    assert _chain_contains(capture, registered["Generator"].settings["image"], parent)
    assert _chain_contains(capture, registered["finetune"].settings["image"], parent)


def _chain_contains(capture, image, wanted) -> bool:
    while image is not None:
        if image is wanted:
            return True
        recorded = capture.images.get(id(image))
        if recorded is not None:
            image = next(iter((recorded.get("base_images") or {}).values()), None)
        elif image._deps is not None:
            image = image._deps()[0]  # a mount layer: its base is the first dependency
        else:
            image = None
    return False


def test_run_function_builds_with_a_wrapper_that_calls_the_handler(captured, monkeypatch) -> None:
    _, module, capture = captured
    builders = [r for r in capture.registered if r.settings.get("is_builder_function")]
    assert [r.name for r in builders] == ["_build_weights_download_download"]
    builder = builders[0].settings
    assert builder["timeout"] == 1800 and list(builder["volumes"]) == ["/models"]
    assert [s._name for s in builder["secrets"] if getattr(s, "_name", None)] == ["huggingface"]
    serving = capture.layers(capture.by_name()["Generator"].settings["image"])
    commands = [c for kind, layer in serving if kind == "dockerfile" for c in layer if not c.startswith("FROM ")]
    assert "COPY . /" in commands  # the weights package, copied in before the build step runs it
    import weights.download

    monkeypatch.setattr(weights.download, "download", lambda repo: f"downloaded {repo}")
    assert (
        module._build_weights_download_download(repo="Qwen/Qwen2.5-7B-Instruct")
        == "downloaded Qwen/Qwen2.5-7B-Instruct"
    )


def test_dockerfile_commands_take_their_context_files_from_the_manifest_directory(captured) -> None:
    _, _, capture = captured
    recorded = [r for r in capture.images.values() if r.get("dockerfile_function")]
    spec = next(
        r["dockerfile_function"]("2025.06")
        for r in recorded
        if "COPY /train.yaml /etc/train.yaml" in r["dockerfile_function"]("2025.06").commands
    )
    assert spec.context_files == {"/train.yaml": str(EXAMPLE / "config" / "train.yaml")}


def test_the_batch_app_is_its_own_app_and_deploys_with_the_main_one(captured) -> None:
    _, module, capture = captured
    registered = capture.by_name()
    assert {
        n for n, r in registered.items() if r.settings["app"] and r.settings["app"].name == "llm-platform-batch"
    } == {
        "nightly_eval",
        "score",
        "notify",
    }
    assert module.app_batch.name == "llm-platform-batch"
    included = set(module.app._local_state.functions)  # App.include copied them into the main app
    assert {"nightly_eval", "score", "notify", "finetune"} <= included


# --- deploys through the real client ----------------------------------------------------------------


def _seeded(environment: str) -> ControlPlaneState:
    state = ControlPlaneState()
    state.add_environment(environment)
    state.add_secret("shared", "huggingface", ["HF_TOKEN"])
    return state


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "llm_platform"
    shutil.copytree(EXAMPLE, destination)
    return destination


def test_deploy_the_main_app_then_the_batch_app_alone(project: Path) -> None:
    state = _seeded("dev")
    with serve(state) as handle, client_for(handle):
        main = run_cli(["deploy", "--env", "dev"], cwd=project)
        batch = run_cli(["deploy", "--env", "dev", "--app", "batch"], cwd=project)
    assert main.exit_code == 0, main.stderr
    assert batch.exit_code == 0, batch.stderr
    platform, evaluation = state.deployments
    assert platform["app"] == "llm-platform"
    assert {f["name"] for f in platform["functions"]} == {
        "finetune",
        "nightly_eval",
        "score",
        "notify",
        "Server",
        "Generator",
    }
    assert evaluation["app"] == "llm-platform-batch"
    assert {f["name"] for f in evaluation["functions"]} == {"nightly_eval", "score", "notify"}
    secrets = {s["name"]: s["environment"] for f in platform["functions"] for s in f["secrets"] if "name" in s}
    assert secrets == {"huggingface": "shared"}
    layers = [layer for image in platform["images"].values() for layer in image["layers"]]
    assert any(layer["build_function"] for layer in layers)
    assert any(c == "ENTRYPOINT []" for layer in layers for c in layer["dockerfile_commands"])


def test_plan_names_the_app_it_plans(project: Path) -> None:
    result = run_cli(["plan", "--env", "prod", "--app", "batch", "--json", "--offline"], cwd=project)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["app"] == "llm-platform-batch"
    assert sorted(f["name"] for f in plan["deployment"]["functions"]) == ["nightly_eval", "notify", "score"]
    unknown = run_cli(["plan", "--env", "prod", "--app", "nope", "--offline"], cwd=project)
    assert unknown.exit_code == 1 and "declares no app 'nope' under [apps] (declared: batch)" in unknown.stderr


# --- entrypoints and handler calls, executed offline --------------------------------------------------


def test_the_nightly_evaluation_fans_out_and_reports(project: Path) -> None:
    module = import_module_from(project / "generated" / "app_dev.py", "dev", PACKAGES)
    with serve(_seeded("dev"), execute=True) as handle, client_for(handle, environment="dev"):
        with module.app.run():
            average = module.nightly_eval.remote()
            import platform_app.jobs as jobs

            assert average == pytest.approx(sum(min(1.0, len(p) / 25) for p in jobs.PROMPTS) / 3)
            assert module.QUEUES["reports"].get(timeout=5) == {"average": average}
            assert module.DICTS["status"]["last_average"] == average


def test_run_a_method_once_with_command_line_arguments(project: Path) -> None:
    with serve(_seeded("dev"), execute=True) as handle, client_for(handle):
        result = run_cli(
            ["run", "app.toml", "complete_once", "--env", "dev", "--prompt", "Hi", "--max-tokens", "8"], cwd=project
        )
        bad = run_cli(["run", "complete_once", "--env", "dev", "--max-tokens", "many", "--prompt", "x"], cwd=project)
        missing = run_cli(["run", "complete_once", "--env", "dev"], cwd=project)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"output": "[Qwen/Qwen2.5-7B-Instruct] Hi"}
    assert (bad.exit_code, bad.stderr.strip()) == (1, "modalc: --max-tokens: 'many' is not a valid int")
    assert (missing.exit_code, missing.stderr.strip()) == (1, "modalc: complete_once needs --prompt")


def test_map_over_a_method_and_spawn_on_the_deployed_app(project: Path) -> None:
    with serve(_seeded("dev"), execute=True) as handle, client_for(handle):
        mapped = run_cli(["run", "complete_all", "--env", "dev"], cwd=project)
        assert run_cli(["deploy", "--env", "dev"], cwd=project).exit_code == 0
        spawned = run_cli(["run", "start_finetune", "--env", "dev", "--dataset", "evals"], cwd=project)
    assert mapped.exit_code == 0, mapped.stderr
    outputs = [json.loads(line)["output"] for line in mapped.stdout.splitlines()]
    assert outputs[0] == "[Qwen/Qwen2.5-7B-Instruct] Write a haiku about GPUs."
    assert spawned.exit_code == 0, spawned.stderr
    assert json.loads(spawned.stdout)["function_call_id"].startswith("fc-")


def test_local_calls_reach_the_handlers(project: Path) -> None:
    module = import_module_from(project / "generated" / "app_prod.py", "prod", PACKAGES)
    assert module.score.local("x" * 50) == 1.0
    assert module.finetune.local("evals", 2) == {"dataset": "evals", "epochs": 2, "rank": 0}
    assert raw_function(module.notify)("hello") == "hello"  # the generated wrapper calls the handler
    assert sys.modules["modalc_app"] is module
