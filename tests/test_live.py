"""Against the real Modal service: only under `pytest -m live` with MODAL_TOKEN_ID and MODAL_TOKEN_SECRET set.

Deploys a tiny CPU-only app to a dev environment (MODALC_LIVE_ENVIRONMENT, default "dev"), calls its
endpoint, and stops it. Costs a few CPU-seconds.
"""

from __future__ import annotations

import json
import os
import textwrap
import urllib.request
import uuid
from pathlib import Path

import pytest

from helpers import run_cli

pytestmark = pytest.mark.live


def test_deploy_call_and_stop(tmp_path: Path) -> None:
    import modal

    modal_env = os.environ.get("MODALC_LIVE_ENVIRONMENT", "dev")
    name = f"modalc-live-{uuid.uuid4().hex[:8]}"
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "__init__.py").write_text("")
    (tmp_path / "hello" / "api.py").write_text("def greet(name: str = 'modal') -> dict:\n    return {'hello': name}\n")
    (tmp_path / "app.toml").write_text(
        textwrap.dedent(f"""
        version = 1
        [app]
        name = "{name}"
        image = "base"
        [images.base]
        base = "debian_slim"
        python = "3.12"
        steps = [{{ pip = ["fastapi[standard]"] }}]
        [functions.greet]
        handler = "hello.api:greet"
        web = {{ type = "fastapi" }}
        [environments.live]
        modal_environment = "{modal_env}"
    """)
    )
    assert run_cli(["build", "app.toml"], cwd=tmp_path).exit_code == 0
    result = run_cli(["deploy", "--env", "live", "--yes"], cwd=tmp_path)
    try:
        assert result.exit_code == 0, result.stderr
        url = next(line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("  greet: "))
        with urllib.request.urlopen(f"{url}?name=live", timeout=120) as response:
            assert json.load(response) == {"hello": "live"}
    finally:
        modal.App.lookup(name, environment_name=modal_env).stop()
