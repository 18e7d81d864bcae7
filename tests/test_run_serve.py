"""`modalc run` and `modalc serve` need real containers; offline, these tests check their plumbing: what they
hand to the SDK, with which arguments, and how inputs and results flow."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
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
            except Exception as error:
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


def test_generated_local_entrypoint_maps_jsonl_inputs(
    project: Path, fake_remote: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `modal run generated/app_dev.py::embed_all` does, minus the containers."""
    from modalc.prepare import import_module

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
    assert commands == [
        [sys.executable, "-m", "modal", "serve", "--env", "dev", str((project / "generated" / "app_dev.py").resolve())]
    ]


# --- user mistakes are user errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--inputs", "missing.jsonl"], "modalc: missing.jsonl: cannot read inputs: No such file or directory\n"),
        (["--inputs", "data/items.txt"], "modalc: data/items.txt: inputs are read from a .jsonl or .csv file\n"),
        (["--items", "[1,2"], "modalc: --items is not valid JSON: Expecting ',' delimiter: line 1 column 5 (char 4)\n"),
        (["--items", '{"a": 1}'], 'modalc: --items takes a JSON array, e.g. \'["a", "b"]\'\n'),
        (
            ["--inputs", "bad.jsonl"],
            "modalc: bad.jsonl:2: not a JSON value: Expecting value: line 1 column 1 (char 0)\n",
        ),
        (
            ["--output", "nowhere/out.jsonl"],
            "modalc: nowhere/out.jsonl: cannot write results: No such file or directory\n",
        ),
    ],
)
def test_bad_inputs_are_user_errors(project: Path, fake_remote: list[dict], arguments: list[str], message: str) -> None:
    (project / "data" / "items.txt").write_text("a\n")
    (project / "bad.jsonl").write_text('"ok"\nnot json\n')
    crashes = set(Path(tempfile.gettempdir()).glob("modalc-crash-*"))
    result = run_cli(["run", "--env", "dev", "embed_all", *arguments], cwd=project)
    assert (result.exit_code, result.stderr[-len(message) :]) == (1, message), result.stderr
    assert "internal error" not in result.stderr
    assert set(Path(tempfile.gettempdir()).glob("modalc-crash-*")) == crashes


@pytest.mark.parametrize("command", [["run", "embed_all"], ["serve"]])
def test_protected_environments_guard_run_and_serve(
    project: Path, fake_remote: list[dict], command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda command: started.append(command) or 0)
    assert "protected = true" in (project / "app.toml").read_text()
    refused = run_cli([*command, "--env", "prod"], cwd=project)
    assert refused.exit_code == 1
    verb = command[0]
    assert f"environment 'prod' is protected: pass --yes to {verb} without a terminal" in refused.stderr
    assert fake_remote == [] and started == []
    accepted = run_cli([*command, "--env", "prod", "--yes"], cwd=project)
    assert "is protected" not in accepted.stderr
    assert fake_remote or started


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_results_on_stdout_never_share_a_line_with_the_bar(
    project: Path, fake_remote: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modalc.progress import CLEAR_LINE

    stdout, stderr = _Terminal(), _Terminal()
    screen: list[str] = []  # what a terminal shows, in order: both streams write to it
    for stream in (stdout, stderr):
        write = stream.write
        monkeypatch.setattr(stream, "write", lambda text, write=write: screen.append(text) or write(text))
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    from modalc.cli import main

    monkeypatch.chdir(project)
    main(["run", "--env", "dev", "score_all", "--items", '[["a b", "b c"], ["x", "x"], ["y", "z"]]'])
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 3 and all("output" in json.loads(line) for line in lines)
    assert "score_all [" in stderr.getvalue()
    assert stderr.getvalue().endswith(CLEAR_LINE)
    text = "".join(screen)
    for line in lines:  # on screen, each result starts at the beginning of a cleared line
        assert CLEAR_LINE + line + "\n" in text
