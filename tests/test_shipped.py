"""The deploy digest covers everything a deploy ships, so a no-op is only ever skipped when nothing changed.

Each change below is one a team makes without touching the manifest: a handler's body, a pinned package in a
requirements file, a file an image copies, a file a Dockerfile COPYs. Each must reach Modal.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from test_kitchen_sink import seeded

from helpers import REPO, run_cli
from modalc.control_plane import client_for, serve
from modalc.prepare import prepare

FIXTURE = REPO / "tests" / "fixtures" / "kitchen_sink"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "kitchen_sink"
    shutil.copytree(FIXTURE, destination)
    assert run_cli(["build"], cwd=destination).exit_code == 0
    return destination


def _prepared(project: Path):
    prepared, _ = prepare(project / "app.toml", "prod", display_name="app.toml")
    assert prepared is not None
    return prepared


def test_shipped_files_are_what_modal_selects(project: Path) -> None:
    shipped = {p.relative_to(project).as_posix() for p in _prepared(project).shipped_files}
    assert shipped == {
        "Dockerfile",
        "requirements.txt",
        "pyproject.toml",
        "config/settings.yaml",
        "assets/readme.txt",
        "sink/__init__.py",
        "sink/handlers.py",
        "sink/web.py",
    }


def test_every_uploaded_file_is_covered_by_the_digest(project: Path) -> None:
    """The real client's uploads (mounts and the Dockerfile's COPY context) are all among the shipped files."""
    (project / "assets" / "scratch.tmp").write_text("ignored by the manifest's pattern")
    prepared = _prepared(project)
    covered = {hashlib.sha256(p.read_bytes()).hexdigest() for p in prepared.shipped_files}
    covered.add(hashlib.sha256(prepared.source.encode()).hexdigest())
    state = seeded("prod")
    with serve(state) as handle, client_for(handle):
        assert run_cli(["deploy", "--env", "prod", "--yes"], cwd=project).exit_code == 0
    uploaded = set(_uploaded_hashes(state.deployments[-1]))
    assert uploaded and uploaded <= covered
    assert hashlib.sha256(b"ignored by the manifest's pattern").hexdigest() not in uploaded


def _uploaded_hashes(record: object):
    """The sha256 of every file a deployment record shows as uploaded (function mounts, image contexts)."""
    if isinstance(record, dict):
        if "sha256" in record and "path" in record:
            yield record["sha256"]
        for value in record.values():
            yield from _uploaded_hashes(value)
    elif isinstance(record, list):
        for value in record:
            yield from _uploaded_hashes(value)


EDITS = {
    "handler body": ("sink/handlers.py", lambda text: text + "\n\ndef helper():\n    return 2\n"),
    "requirements pin": ("requirements.txt", lambda text: text + "rich==13.7.1\n"),
    "copied file": ("config/settings.yaml", lambda text: text + "extra: 1\n"),
    "mounted directory": ("assets/readme.txt", lambda text: text + "more\n"),
    "new file in a mounted directory": ("assets/new.txt", lambda text: "new\n"),
    "pyproject": ("pyproject.toml", lambda text: text + "\n# touched\n"),
    "Dockerfile": ("Dockerfile", lambda text: text + "RUN echo again\n"),
}
UNSHIPPED_EDITS = {
    "ignored file in a mounted directory": ("assets/notes.tmp", lambda text: "scratch\n"),
    "non-Python file in a handler package": ("sink/README.md", lambda text: "notes\n"),
    "bytecode": ("sink/__pycache__/handlers.cpython-311.pyc", lambda text: "x"),
}


def _edit(project: Path, relative: str, change) -> None:
    path = project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(change(path.read_text() if path.exists() else ""))


@pytest.mark.parametrize("what", list(EDITS))
def test_a_change_the_manifest_does_not_see_is_deployed(project: Path, what: str) -> None:
    state = seeded("prod")
    with serve(state) as handle, client_for(handle):
        first = run_cli(["deploy", "--env", "prod", "--yes"], cwd=project)
        _edit(project, *EDITS[what])
        second = run_cli(["deploy", "--env", "prod", "--yes"], cwd=project)
    assert first.exit_code == second.exit_code == 0, second.stderr
    assert "no changes" not in second.stdout
    assert len(state.deployments) == 2
    digests = [d["tags"]["modalc.deploy-sha256"] for d in state.deployments]
    assert digests[0] != digests[1]


@pytest.mark.parametrize("what", list(UNSHIPPED_EDITS))
def test_a_change_modal_does_not_ship_is_a_no_op(project: Path, what: str) -> None:
    before = _prepared(project).digest
    _edit(project, *UNSHIPPED_EDITS[what])
    assert _prepared(project).digest == before
