"""Test-wide setup: Modal never reaches the network, goldens can be regenerated, live tests opt in."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Every test sees an empty Modal config and an unreachable server, so no personal profile or token leaks
# in and nothing can reach the real service by accident (live tests set their own environment).
_CONFIG_DIR = tempfile.mkdtemp(prefix="modalc-tests-")
atexit.register(shutil.rmtree, _CONFIG_DIR, ignore_errors=True)  # config, cache records and crash reports
_EMPTY_CONFIG = Path(_CONFIG_DIR) / "modal.toml"
_EMPTY_CONFIG.write_text("")
LIVE = bool(os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"))
os.environ["MODAL_CONFIG_PATH"] = str(_EMPTY_CONFIG)
if not LIVE:
    os.environ["MODAL_SERVER_URL"] = "http://127.0.0.1:9"
    os.environ.pop("MODAL_TOKEN_ID", None)
    os.environ.pop("MODAL_TOKEN_SECRET", None)
os.environ.pop("MODAL_ENVIRONMENT", None)
# Build cache records (and crash reports, beside them) go to this session's own directory, never the user's.
os.environ["MODALC_CACHE_DIR"] = str(Path(_CONFIG_DIR) / "modalc-cache")
os.environ.pop("MODALC_NO_CACHE", None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite golden files (examples/*/generated, tests/cases/*/expected.txt) instead of comparing",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LIVE:
        return
    skip = pytest.mark.skip(reason="live test: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET to run it")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))
