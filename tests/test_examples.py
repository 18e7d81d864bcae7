"""Every example is a golden test: its committed modules are exactly what the compiler produces now."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import assert_golden, examples, manifest_of, run_cli
from modalc.formatting import black_formatted
from modalc.pipeline import compile_manifest

EXAMPLES = examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_generated_modules_match_goldens(example: Path, update_goldens: bool) -> None:
    manifest = manifest_of(example)
    result = compile_manifest(manifest, display_name=manifest.name)
    assert result.ok, "\n".join(d.render() for d in result.diagnostics)
    assert set(result.environments) >= {"dev", "prod"}, "every example has dev and prod"
    for path, source in result.outputs.items():
        assert_golden(path, source, update_goldens)
    committed = sorted(p.name for p in (example / "generated").glob("app_*.py"))
    assert committed == sorted(p.name for p in result.outputs), "stale modules in generated/"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_generated_modules_are_black_formatted(example: Path) -> None:
    for module in sorted((example / "generated").glob("app_*.py")):
        source = module.read_text(encoding="utf-8")
        assert black_formatted(source) == source, f"{module} is not black-stable"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_build_check_passes_on_committed_output(example: Path) -> None:
    result = run_cli(["build", manifest_of(example).name, "--check"], cwd=example)
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.stderr


def test_examples_cover_the_issue() -> None:
    formats = {manifest_of(e).suffix for e in EXAMPLES}
    assert ".yaml" in formats and ".toml" in formats
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_dev_and_prod_differ_in_gpu_and_autoscaling(example: Path) -> None:
    dev, prod = (example / "generated" / f"app_{env}.py" for env in ("dev", "prod"))
    dev_text, prod_text = dev.read_text(), prod.read_text()
    assert dev_text != prod_text
    gpu_lines = lambda text: [line for line in text.splitlines() if "gpu=" in line or line.strip().startswith('"')]  # noqa: E731
    assert gpu_lines(dev_text) != gpu_lines(prod_text)
    scaling = ("min_containers", "max_containers", "buffer_containers")
    scaling_lines = lambda text: [line.strip() for line in text.splitlines() if line.strip().startswith(scaling)]  # noqa: E731
    assert scaling_lines(dev_text) != scaling_lines(prod_text)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_render_is_black_stable_by_construction(example: Path) -> None:
    """The format stage has nothing to do: black is never imported for a normal build."""
    from modalc.formatting import needs_black
    from modalc.render import render_app

    manifest = manifest_of(example)
    result = compile_manifest(manifest, display_name=manifest.name)
    for path, source in result.outputs.items():
        app = result.apps[path.stem.removeprefix("app_")]
        rendered = render_app(app, path.relative_to(example).as_posix())
        assert rendered == source and not needs_black(rendered)
