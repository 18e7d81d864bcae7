"""tests/fixtures/build_options: the options of Modal's image builders (env, secrets, gpu, force_build, volumes,
ignore, uv's requirements and version), the AWS and GCP registry bases, a volume's file system version, the
settings that restrict and route a function, and a function on an image others build on. The compiled module is
imported offline and compared layer by layer with the same calls written by hand."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO, assert_golden, import_module_from, run_cli
from modal_introspection import capture, import_with_capture
from modalc.control_plane import ControlPlaneState, client_for, serve
from modalc.pipeline import compile_manifest

FIXTURE = REPO / "tests" / "fixtures" / "build_options"


@pytest.fixture(scope="module")
def compiled():
    return import_with_capture(FIXTURE / "generated" / "app_dev.py", "dev", ["tools"])


def test_golden(update_goldens: bool) -> None:
    result = compile_manifest(FIXTURE / "app.toml", display_name="app.toml")
    assert result.ok, [d.render() for d in result.diagnostics]
    for path, source in result.outputs.items():
        assert_golden(path, source, update_goldens)


def _by_hand() -> tuple[Any, dict[str, Any]]:
    import modal
    from tools.build import prepare

    with capture() as hand:
        data = modal.Volume.from_name("bo-data", create_if_missing=True, version=2)
        token = modal.Secret.from_name("bo-token")
        tools = (
            modal.Image.debian_slim(python_version="3.12")
            .apt_install("git", force_build=True, env={"DEBIAN_FRONTEND": "noninteractive"}, secrets=[token], gpu="T4")
            .pip_install("httpx==0.27.2", env={"PIP_NO_CACHE_DIR": "1"})
            .uv_pip_install("rich==13.9.4", requirements=[str(FIXTURE / "requirements.txt")], uv_version="0.5.4")
            .run_commands("ls /data", env={"A": "1"}, secrets=[token], volumes={"/data": data}, force_build=True)
            .dockerfile_commands(
                ["COPY tools /src/tools"], env={"B": "2"}, context_dir=FIXTURE, force_build=True, ignore=["*.md"]
            )
            .add_local_python_source("tools", copy=True)
            .run_function(prepare, env={"C": "3"}, force_build=True, kwargs={"n": 2})
            .add_local_python_source("tools", ignore=["*.txt"])
        )
        ecr = modal.Image.from_aws_ecr(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/base:1.0",
            secret=modal.Secret.from_name("bo-aws"),
            force_build=True,
            add_python="3.12",
        ).add_local_python_source("tools")
        gcp = modal.Image.from_gcp_artifact_registry(
            "us-docker.pkg.dev/project/repo/base:1.0", secret=modal.Secret.from_name("bo-gcp")
        ).add_local_python_source("tools")
        slim = modal.Image.debian_slim(python_version="3.12")
        child = slim.pip_install("six==1.16.0").add_local_python_source("tools")
        slim = slim.add_local_python_source("tools")
    return hand, {"tools": tools, "ecr": ecr, "gcp": gcp, "slim": slim, "child": child}


@pytest.mark.parametrize("alias", ["tools", "ecr", "gcp", "slim", "child"])
def test_every_layer_is_what_the_hand_written_calls_build(compiled, alias: str) -> None:
    module, generated = compiled
    hand, images = _by_hand()
    assert generated.layer_facts(_raw(module.IMAGES[alias])) == hand.layer_facts(_raw(images[alias]))


def test_the_options_reached_the_layers(compiled) -> None:
    module, generated = compiled
    layers = generated.layer_facts(_raw(module.IMAGES["tools"]))
    apt, pip, uv, run, dockerfile = layers[1:6]
    # Modal passes a step's env to its build as an unnamed secret, so it is no ENV line of the image.
    assert apt["secrets"] == ["Secret.from_dict([DEBIAN_FRONTEND])", "bo-token"]
    assert (apt["force_build"], apt["gpu"]["gpuType"]) == (True, "T4")
    assert not any(c.startswith("ENV ") for c in apt["commands"])
    assert "COPY --from=ghcr.io/astral-sh/uv:0.5.4 /uv /.uv/uv" in uv["commands"]
    assert uv["context_files"] == ["/.0_requirements.txt"]  # the requirements file travels with the build
    assert run["volumes"] == [("/data", "bo-data")] and run["force_build"]
    assert dockerfile["commands"][1:] == ["COPY tools /src/tools"] and dockerfile["force_build"]
    ecr = generated.layer_facts(_raw(module.IMAGES["ecr"]))[0]
    assert ecr == {
        "base": "Image.from_registry('123456789012.dkr.ecr.us-east-1.amazonaws.com/base:1.0')",
        "force_build": True,
    }


def test_a_deploy_pulls_the_cloud_registries_with_their_secrets(tmp_path: Path) -> None:
    project = tmp_path / "build_options"
    shutil.copytree(FIXTURE, project)
    state = ControlPlaneState()
    for name in ("bo-token", "bo-aws", "bo-gcp"):
        state.add_secret("dev", name, [])
    with serve(state) as handle, client_for(handle):
        result = run_cli(["deploy", "--env", "dev"], cwd=project)
    assert result.exit_code == 0, result.stderr
    (record,) = state.deployments
    functions = {f["name"]: f for f in record["functions"]}
    registries = {
        name: next(
            layer["registry"] for layer in record["images"][functions[name]["image"]]["layers"] if layer["registry"]
        )
        for name in ("on_ecr", "on_gcp")
    }
    assert registries == {
        "on_ecr": {"auth_type": "REGISTRY_AUTH_TYPE_AWS", "secret": {"name": "bo-aws", "environment": "dev"}},
        "on_gcp": {"auth_type": "REGISTRY_AUTH_TYPE_GCP", "secret": {"name": "bo-gcp", "environment": "dev"}},
    }
    tools = record["images"][functions["work"]["image"]]["layers"]
    # As Modal's client sends it: a builder method on a forced image is forced too (`self.force_build or ...`),
    # add_local_python_source(copy=True) is not, and run_function is forced by its own option.
    assert [layer["force_build"] for layer in tools] == [False, True, True, True, True, True, False, True]
    assert [v["name"] for layer in tools for v in layer["volumes"]] == ["bo-data"]
    assert (functions["work"]["restrict_modal_access"], functions["work"]["routing_region"]) == (True, "us-east")


def test_restricted_and_routed(compiled) -> None:
    _, generated = compiled
    work = generated.by_name()["work"].settings
    assert (work["restrict_modal_access"], work["routing_region"]) == (True, "us-east")


def test_a_function_on_a_parent_image_shares_the_object_its_imports_ran_on(compiled) -> None:
    module, generated = compiled
    registered = generated.by_name()
    assert registered["on_slim"].settings["image"] is _raw(module.IMAGES["slim"])
    assert registered["on_child"].settings["image"] is _raw(module.IMAGES["child"])


def test_an_import_error_is_kept_for_the_image_the_function_runs_on(tmp_path: Path) -> None:
    """Modal re-raises what failed in `with image.imports():` for the image the container hydrates, so the
    failure must be recorded on the very object the function uses."""
    project = tmp_path / "build_options"
    shutil.copytree(FIXTURE, project)
    work = project / "tools" / "work.py"
    work.write_text("import not_installed_anywhere  # noqa: F401\n" + work.read_text())
    assert run_cli(["build"], cwd=project).exit_code == 0
    with capture() as generated:
        module = import_module_from(project / "generated" / "app_dev.py", "dev", ["tools"])
    for name in ("on_slim", "on_child", "work"):
        image = generated.by_name()[name].settings["image"]
        assert [type(e).__name__ for e in image.inside_exceptions] == ["ModuleNotFoundError"], name
    assert module.IMAGES


def test_the_volume_is_created_with_its_file_system_version() -> None:
    module = import_module_from(FIXTURE / "generated" / "app_dev.py", "dev", ["tools"])
    state = ControlPlaneState()
    state.add_environment("dev")
    with serve(state) as handle, client_for(handle, environment="dev"):
        module.VOLUMES["data"].hydrate()
    assert state.environments["dev"]["volumes"]["bo-data"] == {"version": 2}


def _raw(image: Any) -> Any:
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(image)
