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


def test_handler_code_calls_other_functions_through_the_local_control_plane(project: Path) -> None:
    """nightly() maps over work(), calls a class method and spawns post(): executed offline, in-process."""
    from modalc.control_plane import ControlPlaneState, client_for, serve

    state = ControlPlaneState()
    state.add_environment("dev")
    module = import_module_from(project / "generated" / "app_dev.py", "dev", ["fanout"])
    with serve(state, execute=True) as handle, client_for(handle, environment="dev"):
        with module.app.run():
            assert module.nightly.remote() == "total 130"  # 0 + 10 + 20, plus Counter(start=100)
            assert list(module.work.map([1, 2])) == [10, 20]
            assert module.Counter(start=1).add.remote(2) == 3


def test_local_calls_reach_the_handlers(project: Path) -> None:
    module = import_module_from(project / "generated" / "app_prod.py", "prod", ["fanout"])
    assert module.work.local(4) == 40
    assert module.post.local("hi") == "hi"
