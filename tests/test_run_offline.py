"""`modalc run` end to end and offline: the CLI, the real modal client and the local control plane, which
executes the functions (`serve(state, execute=True)`) of tests/fixtures/offline_run in this process."""

from __future__ import annotations

import gc
import json
import logging
import shutil
from pathlib import Path

import pytest

from helpers import REPO, run_cli
from modalc.control_plane import ControlPlaneState, client_for, serve

FIXTURE = REPO / "tests" / "fixtures" / "offline_run"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "offline_run"
    shutil.copytree(FIXTURE, destination)
    assert run_cli(["build"], cwd=destination).exit_code == 0
    return destination


def dev_state() -> ControlPlaneState:
    state = ControlPlaneState()
    state.add_environment("dev")
    return state


def test_run_maps_with_the_functions_executed_offline(project: Path) -> None:
    with serve(dev_state(), execute=True) as handle, client_for(handle):
        result = run_cli(["run", "--env", "dev", "shout_all"], cwd=project)
    assert result.exit_code == 1, result.stderr  # one input failed
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"input": "hello", "output": "HELLO!"},
        {"input": "", "error": "ValueError: nothing to shout"},
        {"input": "modal", "output": "MODAL!"},
    ]
    assert "shout_all: 3 inputs, 2 succeeded, 1 failed" in result.stderr
    assert handle.state.deployments == []


def test_run_starmaps_csv_rows_and_items(project: Path) -> None:
    with serve(dev_state(), execute=True) as handle, client_for(handle):
        from_file = run_cli(["run", "--env", "dev", "join_all"], cwd=project)
        from_items = run_cli(["run", "--env", "dev", "join_all", "--items", '[["a", "b", "+"]]'], cwd=project)
    assert from_file.exit_code == 0, from_file.stderr
    assert [json.loads(line) for line in from_file.stdout.splitlines()] == [
        {"input": ["red", "green"], "output": "red-green"},
        {"input": ["blue", "yellow"], "output": "blue-yellow"},
    ]
    assert "join_all: 2 inputs, 2 succeeded, 0 failed" in from_file.stderr
    assert from_items.exit_code == 0, from_items.stderr
    assert json.loads(from_items.stdout) == {"input": ["a", "b", "+"], "output": "a+b"}


def test_run_against_a_control_plane_that_does_not_execute_fails_cleanly(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gc.collect()  # what earlier tests left behind is reported now, not during this test
    caplog.set_level(logging.ERROR, logger="asyncio")
    caplog.clear()
    with serve(dev_state()) as handle, client_for(handle):
        result = run_cli(["run", "--env", "dev", "shout_all"], cwd=project)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("modalc: the run failed: UnimplementedError: modalc's local control plane was ")
    assert "execute=True" in result.stderr and "--execute" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Task exception was never retrieved" not in result.stderr
    gc.collect()  # asyncio reports an unretrieved task exception when the task is collected, maybe only now
    unretrieved = [r.getMessage() for r in caplog.records if "exception was never retrieved" in r.getMessage()]
    assert unretrieved == []
