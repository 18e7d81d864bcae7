"""Handler code calls the app's other functions as `modalc_app.NAME`, whichever environment's module runs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from helpers import REPO, import_module_from, run_cli

FIXTURE = REPO / "tests" / "fixtures" / "fanout"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "fanout"
    shutil.copytree(FIXTURE, destination)
    assert run_cli(["build"], cwd=destination).exit_code == 0
    return destination


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_each_module_registers_itself_as_modalc_app(project: Path, environment: str) -> None:
    module = import_module_from(project / "generated" / f"app_{environment}.py", environment, ["fanout"])
    import fanout.jobs

    assert sys.modules["modalc_app"] is module
    assert fanout.jobs.modalc_app is module
    assert module.MODALC_ENVIRONMENT == environment
    assert fanout.jobs.modalc_app.work is module.work
