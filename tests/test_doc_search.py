"""examples/doc_search (YAML): derived images, ENTRYPOINT [], a build-time run_function, dockerfile_commands with
context files, a batched class the handlers fan out over, a Dict, a web endpoint and local entrypoints. The
compiled module is imported offline and compared with the same app written by hand against the real SDK."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, import_module_from, run_cli
from modal_introspection import capture, import_with_capture, webhook_fields
from modalc.control_plane import ControlPlaneState, client_for, serve

EXAMPLE = EXAMPLES / "doc_search"
PACKAGES = ["search"]


@pytest.fixture(scope="module")
def compiled():
    return import_with_capture(EXAMPLE / "generated" / "app_prod.py", "prod", PACKAGES)


def _hand_written_images():
    """The images as a Modal user writes them, without modalc."""
    import modal

    with capture() as hand:
        python = (
            modal.Image.from_registry("python:3.12-slim-bookworm")
            .entrypoint([])
            .pip_install("numpy<2")
            .env({"HF_HOME": "/opt/hf"})
        )
        indexer = (
            python.pip_install("fastapi[standard]==0.115.5")
            .dockerfile_commands(
                ["COPY /stopwords.txt /opt/search/stopwords.txt", "ENV STOPWORDS=/opt/search/stopwords.txt"],
                context_files={"/stopwords.txt": str(EXAMPLE / "config" / "stopwords.txt")},
                context_dir=EXAMPLE,
            )
            .add_local_python_source("search")
        )
        from search.model import fetch

        embedder = (
            python.pip_install("sentence-transformers==3.3.1")
            .add_local_python_source("search", copy=True)
            .run_function(fetch, timeout=900, kwargs={"model": "sentence-transformers/all-MiniLM-L6-v2"})
        )
    return hand, {"python": python, "indexer": indexer, "embedder": embedder}


def test_images_have_the_layers_the_hand_written_calls_build(compiled) -> None:
    module, generated = compiled
    hand, images = _hand_written_images()
    for alias in ("python", "indexer", "embedder"):
        assert generated.layers(_raw(module.IMAGES[alias])) == hand.layers(_raw(images[alias])), alias
    (built, by_hand) = ([r for r in c.images.values() if r.get("build_function")] for c in (generated, hand))
    assert [r["build_function_input"] for r in built] == [r["build_function_input"] for r in by_hand]


def test_derived_images_start_from_the_same_parent_object(compiled) -> None:
    module, generated = compiled
    parent = _raw(module.IMAGES["python"])
    for alias in ("embedder", "indexer"):
        image = _raw(module.IMAGES[alias])
        while image is not parent and image is not None:
            recorded = generated.images.get(id(image))
            image = next(iter(recorded["base_images"].values())) if recorded else image._deps()[0]
        assert image is parent, alias


def test_the_build_function_runs_the_handler_with_its_kwargs(compiled, monkeypatch) -> None:
    module, generated = compiled
    (builder,) = [r for r in generated.registered if r.settings.get("is_builder_function")]
    assert builder.name == "_build_search_model_fetch" and builder.settings["timeout"] == 900
    import search.model

    monkeypatch.setattr(search.model, "fetch", lambda model: f"fetched {model}")
    assert module._build_search_model_fetch(model="m") == "fetched m"


def test_functions_and_the_batched_class_match_their_manifest(compiled) -> None:
    module, generated = compiled
    registered = generated.by_name()
    query = registered["query"].settings
    assert webhook_fields(query["webhook_config"])["method"] == "GET"
    assert webhook_fields(query["webhook_config"])["requested_suffix"] == "doc-search"
    query_info = module.query.info()
    assert query_info.web_info is not None and query_info.web_info.method == "GET"
    assert query_info.image_info.image_name is None or "indexer" not in query_info.image_info.image_name
    assert (query_info.timeout, module.build_index.info().timeout) == (300, 1800)
    embedder = registered["Embedder"].settings
    assert (embedder["batch_max_size"], embedder["batch_wait_ms"]) == (32, 100)
    assert (embedder["min_containers"], embedder["max_containers"]) == (1, 8)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "doc_search"
    shutil.copytree(EXAMPLE, destination)
    return destination


def _state() -> ControlPlaneState:
    state = ControlPlaneState()
    state.add_environment("dev")
    return state


def test_index_then_query_through_the_batched_embedder(project: Path) -> None:
    module = import_module_from(project / "generated" / "app_dev.py", "dev", PACKAGES)
    with serve(_state(), execute=True) as handle, client_for(handle, environment="dev"):
        with module.app.run():
            assert module.build_index.remote() == 4
            # A web endpoint takes no .remote(): Modal serves it by URL. Called here, it still embeds remotely.
            hits = module.query.local("Modal runs Python functions on GPUs in the cloud.", 1)
    assert hits[0]["document"] == "Modal runs Python functions on GPUs in the cloud."
    assert hits[0]["score"] == pytest.approx(1.0)


def test_entrypoints_from_the_command_line(project: Path) -> None:
    with serve(_state(), execute=True) as handle, client_for(handle):
        indexed = run_cli(["run", "app.yaml", "index_now", "--env", "dev"], cwd=project)
        embedded = run_cli(["run", "embed_samples", "--env", "dev"], cwd=project)
    assert indexed.exit_code == 0, indexed.stderr
    assert json.loads(indexed.stdout) == {"output": 4}
    assert embedded.exit_code == 0, embedded.stderr
    records = [json.loads(line) for line in embedded.stdout.splitlines()]
    assert [r["input"] for r in records] == [json.loads(line) for line in (project / "data/sentences.jsonl").open()]
    assert all(len(r["output"]) == 5 for r in records)


def test_a_local_entrypoint_runs_your_code_here_with_the_app_running(project: Path) -> None:
    with serve(_state(), execute=True) as handle, client_for(handle):
        asked = run_cli(
            ["run", "app.yaml", "ask", "--env", "dev", "--question", "A Dict holds keys", "--k", "1"], cwd=project
        )
        missing = run_cli(["run", "ask", "--env", "dev"], cwd=project)
        misused = run_cli(["run", "ask", "--env", "dev", "--inputs", "data/sentences.jsonl"], cwd=project)
    assert asked.exit_code == 0, asked.stderr
    # Ranked by the offline stand-in embedding (letter frequencies of a to e), which scores this one first.
    assert json.loads(asked.stdout) == {"output": ["Modal runs Python functions on GPUs in the cloud."]}
    assert "indexed 4 documents" in asked.stderr
    assert (missing.exit_code, missing.stderr.strip()) == (1, "modalc: ask needs --question")
    assert misused.exit_code == 1
    assert "ask runs search.demo:ask once: pass its arguments as options" in misused.stderr


def test_an_async_local_entrypoint_is_awaited(project: Path) -> None:
    with (project / "search" / "demo.py").open("a") as demo:
        demo.write("\n\nasync def count() -> int:\n    return await modalc_app.build_index.remote.aio()\n")
    manifest = (project / "app.yaml").read_text()
    (project / "app.yaml").write_text(manifest.replace("  ask:", "  count:\n    local: search.demo:count\n  ask:"))
    assert run_cli(["build"], cwd=project).exit_code == 0
    assert "async def count() -> None:" in (project / "generated" / "app_dev.py").read_text()
    with serve(_state(), execute=True) as handle, client_for(handle):
        counted = run_cli(["run", "count", "--env", "dev"], cwd=project)
    assert counted.exit_code == 0, counted.stderr
    assert json.loads(counted.stdout) == {"output": 4}


def test_the_deploy_records_every_layer_the_manifest_declares(project: Path) -> None:
    state = _state()
    with serve(state) as handle, client_for(handle):
        deployed = run_cli(["deploy", "--env", "dev"], cwd=project)
    assert deployed.exit_code == 0, deployed.stderr
    (deployment,) = state.deployments
    commands = [
        c for image in deployment["images"].values() for layer in image["layers"] for c in layer["dockerfile_commands"]
    ]
    assert "ENTRYPOINT []" in commands and "ENV STOPWORDS=/opt/search/stopwords.txt" in commands
    assert any(layer["build_function"] for image in deployment["images"].values() for layer in image["layers"])


def _raw(image):
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(image)
