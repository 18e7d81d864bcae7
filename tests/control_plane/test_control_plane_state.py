"""State persistence, determinism of records, version pinning, URL shape, and the command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import modal
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modalc.control_plane.version as version_module
from modalc.control_plane import (
    TESTED_CLIENT_VERSIONS,
    ControlPlaneState,
    UnsupportedClientVersion,
    check_client_version,
    client_for,
    serve,
    web_url,
)
from modalc.control_plane.urls import slug


def test_state_json_round_trip_and_restart(kit: Any, tmp_path: Path) -> None:
    state = kit.seeded_state()
    path = kit.write_app(tmp_path / "app", "cp-persist")
    with serve(state) as handle:
        kit.deploy(handle, path, "dev", tag="one")
    text = state.to_json()
    assert ControlPlaneState.from_json(text).to_json() == text
    state_file = tmp_path / "state.json"
    state.save(state_file)
    assert state_file.read_text() == text
    loaded = ControlPlaneState.load(state_file)
    assert loaded.to_json() == text
    # A server restarted from the saved state still answers lookups and redeploys.
    with serve(loaded) as handle:
        with client_for(handle, environment="dev"):
            url = modal.Function.from_name("cp-persist", "api").get_web_url()
            assert url == "https://modalc-local-dev--cp-persist-api.modal.run"
            assert modal.App.lookup("cp-persist").get_tags() == {
                "team": "ml",
                "tier": "gold",
            }
        kit.deploy(handle, path, "dev", tag="two")
    entry = loaded.app("dev", "cp-persist")
    assert entry["version"] == 2
    assert entry["app_id"] == state.app("dev", "cp-persist")["app_id"]
    first, second = loaded.deployments_for("cp-persist")
    assert json.dumps({**first, "version": 2, "deployment_tag": "two"}, sort_keys=True) == json.dumps(
        second, sort_keys=True
    )


def test_record_of_an_unchanged_app_is_byte_identical_across_runs(kit: Any, tmp_path: Path) -> None:
    dumps = []
    for run in ("a", "b"):
        path = kit.write_app(tmp_path / run, "cp-stable")
        state = kit.seeded_state()
        with serve(state) as handle:
            kit.deploy(handle, path, "prod", tag="v1")
        dumps.append(json.dumps(state.deployments, indent=2, sort_keys=True))
    assert dumps[0] == dumps[1]
    # No ids or timestamps leak into records.
    assert not re.search(r"\b(ap|fu|cs|st|vo|mo|im|de)-[0-9a-f]{10,}", dumps[0])


def test_seeding_helpers_keep_only_key_names() -> None:
    state = ControlPlaneState(workspace="acme", default_environment="live")
    state.add_secret("live", "db", {"PASSWORD": "hunter2", "USER": "admin"})
    state.add_volume("staging", "cache")
    assert state.environments["live"]["secrets"]["db"] == {"keys": ["PASSWORD", "USER"]}
    assert state.environments["live"]["web_suffix"] == ""
    assert state.environments["staging"]["web_suffix"] == "staging"
    assert "hunter2" not in state.to_json()
    assert state.resolve_environment("") == "live"
    assert state.resolve_environment("nope") is None


def test_client_version_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_client_version() in TESTED_CLIENT_VERSIONS
    monkeypatch.setattr(version_module, "installed_client_version", lambda: "9.9.9")
    monkeypatch.delenv(version_module.ALLOW_UNTESTED_ENV_VAR, raising=False)
    with pytest.raises(UnsupportedClientVersion) as excinfo:
        check_client_version()
    assert "9.9.9" in str(excinfo.value) and TESTED_CLIENT_VERSIONS[0] in str(excinfo.value)
    with pytest.raises(UnsupportedClientVersion):
        with serve():
            pass
    assert check_client_version(allow_untested=True) == "9.9.9"
    monkeypatch.setenv(version_module.ALLOW_UNTESTED_ENV_VAR, "1")
    assert check_client_version() == "9.9.9"


def test_web_url_shape() -> None:
    common = {
        "workspace": "Acme Corp",
        "app_name": "text_to_speech",
        "function_name": "flask_app",
    }
    assert web_url(web_suffix="", **common) == (
        "https://acme-corp--text-to-speech-flask-app.modal.run",
        False,
    )
    assert web_url(web_suffix="prod", **common)[0] == "https://acme-corp-prod--text-to-speech-flask-app.modal.run"
    assert web_url(web_suffix="", label="foo-bar", **common)[0] == "https://acme-corp--foo-bar.modal.run"


@settings(database=None)  # write no .hypothesis/ directory into the work tree
@given(
    workspace=st.text(min_size=1, max_size=40),
    suffix=st.text(max_size=20),
    app=st.text(min_size=1, max_size=60),
    function=st.text(min_size=1, max_size=60),
)
def test_web_urls_are_valid_hostnames(workspace: str, suffix: str, app: str, function: str) -> None:
    url, truncated = web_url(workspace=workspace, web_suffix=suffix, app_name=app, function_name=function)
    host = url.removeprefix("https://").removesuffix(".modal.run")
    assert len(host) <= 63
    assert re.fullmatch(r"[a-z0-9-]*", host)
    source = "-".join(p for p in (slug(workspace), slug(suffix)) if p)
    assert truncated == (len(f"{source}--{slug(app + '-' + function)}") > 63)


def test_command_serves_and_saves_state_after_each_change(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_file = tmp_path / "state.json"
    kit.seeded_state().save(state_file)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modalc.control_plane",
            "--port",
            "0",
            "--state",
            str(state_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first + (proc.stderr.read() if proc.poll() is not None else "")
        lines = [proc.stdout.readline().strip() for _ in range(6)]
        exports = dict(re.findall(r"^export (\w+)=(\S+)$", "\n".join(lines), re.MULTILINE))
        assert exports["MODAL_SERVER_URL"] == match.group(1)
        assert Path(exports["MODAL_CONFIG_PATH"]).read_text() == ""
        assert lines[-1] == "unset MODAL_ENVIRONMENT MODAL_PROFILE"
        monkeypatch.setenv("MODAL_SERVER_URL", match.group(1))
        client = modal.Client.from_credentials("ak-any", "as-any")
        try:
            modal.Secret.from_name("api-keys", environment_name="prod", client=client).hydrate()
            modal.Volume.objects.create("scratch", environment_name="dev", client=client)
        finally:
            client.close()
        saved = ControlPlaneState.load(state_file)
        assert "scratch" in saved.environments["dev"]["volumes"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in out
