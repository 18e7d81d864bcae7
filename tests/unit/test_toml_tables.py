"""Parsing table by table builds exactly the document a whole parse builds, or declines and leaves it to one."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli
from hypothesis import given, settings
from hypothesis import strategies as st

from modalc.toml_tables import parse_by_table

# Lines chosen to meet every rule a split could break: headers of every kind, dotted keys and inline tables a
# header may not reach into, tables declared twice, and strings and arrays across lines whose lines start with `[`.
LINES = [
    "[a]",
    "[a.b]",
    "[a.b.c]",
    "[b]",
    "  [a.c]",
    " [a]",
    "\t[a.b]",
    "  [[t]]",
    '["a.b"]',
    '[ a . "q" ]',
    "[[t]]",
    "[[t.u]]",
    "[t.v]",
    "[[a.b]]",
    "[a] # comment",
    "[a]]",
    "x = 1",
    "y = 'two'",
    "b.c = 3",
    "c = { d = 4 }",
    "u = [ {w = 1} ]",
    's = """',
    "[inside]",
    '"""',
    "m = [",
    "[1, 2],",
    "]",
    "# [not]",
    "z = 2024-01-01",
    "",
]


def _equivalent(document: str) -> None:
    try:
        expected = tomli.loads(document)
    except tomli.TOMLDecodeError:
        expected = None
    assembled = parse_by_table(document, min_tables=1)
    if assembled is not None:
        assert expected is not None, "assembled a document a whole parse refuses"
        assert repr(assembled) == repr(expected)  # the same keys in the same order (and NaN is NaN)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=14))
def test_assembled_documents_are_the_whole_parse(lines: list[str]) -> None:
    _equivalent("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "document",
    [
        "[a.b]\nx = 1\n[a]\ny = 2\n",  # a super-table declared after its sub-table
        "[[t]]\nx = 1\n[t.u]\ny = 2\n[[t]]\nx = 3\n",  # a sub-table of an array's last element
        "top = 1\n[a]\nx = 1\n",
        "[a]\nx = 1\n  [b]\ny = 2\n\t[[c]]\nz = 3\n",  # indented headers
    ],
)
def test_valid_documents_are_assembled(document: str) -> None:
    assert repr(parse_by_table(document, min_tables=1)) == repr(tomli.loads(document))


@pytest.mark.parametrize(
    "document",
    [
        "[a]\nx = 1\n[a]\ny = 2\n",  # declared twice
        "[a.b]\n [a]\n[a]\n",  # declared twice, the first time by an indented header
        "[[a.b]]\n [a]\n[a]\n",
        "[a.b.c]\n  [a.b]\n[a.b]\n",
        "[a.b]\n\t[a]\n[a]\ny = 2\n",
        "['b']\n['b'.\"a\"]\n [b]\n",
        "[a]\nb.c = 1\n[a.b]\nd = 2\n",  # a header into a table of dotted keys
        "a = { b = 1 }\n[a.c]\n",  # a header into an inline table
        's = """\n[x]\n"""\n',  # a header-like line inside a string
        "[a.b]\nx = 1\n[a]\nb = 2\n",  # a key over a table
    ],
)
def test_doubtful_documents_are_left_to_a_whole_parse(document: str) -> None:
    assert parse_by_table(document, min_tables=1) is None


def test_small_documents_are_parsed_whole() -> None:
    assert parse_by_table("[a]\nx = 1\n") is None
    assert parse_by_table("x = 1\n", min_tables=0) is None  # no table at all


def test_strings_are_shared_across_tables() -> None:
    document = "".join(f'[functions.f{n}]\nhandler = "jobs:f{n}"\nimage = "base"\n' for n in range(3))
    functions = (parse_by_table(document, min_tables=1) or {})["functions"]
    assert len({id(key) for spec in functions.values() for key in spec}) == 2
    assert len({id(spec["image"]) for spec in functions.values()}) == 1


def test_every_bundled_example_parses_the_same() -> None:
    root = Path(__file__).resolve().parents[2]
    manifests = sorted((root / "examples").glob("*/*.toml")) + sorted((root / "tests" / "cases").glob("*/*.toml"))
    assert manifests
    for manifest in manifests:
        try:
            text = manifest.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a case of a manifest that is not text
        _equivalent(text)
