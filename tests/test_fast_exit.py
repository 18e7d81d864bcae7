"""`modalc` leaves with os._exit once its output is flushed: nothing printed may be lost, no exit code changed."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

MODALC = str(Path(sys.executable).parent / "modalc")


def test_a_long_output_through_a_pipe_arrives_whole() -> None:
    shipped = resources.files("modalc").joinpath("schemas", "manifest.schema.json").read_bytes()
    assert len(shipped) > 10_000
    for command in ([MODALC, "schema"], [sys.executable, "-m", "modalc", "schema"]):
        assert subprocess.run(command, capture_output=True, check=True).stdout == shipped


def test_exit_codes_survive(tmp_path: Path) -> None:
    missing = subprocess.run([MODALC, "build", "nothere.toml"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 1 and "nothere.toml" in missing.stderr
    usage = subprocess.run([MODALC, "build", "--no-such-flag"], cwd=tmp_path, capture_output=True, text=True)
    assert usage.returncode == 2 and "no-such-flag" in usage.stderr
    assert subprocess.run([MODALC, "--version"], capture_output=True).returncode == 0
