"""Manifests too big or too deep to commit as tests/cases/: generated here, each must fail cleanly.

Each test writes one hostile manifest into an empty project, runs `modalc build` on it and checks the exit code,
the exact stderr (one positioned error, no traceback, no internal error) and that nothing was written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_cli


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def build_fails(project: Path, manifest: str, content: bytes | str, expected_stderr: str) -> None:
    project.mkdir(exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    (project / manifest).write_bytes(data)
    before = _tree(project)
    result = run_cli(["build", manifest], cwd=project)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert result.exit_code == 1, result.stderr
    assert result.stderr == expected_stderr
    assert _tree(project) == before, "a failed build must write nothing"


def test_manifest_larger_than_20_mb(tmp_path: Path) -> None:
    size = 20 * 1024 * 1024
    head = b'version = 1\n[app]\nname = "demo"\n# '
    content = head + b"x" * (size - len(head) - 1) + b"\n"
    assert len(content) == size
    build_fails(
        tmp_path / "project",
        "app.toml",
        content,
        "app.toml: error: manifest is 20,971,520 bytes; the limit is 16,777,216 bytes "
        "(hint: split it into smaller apps)\n"
        "modalc: 1 error; nothing written\n",
    )


def test_yaml_with_100000_open_brackets(tmp_path: Path) -> None:
    build_fails(
        tmp_path / "project",
        "app.yaml",
        "[" * 100_000,
        "app.yaml:1:49: error: values are nested more than 48 levels deep\nmodalc: 1 error; nothing written\n",
    )


def test_yaml_nested_lists_deeper_than_the_limit(tmp_path: Path) -> None:
    depth = 100
    content = "version: 1\napp:\n  name: demo\n  tags: " + "[" * depth + "]" * depth + "\n"
    build_fails(
        tmp_path / "project",
        "app.yaml",
        content,
        "app.yaml:4:57: error: values are nested more than 48 levels deep\nmodalc: 1 error; nothing written\n",
    )


def test_yaml_billion_laughs(tmp_path: Path) -> None:
    # 9 levels of 9 aliases: 9**9 (387,420,489) strings once expanded.
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]" for level in range(1, 9)]
    content = "version: 1\napp:\n  name: demo\n" + "\n".join(lines) + "\n"
    build_fails(
        tmp_path / "project",
        "app.yaml",
        content,
        "app.yaml:10:5: error: this value expands to more than 2,000,000 values (YAML aliases nested inside aliases?)\n"
        "modalc: 1 error; nothing written\n",
    )


def test_toml_arrays_nested_deeper_than_the_limit(tmp_path: Path) -> None:
    depth = 100
    content = 'version = 1\n[app]\nname = "demo"\nx = ' + "[" * depth + "]" * depth + "\n"
    build_fails(
        tmp_path / "project",
        "app.toml",
        content,
        "app.toml:4:53: error: values are nested more than 48 levels deep\nmodalc: 1 error; nothing written\n",
    )


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("{ a = ", " }")], ids=["arrays", "inline_tables"])
def test_toml_nested_100000_levels(tmp_path: Path, opener: str, closer: str) -> None:
    depth = 100_000
    content = 'version = 1\n[app]\nname = "demo"\nx = ' + opener * depth + "1" + closer * depth + "\n"
    column = 5 + 48 * len(opener)  # the 49th opening bracket
    build_fails(
        tmp_path / "project",
        "app.toml",
        content,
        f"app.toml:4:{column}: error: values are nested more than 48 levels deep\nmodalc: 1 error; nothing written\n",
    )


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="[]{}\"'#\\\n a", max_size=200), st.integers(min_value=0, max_value=60))
def test_the_quick_nesting_bound_never_lets_through_what_the_exact_scan_refuses(text: str, depth: int) -> None:
    from modalc import load

    nested = text + "[" * depth + text + "]" * depth + text
    refused_exactly = load.first_too_deep_bracket(nested) is not None
    if not load._may_nest_too_deep(nested):
        assert not refused_exactly
    assert (load.check_flow_depth(nested, "app.toml") is not None) == refused_exactly


@pytest.mark.parametrize(
    "before",
    [
        'a = "say \\"hi"\n',  # an escaped quote does not end the string
        'a = """one \\""" quote"""\n',
        "a = 'C:\\'\n",  # a literal string has no escapes: it ends at its second quote
        '# say "hi\n',  # a comment opens no string
    ],
)
def test_only_brackets_outside_strings_nest(before: str) -> None:
    from modalc import load

    brackets = "[" * 50 + "]" * 50
    assert load.first_too_deep_bracket(f'{before}b = "{brackets}"\n') is None
    assert load.first_too_deep_bracket(f"{before}b = {brackets}\n") is not None


@pytest.mark.parametrize(("levels", "refused"), [(48, False), (49, True)])
def test_values_may_nest_48_levels_deep(levels: int, refused: bool) -> None:
    from modalc.diagnostics import ManifestError
    from modalc.load import MAX_DEPTH, check_shape

    assert MAX_DEPTH == 48

    class Positions:
        def value_position(self, path: tuple[object, ...]) -> tuple[int, int]:
            assert len(path) == MAX_DEPTH + 1
            return 1, 1

    for leaf in ({}, [], "x"):  # the deepest value, under `levels` tables
        data: object = leaf
        for _ in range(levels):
            data = {"k": data}
        try:
            check_shape(data, "app.toml", Positions)  # type: ignore[arg-type]
            refusal = None
        except ManifestError as error:
            refusal = error
        assert (refusal is not None) == refused, leaf
