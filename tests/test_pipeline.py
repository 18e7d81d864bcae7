"""The pipeline's stages pass values: the same manifest compiles to the same bytes whatever is selected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import CASES, EXAMPLES, manifest_of, run_cli
from modalc.load import load_manifest
from modalc.pipeline import compile_manifest

MANIFEST = """\
version = 1
[app]
name = "moved"
image = "base"
source_dir = "a"
[images.base]
base = "debian_slim"
python = "3.12"
[functions.f]
handler = "jobs:f"
[environments.dev]
[environments.prod]
app.source_dir = "b"
"""


def _project(root: Path) -> Path:
    (root / "app.toml").write_text(MANIFEST)
    for directory, signature in (("a", "x"), ("b", "x, y=2")):
        (root / directory).mkdir()
        (root / directory / "jobs.py").write_text(f"def f({signature}):\n    return x\n")
    return root


def test_each_environment_reads_handlers_from_its_own_source_dir(tmp_path: Path) -> None:
    project = _project(tmp_path)
    everything = compile_manifest(project / "app.toml")
    prod_only = compile_manifest(project / "app.toml", environments=["prod"])
    assert everything.ok and prod_only.ok
    module = project / "generated" / "app_prod.py"
    assert everything.outputs[module] == prod_only.outputs[module]
    assert "def f(x, y=2):" in everything.outputs[module]
    assert "def f(x):" in everything.outputs[project / "generated" / "app_dev.py"]
    assert run_cli(["build"], cwd=project).exit_code == 0
    check = run_cli(["build", "--env", "prod", "--check"], cwd=project)
    assert check.exit_code == 0, check.stderr


def test_dependencies_are_returned_as_a_value(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = compile_manifest(project / "app.toml")
    assert isinstance(result.dependencies, frozenset)
    assert {project / "a" / "jobs.py", project / "b" / "jobs.py"} <= result.dependencies


PROJECTS = sorted(d for d in EXAMPLES.iterdir() if d.is_dir()) + sorted(
    d for d in CASES.iterdir() if (d / "expected").is_dir()
)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_no_stage_mutates_the_manifest_data(project: Path, tmp_path: Path) -> None:
    # Environments share the values they do not override with the base (overlay.apply_environment).
    shutil.copytree(CASES / "_project" if project.parent == CASES else project, tmp_path, dirs_exist_ok=True)
    shutil.copytree(project, tmp_path, dirs_exist_ok=True)
    manifest = manifest_of(tmp_path)
    result = compile_manifest(manifest)
    assert result.ok and result.manifest is not None, result.diagnostics
    assert result.manifest.data == load_manifest(manifest).data


@pytest.mark.parametrize("example", sorted(d for d in EXAMPLES.iterdir() if d.is_dir()), ids=lambda p: p.name)
def test_a_build_leaves_no_reference_cycle_holding_its_parsed_handlers(example: Path, tmp_path: Path) -> None:
    """Builds raise the collector's threshold, so a cycle would keep every parsed handler until the process ends."""
    import gc

    shutil.copytree(example, tmp_path, dirs_exist_ok=True)
    gc.collect()
    gc.disable()
    try:
        assert compile_manifest(manifest_of(tmp_path)).ok
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        held = {type(o).__name__ for o in gc.garbage} & {"Session", "SourceTree", "ParsedModule", "FunctionFacts"}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert held == set()
