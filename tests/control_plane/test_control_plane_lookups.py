"""Preflight lookups, errors mirrored from Modal, redeploys, app tags and app lifecycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import modal
import modal.exception
import pytest

from modalc.control_plane import ControlPlaneHandle, client_environ, client_for, serve


def small_app(
    kit: Any,
    directory: Path,
    name: str,
    secret: str = "api-keys",
    keys: str = '["API_KEY"]',
) -> Path:
    return kit.write_app(directory, name, kit.small_app_source, SECRET_NAME=secret, REQUIRED_KEYS=keys)


def test_secret_preflight_lookups(control_plane: ControlPlaneHandle) -> None:
    with client_for(control_plane):
        secret = modal.Secret.from_name("api-keys", environment_name="dev", required_keys=["API_KEY"])
        assert secret.hydrate().object_id.startswith("st-")
        with pytest.raises(modal.exception.NotFoundError, match="Secret 'nope' not found"):
            modal.Secret.from_name("nope", environment_name="dev").hydrate()
        # Secrets live in one environment: the default one ("main") has none.
        with pytest.raises(modal.exception.NotFoundError, match="'main'"):
            modal.Secret.from_name("api-keys").hydrate()
        # Modal answers FAILED_PRECONDITION "Secret is missing key(s): ..." (ConflictError here).
        with pytest.raises(
            modal.exception.ConflictError,
            match=r"Secret is missing key\(s\): MISSING, ALSO",
        ):
            modal.Secret.from_name(
                "api-keys",
                environment_name="prod",
                required_keys=["API_KEY", "MISSING", "ALSO"],
            ).hydrate()


def test_volume_preflight_lookups(control_plane: ControlPlaneHandle) -> None:
    with client_for(control_plane, environment="dev"):
        with pytest.raises(modal.exception.NotFoundError, match="Volume 'weights' not found"):
            modal.Volume.from_name("weights").hydrate()
        modal.Volume.from_name("weights", create_if_missing=True).hydrate()
        assert modal.Volume.from_name("weights", environment_name="dev").hydrate().object_id
        with pytest.raises(modal.exception.NotFoundError):
            modal.Volume.from_name("weights", environment_name="prod").hydrate()
    assert "weights" in control_plane.state.environments["dev"]["volumes"]
    assert "weights" not in control_plane.state.environments["prod"]["volumes"]


def test_missing_secret_fails_the_deploy_and_publishes_nothing(
    control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path
) -> None:
    path = small_app(kit, tmp_path, "cp-missing", secret="not-there")
    with pytest.raises(modal.exception.NotFoundError, match="Secret 'not-there' not found"):
        kit.deploy(control_plane, path, "dev")
    assert control_plane.state.deployments == []
    assert control_plane.state.app("dev", "cp-missing") is None
    assert "AppClientDisconnect" in control_plane.calls


def test_missing_required_key_fails_the_deploy(control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path) -> None:
    path = small_app(kit, tmp_path, "cp-keys", keys='["API_KEY", "NOT_A_KEY"]')
    with pytest.raises(modal.exception.ConflictError, match=r"Secret is missing key\(s\): NOT_A_KEY"):
        kit.deploy(control_plane, path, "prod")
    assert control_plane.state.deployments == []


def test_unknown_environment_is_not_found(control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path) -> None:
    path = small_app(kit, tmp_path, "cp-env")
    with pytest.raises(modal.exception.NotFoundError, match="Environment 'staging' not found"):
        kit.deploy(control_plane, path, "staging")
    with client_for(control_plane):
        with pytest.raises(modal.exception.NotFoundError, match="Environment 'staging' not found"):
            modal.Secret.from_name("api-keys", environment_name="staging").hydrate()
        with pytest.raises(modal.exception.NotFoundError, match="Environment 'staging' not found"):
            modal.App.lookup("cp-env", environment_name="staging")
    assert "staging" not in control_plane.state.environments


def test_wrong_token_is_unauthenticated(kit: Any) -> None:
    state = kit.seeded_state()
    state.add_token("ak-good", "as-good")
    with serve(state) as handle, client_for(handle, environment="dev"):
        modal.Secret.from_name("api-keys").hydrate()  # client_for uses the configured token
        bad = modal.Client.from_credentials("ak-good", "as-wrong")
        try:
            with pytest.raises(modal.exception.AuthError, match="not accepted"):
                modal.Secret.from_name("api-keys", client=bad).hydrate()
        finally:
            bad.close()


def test_redeploy_of_a_changed_app_increments_the_version(
    control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path
) -> None:
    path = small_app(kit, tmp_path, "cp-redeploy")
    kit.deploy(control_plane, path, "dev", tag="first")
    app_id = control_plane.state.app("dev", "cp-redeploy")["app_id"]
    path.write_text(path.read_text() + "\n\n@app.function()\ndef extra() -> int:\n    return 2\n")
    kit.deploy(control_plane, path, "dev", tag="second", strategy="recreate")
    entry = control_plane.state.app("dev", "cp-redeploy")
    assert entry["app_id"] == app_id
    assert entry["version"] == 2
    assert entry["history"] == [
        {"version": 1, "tag": "first"},
        {"version": 2, "tag": "second"},
    ]
    first, second = control_plane.state.deployments_for("cp-redeploy")
    assert [f["name"] for f in first["functions"]] == ["work"]
    assert [f["name"] for f in second["functions"]] == ["extra", "work"]
    assert (second["version"], second["deployment_tag"]) == (2, "second")
    assert "AppGetLayout" in control_plane.calls


def test_app_lookup_tags_and_web_urls(control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path) -> None:
    path = kit.write_app(tmp_path, "cp-read")
    kit.deploy(control_plane, path, "prod")
    with client_for(control_plane, environment="prod"):
        app = modal.App.lookup("cp-read")
        assert app.get_tags() == {"team": "ml", "tier": "gold"}
        app.set_tags({"team": "infra"})
        assert modal.App.lookup("cp-read", environment_name="prod").get_tags() == {"team": "infra"}
        api = modal.Function.from_name("cp-read", "api")
        assert api.get_web_url() == "https://modalc-local-prod--cp-read-api.modal.run"
        assert modal.Function.from_name("cp-read", "train").get_web_url() == ""  # not None
        model = modal.Cls.from_name("cp-read", "Model")
        assert model().infer.get_web_url() == "https://modalc-local-prod--cp-read-model-infer.modal.run"
        with pytest.raises(modal.exception.NotFoundError, match="is a modal.Cls"):
            modal.Function.from_name("cp-read", "Model").hydrate()
        with pytest.raises(modal.exception.NotFoundError):
            modal.App.lookup("cp-read", environment_name="dev")
    assert control_plane.state.app("prod", "cp-read")["tags"] == {"team": "infra"}


def test_stopped_app_disappears_and_redeploys_as_a_new_app(
    control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path
) -> None:
    path = small_app(kit, tmp_path, "cp-stop")
    kit.deploy(control_plane, path, "dev")
    old_id = control_plane.state.app("dev", "cp-stop")["app_id"]
    with client_for(control_plane, environment="dev"):
        modal.App.lookup("cp-stop").stop()
        with pytest.raises(modal.exception.NotFoundError):
            modal.App.lookup("cp-stop")
        with pytest.raises(modal.exception.NotFoundError):
            modal.Function.from_name("cp-stop", "work").hydrate()
    assert control_plane.state.app("dev", "cp-stop")["state"] == "stopped"
    kit.deploy(control_plane, path, "dev")
    entry = control_plane.state.app("dev", "cp-stop")
    assert entry["app_id"] != old_id
    assert (entry["state"], entry["version"]) == ("deployed", 1)
    # The same through the CLI: `modal app stop` then `modal app list`.
    environ = client_environ(control_plane, tmp_path / "cfg", environment="dev")
    environ["COLUMNS"] = "250"
    for args in (["app", "stop", "cp-stop", "--yes"], ["app", "list", "--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "modal", *args],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    [listed] = json.loads(result.stdout)
    assert (listed["description"], listed["state"]) == ("cp-stop", "stopped")
    assert control_plane.state.app("dev", "cp-stop")["state"] == "stopped"


def test_unimplemented_rpcs_name_the_method(control_plane: ControlPlaneHandle) -> None:
    with client_for(control_plane):
        with pytest.raises(
            modal.exception.UnimplementedError, match="is not implemented by modalc.s local control plane"
        ):
            modal.Sandbox.create("echo", app=modal.App.lookup("sandboxes", create_if_missing=True))


def test_named_queues_and_dicts_exist_once_created(control_plane: ControlPlaneHandle) -> None:
    with client_for(control_plane):
        with pytest.raises(modal.exception.NotFoundError, match="Queue 'jobs' not found in environment"):
            modal.Queue.from_name("jobs").hydrate()
        modal.Queue.from_name("jobs", create_if_missing=True).hydrate()
        modal.Queue.from_name("jobs").hydrate()
        modal.Dict.from_name("cache", create_if_missing=True).hydrate()
        modal.Dict.from_name("cache").hydrate()


def test_files_over_4_mib_go_through_blob_upload(control_plane: ControlPlaneHandle, kit: Any, tmp_path: Path) -> None:
    source = kit.small_app_source.replace(
        'modal.App("APP_NAME"',
        'modal.App("APP_NAME", image=modal.Image.debian_slim().add_local_file('
        '__import__("pathlib").Path(__file__).parent / "big.bin", "/data/big.bin")',
    )
    path = kit.write_app(tmp_path, "cp-big", source, SECRET_NAME="api-keys", REQUIRED_KEYS="[]")
    big = bytes(range(256)) * (5 * 4096)  # 5 MiB
    (tmp_path / "big.bin").write_bytes(big)
    kit.deploy(control_plane, path, "dev")
    [record] = control_plane.state.deployments_for("cp-big")
    files = {f["path"]: f["size"] for m in record["functions"][0]["mounts"] for f in m.get("files") or []}
    assert files["/data/big.bin"] == len(big)
    assert "BlobCreate" in control_plane.calls


def test_dicts_and_queues_hold_what_the_client_puts(control_plane: ControlPlaneHandle) -> None:
    with client_for(control_plane):
        cache = modal.Dict.from_name("contents", create_if_missing=True)
        cache.update({"a": 1, "b": [2]})
        assert dict(cache.items()) == {"a": 1, "b": [2]}
        assert (sorted(cache.keys()), sorted(map(str, cache.values()))) == (["a", "b"], ["1", "[2]"])
        assert (cache.pop("a"), "a" in cache, cache.len()) == (1, False, 1)
        cache.clear()
        assert cache.len() == 0
        jobs = modal.Queue.from_name("backlog", create_if_missing=True)
        jobs.put_many([1, 2, 3])
        assert (jobs.get(), jobs.len()) == (1, 2)
        jobs.clear()
        assert jobs.len() == 0
