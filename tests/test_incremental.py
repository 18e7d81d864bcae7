"""The incremental build against a full one: for any edit it gives the full build's modules and diagnostics, or
no answer (then `modalc build` compiles everything).

Random edits of every line of every function and class of the TOML examples and fixtures (values changed,
lines deleted, duplicated, moved or commented out, keys added, blank lines and comments inserted, tables copied
or renamed), each built on the last, so the state a fast build leaves is what the next one reads. Manifests are
cut into tables from the first one (MIN_TABLES = 1), so small projects take the same path as large ones. For a
longer soak: MODALC_TEST_EDITS=500 pytest tests/test_incremental.py.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import REPO, run_cli
from modalc import incremental, toml_tables
from modalc.cache import BuildCache
from modalc.cli import cli
from modalc.paths import default_out_dir
from modalc.pipeline import CompileResult, compile_manifest

EDITS = int(os.environ.get("MODALC_TEST_EDITS", "24"))  # per project; a soak: MODALC_TEST_EDITS=500
PROJECTS = sorted(
    [p.parent for p in (REPO / "examples").glob("*/app.toml")]
    + [p.parent for p in (REPO / "tests" / "fixtures").glob("*/app.toml")]
)


@pytest.fixture(autouse=True)
def every_manifest_by_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(toml_tables, "MIN_TABLES", 1)
    monkeypatch.setenv("MODALC_CACHE_DIR", str(tmp_path / "cache"))


def copy(project: Path, tmp_path: Path) -> Path:
    destination = tmp_path / project.name
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns("generated"))
    return destination / "app.toml"


def build(manifest: Path) -> int:
    return CliRunner().invoke(cli, ["build", str(manifest)], catch_exceptions=False).exit_code


def edited(manifest: Path) -> CompileResult | None:
    raw = manifest.read_bytes()
    cache = BuildCache.open(manifest, raw, default_out_dir(manifest), ())
    assert cache is not None
    return incremental.compile_edit(cache, manifest, raw, str(manifest), (), None)


def agrees(manifest: Path) -> bool:
    """Whether the incremental build answered; where it did, it must say what a full build says."""
    fast = edited(manifest)
    if fast is None:
        return False
    whole = compile_manifest(manifest, display_name=str(manifest), cached_modules=False)
    assert whole.ok, [d.render() for d in whole.diagnostics]
    assert fast.outputs == whole.outputs
    assert [d.render() for d in fast.diagnostics] == [d.render() for d in whole.diagnostics]
    assert fast.manifest is not None and whole.manifest is not None
    assert whole.manifest.by_table
    assert fast.manifest.tables == toml_tables.Tables.of(whole.manifest.text)
    assert fast.manifest.value_count == whole.manifest.value_count
    return True


# --- edits ------------------------------------------------------------------------------------------------

_VALUE = re.compile(r"=\s*(-?\d+(?:\.\d+)?|true|false|\"[^\"\n]*\")\s*(?:#.*)?$")
_NEW_KEYS = [
    "max_containers = 7",
    "min_containers = 1",
    "timeout = 123",
    "retries = 4",
    "cpu = 2.5",
    "memory = 4096",
    'gpu = "T4"',
    'gpu = ["H100", "A100"]',
    'env = { EXTRA = "1" }',
    "scaledown_window = 90",
    "buffer_containers = 1",
    'cloud = "aws"',
    "max_containers = -1",
    'timeout = "soon"',
    "unknown_key = 1",
    'secrets = ["nope"]',
    'image = "missing"',
    'env = { API_KEY = "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c" }',
    "scaledown_window = 5 # modalc: not-a-secret",
    'env = { DB_PASSWORD = "hunter2hunter2" } # modalc: not-a-secret',
]


def _changed_value(line: str, rng: random.Random) -> str | None:
    match = _VALUE.search(line)
    if match is None:
        return None
    value = match.group(1)
    if value in ("true", "false"):
        new = "false" if value == "true" else "true"
    elif value.startswith('"'):
        new = rng.choice(['"' + value[1:-1] + 'x"', '"T4"', '"A100"', '""', str(rng.randint(0, 9))])
    elif "." in value:
        new = rng.choice([str(float(value) + 0.5), str(int(float(value)))])
    else:
        new = rng.choice([str(int(value) + 1), str(int(value) * 2), "0", f"{value}.0", "true"])
    return line[: match.start(1)] + new + line[match.end(1) :]


def _tables(lines: list[str]) -> list[tuple[int, int, str]]:
    """(first line, end, header) of each table whose header names a function, class or environment."""
    starts = [(i, line.strip()) for i, line in enumerate(lines) if line.lstrip().startswith("[")]
    out = []
    for (i, header), (end, _) in zip(starts, [*starts[1:], (len(lines), "")], strict=True):
        if re.match(r"\[(functions|classes|environments)\b", header):
            out.append((i, end, header))
    return out


def edit(text: str, rng: random.Random) -> str | None:
    lines = text.split("\n")
    tables = _tables(lines)
    if not tables:
        return None
    first, end, header = rng.choice(tables)
    body = list(range(first + 1, end))
    kind = rng.choice(["value"] * 5 + ["key"] * 3 + ["delete", "duplicate", "swap", "comment", "blank", "table"])
    if kind == "value" and body:
        candidates = [i for i in body if _VALUE.search(lines[i])]
        if candidates:
            i = rng.choice(candidates)
            lines[i] = _changed_value(lines[i], rng) or lines[i]
    elif kind == "key":
        lines.insert(first + 1, rng.choice(_NEW_KEYS))
    elif kind == "delete" and body:
        del lines[rng.choice(body)]
    elif kind == "duplicate" and body:
        i = rng.choice(body)
        lines.insert(i, lines[i])
    elif kind == "swap" and len(body) > 1:
        i = rng.choice(body[:-1])
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif kind == "comment":
        i = rng.choice([first, *body])
        lines.insert(i + rng.randint(0, 1), rng.choice(["# a note", "# modalc: not-a-secret"]))
    elif kind == "blank":
        lines.insert(rng.choice([first, *body, end]), "")
    elif kind == "table":
        block = lines[first:end]
        renamed = re.sub(r"^\[([^\]]*?)([A-Za-z0-9_]+)\]", r"[\1\2_copy]", block[0]) if rng.random() < 0.7 else block[0]
        lines[end:end] = [renamed, *block[1:]]
    new = "\n".join(lines)
    return new if new != text else None


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_random_edits_agree_with_a_full_build(project: Path, tmp_path: Path) -> None:
    manifest = copy(project, tmp_path)
    assert build(manifest) == 0
    rng = random.Random(project.name)
    answered = 0
    for _ in range(EDITS):
        text = manifest.read_text(encoding="utf-8")
        new = edit(text, rng)
        if new is None:
            continue
        manifest.write_text(new, encoding="utf-8")
        answered += agrees(manifest)
        if build(manifest) != 0:
            manifest.write_text(text, encoding="utf-8")  # an invalid edit: the next one starts from the last build
    assert answered, "no edit took the incremental path"


# --- what takes the incremental path, and what does not ---------------------------------------------------


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import synthetic as generator
    finally:
        sys.path.pop(0)
    functions, classes = generator.split(60)
    manifest = generator.write_project(tmp_path / "project", functions, classes, "toml")
    assert build(manifest) == 0
    return manifest


def _rewrite(manifest: Path, change: Callable[[str], str]) -> None:
    text = manifest.read_text(encoding="utf-8")
    new = change(text)
    assert new != text
    manifest.write_text(new, encoding="utf-8")


def _in_table(header: str, old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        start = text.index(header)
        at = text.index(old, start)
        return text[:at] + new + text[at + len(old) :]

    return change


@pytest.mark.parametrize(
    ("change", "fast"),
    [
        (_in_table("[functions.fn_0030]", "max_containers = ", "max_containers = 1"), True),
        (_in_table("[functions.fn_0030]", "max_containers = ", "# was\nmax_containers = 1"), True),
        (_in_table("[functions.fn_0030]", "timeout = ", "timeout = 1"), True),
        (_in_table("[environments.prod]", "max_containers = 100", "max_containers = 101"), True),
        (_in_table("[functions.fn_0030]", "\n\n", "\n# only a comment\n\n"), True),
        (_in_table("[classes.Model0003]", "max_containers = ", "max_containers = 1"), True),
        (_in_table("[functions.fn_0030]", 'handler = "', 'handler = "x'), False),
        (_in_table("[functions.fn_0030]", "max_containers = ", 'max_containers = "many" #'), False),
        (_in_table("[images.base]", 'python = "3.12"', 'python = "3.11"'), False),
        (_in_table("[functions.fn_0030]", "[functions.fn_0030]", "[functions.fn_0030]\n[functions.fn_0030]"), False),
        (_in_table("[functions.fn_0030]", "[functions.fn_0030]", "[functions.fn_0030_new]"), False),
    ],
    ids=[
        "value",
        "comment-and-value",
        "another-value",
        "environment-override",
        "comment-only",
        "class-value",
        "handler",
        "schema-error",
        "image-context",
        "declared-twice",
        "renamed",
    ],
)
def test_which_edits_are_incremental(synthetic: Path, change: Callable[[str], str], fast: bool) -> None:
    _rewrite(synthetic, change)
    assert agrees(synthetic) == fast


def test_warnings_move_with_their_lines(synthetic: Path) -> None:
    # An unused secret is a warning at its line: above an edit it stays, below it moves with it, in it the edit
    # is a full build's.
    _rewrite(
        synthetic, lambda text: text.replace("[secrets.common]", '[secrets.spare]\nname = "spare"\n\n[secrets.common]')
    )
    assert build(synthetic) == 0
    _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = ", "max_containers = 1"))
    assert agrees(synthetic)  # the warning is above the edit: it stays where it was
    assert build(synthetic) == 0
    _rewrite(synthetic, lambda text: text.replace("[secrets.spare]", "[secrets.spare]\n# moved"))
    assert not agrees(synthetic)
    _rewrite(synthetic, lambda text: text.replace('[secrets.spare]\n# moved\nname = "spare"\n', ""))
    _rewrite(synthetic, lambda text: text + '\n[secrets.last]\nname = "last"\n')
    assert build(synthetic) == 0
    _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = ", "cpu = 2.0\nmax_containers = 2"))
    assert agrees(synthetic)  # below the edit: one line further down
    fast = edited(synthetic)
    assert fast is not None and [d.line for d in fast.diagnostics] == [synthetic.read_text().count("\n") - 1]


def test_an_edit_after_a_fast_build_starts_from_its_state(synthetic: Path) -> None:
    for value in range(3):
        _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = ", f"max_containers = {value + 1}"))
        assert agrees(synthetic)
        assert build(synthetic) == 0
    assert CliRunner().invoke(cli, ["build", "--check", str(synthetic)]).exit_code == 0


@pytest.mark.parametrize("options", [["--env", "prod"], ["--out", "elsewhere"]], ids=["one-environment", "out"])
def test_the_options_of_the_last_build_are_kept(synthetic: Path, options: list[str]) -> None:
    args = [str(synthetic), *[str(synthetic.parent / o) if o == "elsewhere" else o for o in options]]
    assert CliRunner().invoke(cli, ["build", *args]).exit_code == 0
    _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = ", "max_containers = 1"))
    raw = synthetic.read_bytes()
    environments = ("prod",) if "--env" in options else ()
    out_dir = synthetic.parent / "elsewhere" if "--out" in options else None
    cache = BuildCache.open(synthetic, raw, out_dir or default_out_dir(synthetic), environments)
    assert cache is not None
    fast = incremental.compile_edit(cache, synthetic, raw, str(synthetic), environments, out_dir)
    whole = compile_manifest(
        synthetic, display_name=str(synthetic), environments=environments, out_dir=out_dir, cached_modules=False
    )
    assert fast is not None and fast.outputs == whole.outputs


def test_the_command_says_what_a_full_build_says(synthetic: Path, tmp_path: Path) -> None:
    _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = ", "max_containers = 1"))
    assert edited(synthetic) is not None
    fast = run_cli(["build", "app.toml"], synthetic.parent)
    modules = {p.name: p.read_text() for p in (synthetic.parent / "generated").glob("*.py")}
    _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = 1", "max_containers = 2"))
    assert CliRunner().invoke(cli, ["build", str(synthetic)]).exit_code == 0
    _rewrite(synthetic, _in_table("[functions.fn_0030]", "max_containers = 2", "max_containers = 1"))
    full = run_cli(["build", "--no-cache", "app.toml"], synthetic.parent)
    assert fast == full
    assert modules == {p.name: p.read_text() for p in (synthetic.parent / "generated").glob("*.py")}


def test_a_yaml_manifest_leaves_no_state(tmp_path: Path) -> None:
    project = tmp_path / "nightly_job"
    shutil.copytree(REPO / "examples" / "nightly_job", project, ignore=shutil.ignore_patterns("generated"))
    assert build(project / "app.yaml") == 0
    assert not list((tmp_path / "cache").glob("*.edit"))


# --- what a review found (each was an answer a full build would not give) ---------------------------------


def _project(tmp_path: Path, name: str, change: Callable[[str], str] = lambda text: text) -> Path:
    source = REPO / "examples" / name if (REPO / "examples" / name).is_dir() else REPO / "tests" / "fixtures" / name
    manifest = copy(source, tmp_path)
    manifest.write_text(change(manifest.read_text(encoding="utf-8")), encoding="utf-8")
    assert build(manifest) == 0
    return manifest


_SECRET = 'env = { DB_PASSWORD = "hunter2hunter2" }'


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("scaledown_window = 120\n", "scaledown_window = 120 # modalc: not-a-secret\n"),  # waives nothing: a warning
        ("scaledown_window = 120\n", "scaledown_window = 121 # modalc: not-a-secret\n"),
        (f"{_SECRET} # modalc: not-a-secret\n", f"{_SECRET}\n"),  # the waived credential is an error again
        (f"{_SECRET} # modalc: not-a-secret\n", f"{_SECRET}\n# modalc: not-a-secret\n"),
    ],
)
def test_waiver_markers_in_the_edit_are_a_full_builds(tmp_path: Path, before: str, after: str) -> None:
    def setup(text: str) -> str:
        return text if before.startswith("scaledown") else text.replace("scaledown_window = 120\n", before, 1)

    manifest = _project(tmp_path, "inference_api", setup)
    _rewrite(manifest, lambda text: text.replace(before, after, 1))
    assert not agrees(manifest)


def _fanout_with(tmp_path: Path, *tables: str) -> Path:
    """The fanout fixture with its production override written as these tables instead."""
    return _project(
        tmp_path,
        "fanout",
        lambda text: text.replace("functions.work = { max_containers = 10 }\n", "") + "".join(f"\n{t}" for t in tables),
    )


def test_entries_only_an_environment_declares_keep_its_order(tmp_path: Path) -> None:
    first = '[environments.prod.functions.extra1]\nhandler = "fanout.jobs:work"\n'
    second = '[environments.prod.functions.extra2]\nhandler = "fanout.jobs:post"\n'
    manifest = _fanout_with(tmp_path, first, second)
    _rewrite(manifest, lambda text: text.replace(f"{first}\n{second}", f"{second}\n{first}"))
    assert not agrees(manifest)
    _rewrite(manifest, lambda text: text.replace('"fanout.jobs:post"\n', '"fanout.jobs:post"\ntimeout = 9\n'))
    agrees(manifest)


def test_removing_the_only_table_that_made_a_container(tmp_path: Path) -> None:
    work = "[environments.prod.functions.work]\nmax_containers = 10\n"
    post = "[environments.prod.functions.post]\nmax_containers = 3\n"
    manifest = _fanout_with(tmp_path, work, post)
    _rewrite(manifest, lambda text: text.replace(post, ""))
    agrees(manifest)  # the value count is the full build's, or no answer


def test_brackets_in_a_string_after_an_escaped_quote(tmp_path: Path) -> None:
    manifest = _project(
        tmp_path,
        "inference_api",
        lambda text: text.replace("scaledown_window = 120\n", 'env = { NOTE = "say \\"hi" }\n', 1),
    )
    deep = "[" * 50 + "]" * 50
    _rewrite(
        manifest, lambda text: text.replace("[functions.api]\n", f'[functions.api]\nenv = {{ NOTE = "{deep}" }}\n')
    )
    assert agrees(manifest)


def test_a_line_separator_in_a_comment_moves_no_line(tmp_path: Path) -> None:
    manifest = _project(
        tmp_path,
        "inference_api",
        lambda text: text.replace('name = "sentiment-api"\n', 'name = "sentiment-api"  # see\u2028the docs\n', 1),
    )
    _rewrite(manifest, lambda text: text.replace("scaledown_window = 120", "scaledown_window = 121", 1))
    assert agrees(manifest)
