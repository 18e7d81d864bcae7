"""Fixtures for the fake control plane tests: seeded state, a running server, and a small
hand-written Modal app (written to a temporary directory) to deploy against it."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import modal.config
import pytest

from modalc.control_plane import (
    ControlPlaneHandle,
    ControlPlaneState,
    client_environ,
    client_for,
    serve,
)

ENVIRONMENTS = ("dev", "prod")
INLINE_SECRET_VALUE = "s3cr3t-inline-value"

# A deliberately broad app: GPU fallbacks, classes (enter/method/batched/parameters), all web
# endpoint kinds, schedules with retries, volumes, a bucket mount, secrets with required keys,
# a from_dict secret and an env dict, tags, and images with many kinds of layers.
APP_SOURCE = """
import pathlib

import modal

HERE = pathlib.Path(__file__).parent

image = (
    modal.Image.debian_slim(python_version="3.12")
    .apt_install("curl")
    .pip_install("numpy==2.1.0")
    .uv_pip_install("pydantic==2.9.0")
    .run_commands("echo built > /built.txt")
    .env({"APP_MODE": "test"})
    .workdir("/srv")
    .add_local_file(HERE / "config.json", "/srv/config.json", copy=True)
    .add_local_dir(HERE / "assets", "/srv/assets")
    .add_local_python_source("cp_helpers")
)
cuda_image = (
    modal.Image.from_registry("nvidia/cuda:12.4.0-base-ubuntu22.04", add_python="3.11")
    .add_local_dir(HERE / "assets", "/opt/assets", copy=True)
    .add_local_python_source("cp_helpers", copy=True)
)
conda_image = modal.Image.micromamba(python_version="3.11").micromamba_install("numpy", channels=["conda-forge"])

app = modal.App("APP_NAME", image=image, tags={"team": "ml", "tier": "gold"})

models = modal.Volume.from_name("models", create_if_missing=True)
datasets = modal.Volume.from_name("datasets", create_if_missing=True).with_mount_options(read_only=True)
api_keys = modal.Secret.from_name("api-keys", required_keys=["API_KEY"])
bucket = modal.CloudBucketMount("training-data", secret=modal.Secret.from_name("aws-creds"), read_only=True)


@app.function(
    gpu=["H100", "A100-80GB", "L40S"],
    secrets=[api_keys, modal.Secret.from_dict({"INLINE_TOKEN": "INLINE_SECRET_VALUE"})],
    env={"FEATURE_FLAG": "on"},
    cpu=4.0,
    memory=(2048, 8192),
    ephemeral_disk=50 * 1024,
    timeout=900,
    startup_timeout=120,
    image=cuda_image,
    region="us-east",
    cloud="aws",
    nonpreemptible=True,
)
def train(epochs: int = 1) -> int:
    return epochs


@app.cls(gpu="A10G", min_containers=1, max_containers=4, buffer_containers=1, scaledown_window=300,
         enable_memory_snapshot=True, secrets=[api_keys])
@modal.concurrent(max_inputs=16, target_inputs=12)
class Model:
    variant: str = modal.parameter(default="small")
    replicas: int = modal.parameter(default=2)

    @modal.enter()
    def load(self):
        self.weights = 1

    @modal.method()
    def predict(self, x: float) -> float:
        return x

    @modal.fastapi_endpoint(method="POST", docs=True)
    def infer(self, item: dict) -> dict:
        return item


@app.cls(image=conda_image)
class Embedder:
    @modal.batched(max_batch_size=32, wait_ms=50)
    def embed(self, texts: list[str]) -> list[int]:
        return [len(t) for t in texts]


@app.function(
    schedule=modal.Cron("0 3 * * *", timezone="Europe/Paris"),
    retries=modal.Retries(max_retries=4, backoff_coefficient=2.0, initial_delay=2.0),
    volumes={"/models": models, "/datasets": datasets, "/bucket": bucket},
)
def nightly():
    pass


@app.function(schedule=modal.Period(hours=6), retries=2)
def refresh():
    pass


@app.function()
@modal.fastapi_endpoint(label="APP_NAME-hello", requires_proxy_auth=True)
def hello() -> dict:
    return {"ok": True}


@app.function()
@modal.asgi_app()
def api():
    import fastapi

    return fastapi.FastAPI()


@app.function()
@modal.wsgi_app()
def legacy():
    return None


