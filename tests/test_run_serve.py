"""`modalc run` and `modalc serve` need real containers; offline, these tests check their plumbing: what they
hand to the SDK, with which arguments, and how inputs and results flow."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

import modal
import pytest
from helpers import REPO, run_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "batch_job"
    shutil.copytree(REPO / "examples" / "batch_job", destination)
    return destination


@pytest.fixture
def fake_remote(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """App.run records its environment; map/starmap run each input with .local() instead of in Modal."""
    calls: list[dict] = []

    @contextlib.contextmanager
    def run(self, *args, **kwargs):
        calls.append({"app": self.name, **kwargs})
        yield self

    def local_results(function, inputs, star):
        for arguments in inputs:
            try:
                yield function.local(*arguments) if star else function.local(arguments)
            except Exception as error:  # noqa: BLE001 - like return_exceptions=True
                yield error

    def fake_map(self, inputs, return_exceptions=False, **kwargs):
        calls.append({"map": list(inputs), "return_exceptions": return_exceptions})
        return local_results(self, inputs, star=False)

    def fake_starmap(self, inputs, return_exceptions=False, **kwargs):
        calls.append({"starmap": list(inputs), "return_exceptions": return_exceptions})
        return local_results(self, inputs, star=True)

    monkeypatch.setattr(modal.App, "run", run)
    monkeypatch.setattr(modal.Function, "map", fake_map)
    monkeypatch.setattr(modal.Function, "starmap", fake_starmap)
    return calls


def test_run_starmaps_csv_rows_by_parameter_name(project: Path, fake_remote: list[dict]) -> None:
    result = run_cli(["run", "--env", "dev", "score_all", "--output", "scores.jsonl"], cwd=project)
    assert result.exit_code == 0, result.stderr
    assert fake_remote[0] == {"app": "embed-batch", "environment_name": "dev"}
    assert fake_remote[1] == {
        "starmap": [("the quick fox", "the lazy fox"), ("modal apps", "modal functions")],
        "return_exceptions": True,
    }
    lines = [json.loads(line) for line in (project / "scores.jsonl").read_text().splitlines()]
    assert [line["input"] for line in lines] == [["the quick fox", "the lazy fox"], ["modal apps", "modal functions"]]
    assert lines[0]["output"] == pytest.approx(0.5)
    assert "score_all: 2 inputs, 2 succeeded, 0 failed" in result.stderr


def test_run_takes_items_from_the_command_line_and_reports_failures(project: Path, fake_remote: list[dict]) -> None:
    items = '[["a b", "b c"], ["x"]]'
    result = run_cli(["run", "app.toml", "score_all", "--env", "dev", "--items", items], cwd=project)
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"input": ["a b", "b c"], "output": pytest.approx(1 / 3)}
    assert lines[1]["input"] == ["x"] and lines[1]["error"].startswith("TypeError")
    assert "score_all: 2 inputs, 1 succeeded, 1 failed" in result.stderr


def test_run_refuses_an_unknown_entrypoint_and_a_stale_module(project: Path, fake_remote: list[dict]) -> None:
    result = run_cli(["run", "--env", "dev", "nope"], cwd=project)
    assert result.exit_code == 1 and "no entrypoint named 'nope' (declared: embed_all, score_all)" in result.stderr
    (project / "app.toml").write_text((project / "app.toml").read_text().replace("timeout = 120", "timeout = 60"))
    result = run_cli(["run", "--env", "dev", "embed_all"], cwd=project)
    assert result.exit_code == 1 and "generated/app_dev.py is stale" in result.stderr
    assert fake_remote == []


def test_generated_local_entrypoint_maps_jsonl_inputs(project: Path, fake_remote: list[dict],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What `modal run generated/app_dev.py::embed_all` does, minus the containers."""
    from modalc.deploy import import_module

    monkeypatch.setenv("MODAL_ENVIRONMENT", "dev")
    module = import_module(project / "generated" / "app_dev.py", ["batch_job"])
    import batch_job.work as work

    monkeypatch.setattr(work, "embed_one", lambda item: {"item": item, "length": len(item)})
    entrypoint = module.embed_all.info.raw_f
    entrypoint(output=str(project / "out.jsonl"))
    lines = [json.loads(line) for line in (project / "out.jsonl").read_text().splitlines()]
    assert lines[0] == {"input": "the quick brown fox", "output": {"item": "the quick brown fox", "length": 19}}
    assert len(lines) == 3


def test_serve_runs_modal_serve_on_the_environments_module(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    commands: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda command: commands.append(command) or 0)
    result = run_cli(["serve", "--env", "dev"], cwd=project)
    assert result.exit_code == 0, result.stderr
    assert commands == [[sys.executable, "-m", "modal", "serve", "--env", "dev",
                         str((project / "generated" / "app_dev.py").resolve())]]
