"""modalc's uses of the `modal` SDK's private API all live in compat.py, and work with the installed SDK."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import REPO
from modalc import compat

PACKAGE = REPO / "compiler" / "modalc"
PRIVATE = re.compile(r"\bmodal\._|from modal\.(?:_|config\b|client\b)|\bmodal_version\b|\bsynchronizer\b")
# The local control plane speaks the client's wire protocol and resets its process-wide state; it is
# pinned to the tested client versions on its own (control_plane/version.py).
OWN_PIN = {"control_plane"}


def test_the_installed_client_is_the_series_modalc_supports() -> None:
    assert compat.client_version().startswith(compat.SUPPORTED_SERIES + ".")


def test_no_other_module_reaches_into_modal_privates() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.name == "compat.py" or relative.parts[0] in OWN_PIN:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if PRIVATE.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_the_environment_guard_expression_reads_the_selected_environment(monkeypatch) -> None:
    import modal

    monkeypatch.setenv("MODAL_ENVIRONMENT", "staging")
    assert eval(compat.SELECTED_ENVIRONMENT_EXPRESSION, {"modal": modal}) == "staging"
    compat.select_environment("prod")
    assert eval(compat.SELECTED_ENVIRONMENT_EXPRESSION, {"modal": modal}) == "prod"
    assert compat.configured("environment") == "prod"


def test_dockerfile_context_files_follow_copy_lines_and_dockerignore(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\nCOPY src /app/src\nCOPY --from=builder /x /y\n")
    (tmp_path / ".dockerignore").write_text("src/*.log\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print(1)\n")
    (tmp_path / "src" / "debug.log").write_text("noise\n")
    (tmp_path / "other.txt").write_text("not copied\n")
    files = {
        p.relative_to(tmp_path).as_posix() for p in compat.dockerfile_context_files(tmp_path / "Dockerfile", tmp_path)
    }
    assert files == {"src/main.py"}
