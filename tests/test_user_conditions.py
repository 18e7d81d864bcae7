"""What the user (or their file system) did is an exit 1 with one clear line, never an exit 123.

Exit 123 means a bug in modalc. Each case here was one: a manifest shaped wrongly in a way validation did not
expect, an output path that is a directory, a symbolic link out of the project or a loop, a path part longer
than the file system allows, an output directory that is a file.
"""

from __future__ import annotations

import copy
import os
import random
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from helpers import CASES, EXAMPLES, REPO, run_cli, toml_dumps
from modalc.pipeline import check_manifest

LONG = "a" * 256  # one path part longer than NAME_MAX (255 on Linux and macOS)


@pytest.fixture
def whisper(tmp_path: Path) -> Path:
    destination = tmp_path / "whisper"
    shutil.copytree(EXAMPLES / "whisper_service", destination)
    return destination


def assert_clear_refusal(result: Any, *expected: str) -> None:
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def edit(manifest: Path, old: str, new: str) -> None:
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new, 1))


# --- the output --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["build"], ["deploy", "--env", "dev"], ["plan", "--env", "dev"]])
def test_a_module_path_that_is_a_directory(whisper: Path, command: list[str]) -> None:
    module = whisper / "generated" / "app_dev.py"
    module.unlink()
    module.mkdir()
    result = run_cli(command, cwd=whisper)
    if command == ["build"]:
        assert_clear_refusal(result, "app_dev.py in generated/ is a directory, not a generated module; nothing written")
    else:
        assert_clear_refusal(result, "modalc: cannot read generated/app_dev.py: Is a directory")
    assert module.is_dir()


