"""`modalc` leaves with os._exit once its output is flushed: nothing printed may be lost, no exit code changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODALC = str(Path(sys.executable).parent / "modalc")


def test_a_long_output_through_a_pipe_arrives_whole() -> None:
    through_module = subprocess.run([sys.executable, "-m", "modalc", "schema"], capture_output=True, check=True)
    through_script = subprocess.run([MODALC, "schema"], capture_output=True, check=True)
    assert len(through_script.stdout) > 10_000
    assert through_script.stdout == through_module.stdout
    assert through_script.stdout.rstrip().endswith(b"}")


def test_exit_codes_survive(tmp_path: Path) -> None:
    missing = subprocess.run([MODALC, "build", "nothere.toml"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 1 and "nothere.toml" in missing.stderr
    usage = subprocess.run([MODALC, "build", "--no-such-flag"], cwd=tmp_path, capture_output=True, text=True)
    assert usage.returncode == 2 and "no-such-flag" in usage.stderr
    assert subprocess.run([MODALC, "--version"], capture_output=True).returncode == 0
