"""build, validate, diff and schema never import `modal` (0.3 s on its own); --help imports almost nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES

PROBE = """
import json, sys
from modalc.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
heavy = ("modal", "grpclib", "black", "jinja2", "jsonschema", "yaml", "tomllib")
print(json.dumps({name: name in sys.modules for name in heavy}), file=sys.__stderr__)
"""


def imported(arguments: list[str], cwd: Path) -> dict[str, bool]:
    result = subprocess.run([sys.executable, "-c", PROBE, *arguments], cwd=cwd, capture_output=True, text=True)
    return json.loads(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "arguments",
    [
        ["build", "app.toml", "--check"],
        ["validate", "app.toml"],
        ["diff", "app.toml", "--env", "dev", "--env", "prod"],
        ["cost", "app.toml"],
        ["schema"],
    ],
    ids=lambda a: a[0],
)
def test_compiler_commands_never_import_modal(arguments: list[str]) -> None:
    loaded = imported(arguments, EXAMPLES / "whisper_service")
    assert loaded["modal"] is False and loaded["grpclib"] is False


def test_validate_needs_no_template_engine_and_help_needs_nothing_heavy() -> None:
    assert imported(["validate", "app.toml"], EXAMPLES / "whisper_service")["jinja2"] is False
    help_imports = imported(["--help"], EXAMPLES / "whisper_service")
    assert not any(help_imports.values()), help_imports


def test_yaml_manifests_do_not_load_the_toml_parser_and_vice_versa() -> None:
    assert imported(["validate", "app.yaml"], EXAMPLES / "nightly_job")["tomllib"] is False
    assert imported(["validate", "app.yaml"], EXAMPLES / "nightly_job")["yaml"] is True
    assert imported(["validate", "app.toml"], EXAMPLES / "whisper_service")["yaml"] is False