def test_a_module_that_is_a_symbolic_link_out_of_the_output_directory(whisper: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("# not modalc's\n")
    module = whisper / "generated" / "app_dev.py"
    module.unlink()
    module.symlink_to(outside)
    result = run_cli(["build"], cwd=whisper)
    assert_clear_refusal(result, f"app_dev.py in generated/ is a symbolic link to {outside}, outside generated/")
    assert outside.read_text() == "# not modalc's\n"


@pytest.mark.parametrize("command", [["build"], ["deploy", "--env", "dev"], ["plan", "--env", "dev"]])
def test_an_output_directory_that_is_a_file(whisper: Path, command: list[str]) -> None:
    shutil.rmtree(whisper / "generated")
    (whisper / "generated").write_text("a file\n")
    result = run_cli(command, cwd=whisper)
    assert_clear_refusal(result, "app.toml:1:1: error: the output directory generated is not a directory")


# --- symbolic link loops and names too long ----------------------------------------------------------


def _loop(directory: Path, name: str) -> None:
    (directory / f"{name}-a").symlink_to(f"{name}-b")
    (directory / f"{name}-b").symlink_to(f"{name}-a")
    (directory / name).symlink_to(f"{name}-a")


LOOP = "Too many levels of symbolic links"


def test_an_output_directory_in_a_symlink_loop(whisper: Path) -> None:
    shutil.rmtree(whisper / "generated")
    _loop(whisper, "generated")
    for command in (["build"], ["build", "--check"], ["deploy", "--env", "dev"], ["plan", "--env", "dev"]):
        result = run_cli(command, cwd=whisper)
        assert_clear_refusal(result, f"error: the output directory generated cannot be used: {LOOP}")


def test_out_option_in_a_symlink_loop(whisper: Path) -> None:
    _loop(whisper, "elsewhere")
    assert_clear_refusal(run_cli(["build", "--out", "elsewhere"], cwd=whisper), LOOP)


def test_source_dir_in_a_symlink_loop(whisper: Path) -> None:
    _loop(whisper, "src")
    edit(whisper / "app.toml", 'name = "whisper-transcriber"\n', 'name = "whisper-transcriber"\nsource_dir = "src"\n')
    assert_clear_refusal(
        run_cli(["build"], cwd=whisper), f"error: app.source_dir: 'src' cannot be used as a directory: {LOOP}"
    )


def test_a_local_dir_in_a_symlink_loop(whisper: Path) -> None:
    _loop(whisper, "assets")
    edit(
        whisper / "app.toml",
        '{ env = { HF_HOME = "/cache/hf" } },\n',
        '{ env = { HF_HOME = "/cache/hf" } },\n  { local_dir = "assets", remote = "/assets", copy = true },\n',
    )
    assert_clear_refusal(
        run_cli(["build"], cwd=whisper), f"steps[3].local_dir: 'assets' cannot be used as a path: {LOOP}"
    )


def test_names_too_long_for_the_file_system(whisper: Path) -> None:
    manifest = whisper / "app.toml"
    original = manifest.read_text()
    assert_clear_refusal(run_cli(["build", "--out", LONG], cwd=whisper), "cannot be used: File name too long")
    assert_clear_refusal(run_cli(["build", f"{LONG}.toml"], cwd=whisper), "cannot read: File name too long")
    for old, new, expected in [
        (
            'name = "whisper-transcriber"\n',
            f'name = "whisper-transcriber"\nsource_dir = "{LONG}"\n',
            "cannot be used as a directory: File name too long",
        ),
        (
            '{ env = { HF_HOME = "/cache/hf" } },\n',
            f'{{ env = {{ HF_HOME = "/cache/hf" }} }},\n  {{ python_source = ["{LONG}"] }},\n',
            f"error: cannot use a path: {LONG}: File name too long",
        ),
        ("whisper_app.service:Transcriber", f"whisper_app.{LONG}:Transcriber", "File name too long"),
        (
            '{ env = { HF_HOME = "/cache/hf" } },\n',
            f'{{ env = {{ HF_HOME = "/cache/hf" }} }},\n  {{ local_file = "{LONG}/x", remote = "/x" }},\n',
            "File name too long",
        ),
    ]:
        manifest.write_text(original.replace(old, new, 1))
        assert_clear_refusal(run_cli(["build"], cwd=whisper), expected)
    manifest.write_text(original)
    assert run_cli(["build", "--check"], cwd=whisper).exit_code == 0


# --- manifests shaped in ways validation did not expect ----------------------------------------------


def test_an_overlay_onto_a_section_that_is_not_a_table(tmp_path: Path) -> None:
    shutil.copytree(CASES / "_project", tmp_path, dirs_exist_ok=True)
    (tmp_path / "app.toml").write_text(
        'version = 1\nfunctions = "x"\n[app]\nname = "demo"\n[environments.dev]\nfunctions.process = { gpu = "T4" }\n'
    )
    assert_clear_refusal(
        run_cli(["build"], cwd=tmp_path),
        "app.toml:2:13: error: functions: expected a table, got a string ('x')",
        "error: environments.dev.functions.process: the manifest declares no function 'process' to override",
    )


def test_a_web_type_that_is_a_list_or_a_table(tmp_path: Path) -> None:
    shutil.copytree(CASES / "_project", tmp_path, dirs_exist_ok=True)
    for value, shown in [('["fastapi"]', "an array"), ("{ a = 1 }", "a table")]:
        (tmp_path / "app.toml").write_text(
            'version = 1\n[app]\nname = "demo"\nimage = "base"\n[images.base]\nbase = "debian_slim"\npython = "3.12"\n'
            f'[functions.process]\nhandler = "pkg.mod:process"\nweb = {{ type = {value} }}\n'
        )
        assert_clear_refusal(
            run_cli(["build"], cwd=tmp_path),
            f"functions.process.web.type: expected one of 'fastapi', 'asgi', 'wsgi', 'web_server', got {shown}",
        )


# Every key of the kitchen-sink manifest, in the base and in an environment's overlay, given a value of each
# JSON type in turn. The full sweep (about 4,400 manifests, 150 s) found the two crashes above; CI runs a fixed
# sample, MODALC_SWEEP=all runs everything.
SWEEP_VALUES: list[Any] = ["s", 7, 1.5, True, [], ["x"], [1], {}, {"x": 1}, {"type": ["a"]}, [{}], [[]]]
SWEEP_SAMPLE = 150


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*path, index))
    return found


def _sweep_cases() -> list[tuple[str, tuple[Any, ...], Any]]:
    base = tomllib.loads((REPO / "tests" / "fixtures" / "kitchen_sink" / "app.toml").read_text())
    paths = [p for p in _paths(base) if p[0] != "environments"]
    cases = [(where, p, v) for p in paths for v in SWEEP_VALUES for where in ("base", "overlay")]
    cases = [c for c in cases if c[0] == "base" or not any(isinstance(part, int) for part in c[1])]
    if os.environ.get("MODALC_SWEEP") == "all":
        return cases
    return random.Random(14).sample(cases, SWEEP_SAMPLE)


def test_every_key_given_a_value_of_every_type(tmp_path: Path) -> None:
    fixture = REPO / "tests" / "fixtures" / "kitchen_sink"
    project = tmp_path / "sink"
    shutil.copytree(fixture, project)
    base = tomllib.loads((fixture / "app.toml").read_text())
    environment = next(iter(base["environments"]))
    for where, path, value in _sweep_cases():
        data = copy.deepcopy(base)
        if where == "base":
            node = data
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        else:
            node = data["environments"][environment]
            for part in path[:-1]:
                child = node.get(part)
                node[part] = child = child if isinstance(child, dict) else {}
                node = child
            node[path[-1]] = value
        (project / "app.toml").write_text(toml_dumps(data))
        result = check_manifest(project / "app.toml", display_name="app.toml")  # raises on a bug
        assert result.diagnostics or result.ok, (where, path, value)