@app.function()
@modal.web_server(port=8000, startup_timeout=30)
def server():
    pass
"""

SMALL_APP_SOURCE = """
import modal

app = modal.App("APP_NAME", tags={"owner": "cp-tests"})


@app.function(secrets=[modal.Secret.from_name("SECRET_NAME", required_keys=REQUIRED_KEYS)])
def work() -> int:
    return 1
"""


class Kit:
    """Helpers shared by the tests (a fixture, so tests need not import this conftest)."""

    environments = ENVIRONMENTS
    inline_secret_value = INLINE_SECRET_VALUE
    app_source = APP_SOURCE
    small_app_source = SMALL_APP_SOURCE

    @staticmethod
    def seeded_state() -> ControlPlaneState:
        """State with the "dev" and "prod" environments holding the secrets the app needs."""
        state = ControlPlaneState()
        for env in ENVIRONMENTS:
            state.add_environment(env)
            state.add_secret(env, "api-keys", ["API_KEY", "API_URL"])
            state.add_secret(env, "aws-creds", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
        return state

    @staticmethod
    def write_app(directory: Path, app_name: str, source: str = APP_SOURCE, **replacements: str) -> Path:
        """Write the app (plus its local files and a package with an empty __init__.py)."""
        directory.mkdir(parents=True, exist_ok=True)
        text = source.replace("APP_NAME", app_name).replace("INLINE_SECRET_VALUE", INLINE_SECRET_VALUE)
        for key, value in replacements.items():
            text = text.replace(key, value)
        (directory / "config.json").write_text('{"threshold": 0.5}\n')
        (directory / "assets").mkdir(exist_ok=True)
        (directory / "assets" / "labels.txt").write_text("cat\ndog\n")
        (directory / "cp_helpers").mkdir(exist_ok=True)
        (directory / "cp_helpers" / "__init__.py").write_text("")
        (directory / "cp_helpers" / "text.py").write_text("def shout(s):\n    return s.upper()\n")
        path = directory / "app.py"
        path.write_text(text)
        return path

    @staticmethod
    @contextlib.contextmanager
    def imported_app(path: Path) -> Iterator[ModuleType]:
        """Import the app file as module `app`, with its directory on sys.path, then forget it."""
        sys.path.insert(0, str(path.parent))
        importlib.invalidate_caches()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
            yield module
        finally:
            sys.modules.pop(path.stem, None)
            sys.path.remove(str(path.parent))

    @staticmethod
    def deploy(handle: ControlPlaneHandle, app_path: Path, env: str, **kwargs: Any) -> None:
        """Deploy the app file in-process (`App.deploy`) against the fake control plane."""
        with Kit.imported_app(app_path) as module, client_for(handle, environment=env):
            module.app.deploy(environment_name=env, **kwargs)

    @staticmethod
    def cli_deploy(
        handle: ControlPlaneHandle,
        app_path: Path,
        env: str,
        config_dir: Path,
        *extra: str,
    ) -> subprocess.CompletedProcess[str]:
        """Run `modal deploy` in a subprocess against the fake control plane."""
        environ = client_environ(handle, config_dir, environment=env)
        environ["COLUMNS"] = "250"  # rich wraps long URL lines at the terminal width
        return subprocess.run(
            [sys.executable, "-m", "modal", "deploy", str(app_path), *extra],
            cwd=app_path.parent,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(autouse=True)
def _empty_modal_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read the developer's ~/.modal.toml or MODAL_* settings."""
    config = tmp_path_factory.mktemp("modal-config") / "modal.toml"
    config.write_text("")
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(config))
    # modal.config read the config file when modal was first imported; forget what it read.
    monkeypatch.setattr(modal.config, "_user_config", {})
    monkeypatch.setattr(modal.config, "user_config_path", str(config))
    monkeypatch.setattr(modal.config, "_profile", "default")
    for key in list(os.environ):
        if key in (
            "MODAL_ENVIRONMENT",
            "MODAL_PROFILE",
            "MODAL_SERVER_URL",
        ) or key.startswith("MODAL_TOKEN"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    """The shared test helpers."""
    return Kit


@pytest.fixture
def control_plane() -> Iterator[ControlPlaneHandle]:
    """A running fake control plane with the seeded state."""
    with serve(Kit.seeded_state()) as handle:
        yield handle
