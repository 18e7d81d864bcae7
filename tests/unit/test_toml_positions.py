"""Tests for modalc.toml_positions.scan_toml_positions."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import textwrap
import time
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modalc.toml_positions import MAX_DEPTH, Span, scan_toml_positions

# --------------------------------------------------------------------------- helpers


def all_paths(data: Any, prefix: tuple = ()) -> set[tuple]:
    """Every path of tomllib-style data (iteratively, for deep values)."""
    paths: set[tuple] = set()
    stack = [(prefix, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        for key, child in items:
            paths.add(path + (key,))
            stack.append((path + (key,), child))
    return paths


def scan(text: str) -> dict:
    """Scan ``text`` and check the path set against tomllib's data."""
    positions = scan_toml_positions(text)
    assert set(positions) == all_paths(tomllib.loads(text))
    return positions


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def offset_of(text: str, line: int, col: int) -> int:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return starts[line - 1] + col - 1


# ----------------------------------------------------------------- hand-written


def test_empty_and_comment_only_documents() -> None:
    assert scan("") == {}
    assert scan("# just a comment\n\n   \t\n# another") == {}


def test_simple_key_values() -> None:
    pos = scan('title = "TOML"\nn=1\n')
    assert pos[("title",)] == Span(1, 1, 1, 9)
    assert pos[("n",)] == Span(2, 1, 2, 3)


def test_span_is_immutable_value_object() -> None:
    span = Span(1, 2, 3, 4)
    assert (span.key_line, span.key_col, span.value_line, span.value_col) == (
        1,
        2,
        3,
        4,
    )
    assert span == Span(key_line=1, key_col=2, value_line=3, value_col=4)
    assert len({span, Span(1, 2, 3, 4)}) == 1
    with pytest.raises(AttributeError):
        span.key_line = 5  # type: ignore[misc]


def test_comments_blank_lines_indentation_and_tabs() -> None:
    text = "# leading comment\n\n   a = 1  # trailing\n\tb\t=\t2\n[\tt\t]\t# c\n"
    pos = scan(text)
    assert pos[("a",)] == Span(3, 4, 3, 8)
    assert pos[("b",)] == Span(4, 2, 4, 6)
    assert pos[("t",)] == Span(5, 3, 5, 1)


def test_dotted_keys_with_whitespace_around_dots() -> None:
    pos = scan("a . b.c = 1\na.d = 2\n")
    # Implicit tables from dotted keys: key = value = the segment's first mention.
    assert pos[("a",)] == Span(1, 1, 1, 1)
    assert pos[("a", "b")] == Span(1, 5, 1, 5)
    assert pos[("a", "b", "c")] == Span(1, 7, 1, 11)
    assert pos[("a", "d")] == Span(2, 3, 2, 7)


def test_quoted_keys() -> None:
    text = doc(r"""
        "a.b" = 1
        'lit' = 2
        "\u00e9t\u00e9" = 3
        "" = 4
        site."google.com".'x y' = true
        "tab\there" = 5
        """)
    pos = scan(text)
    assert pos[("a.b",)] == Span(1, 1, 1, 9)
    assert pos[("lit",)] == Span(2, 1, 2, 9)
    assert pos[("été",)] == Span(3, 1, 3, 19)
    assert pos[("",)] == Span(4, 1, 4, 6)
    assert pos[("site",)] == Span(5, 1, 5, 1)
    assert pos[("site", "google.com")] == Span(5, 6, 5, 6)
    assert pos[("site", "google.com", "x y")] == Span(5, 19, 5, 27)
    assert pos[("tab\there",)] == Span(6, 1, 6, 15)


def test_columns_count_characters_not_bytes() -> None:
    pos = scan('t = { "é😀" = 1, b = 2 }\n')
    assert pos[("t", "é😀")] == Span(1, 7, 1, 14)
    assert pos[("t", "b")] == Span(1, 17, 1, 21)


def test_table_headers() -> None:
    text = doc("""
        [server]
        host = "x"
        [ server . "alpha" ]
        ip = 1
        """)
    pos = scan(text)
    assert pos[("server",)] == Span(1, 2, 1, 1)
    assert pos[("server", "host")] == Span(2, 1, 2, 8)
    assert pos[("server", "alpha")] == Span(3, 12, 3, 1)
    assert pos[("server", "alpha", "ip")] == Span(4, 1, 4, 6)


def test_implicit_table_later_defined_by_header_keeps_first_mention() -> None:
    text = doc("""
        [a.b.c]
        x = 1
        [a]
        y = 2
        [a.b]
        z = 3
        """)
    pos = scan(text)
    assert pos[("a",)] == Span(1, 2, 1, 1)
    assert pos[("a", "b")] == Span(1, 4, 1, 1)
    assert pos[("a", "b", "c")] == Span(1, 6, 1, 1)
    assert pos[("a", "b", "c", "x")] == Span(2, 1, 2, 5)
    assert pos[("a", "y")] == Span(4, 1, 4, 5)
    assert pos[("a", "b", "z")] == Span(6, 1, 6, 5)


def test_tables_made_by_dotted_keys_then_extended_by_header() -> None:
    text = doc("""
        [fruit]
        apple.color = "red"
        apple.taste.sweet = true

        [fruit.apple.texture]
        smooth = true
        """)
    pos = scan(text)
    assert pos[("fruit",)] == Span(1, 2, 1, 1)
    assert pos[("fruit", "apple")] == Span(2, 1, 2, 1)
    assert pos[("fruit", "apple", "color")] == Span(2, 7, 2, 15)
    assert pos[("fruit", "apple", "taste")] == Span(3, 7, 3, 7)
    assert pos[("fruit", "apple", "taste", "sweet")] == Span(3, 13, 3, 21)
    assert pos[("fruit", "apple", "texture")] == Span(5, 14, 5, 1)
    assert pos[("fruit", "apple", "texture", "smooth")] == Span(6, 1, 6, 10)


def test_arrays_of_tables() -> None:
    text = doc("""
        [[fruit]]
        name = "apple"

        [fruit.physical]
        color = "red"

        [[fruit.variety]]
        name = "red delicious"

        [[fruit]]
        name = "banana"

        [[ fruit . variety ]]
        name = "plantain"
        """)
    pos = scan(text)
    assert pos[("fruit",)] == Span(1, 3, 1, 1)
    assert pos[("fruit", 0)] == Span(1, 3, 1, 1)
    assert pos[("fruit", 0, "name")] == Span(2, 1, 2, 8)
    assert pos[("fruit", 0, "physical")] == Span(4, 8, 4, 1)
    assert pos[("fruit", 0, "physical", "color")] == Span(5, 1, 5, 9)
    assert pos[("fruit", 0, "variety")] == Span(7, 9, 7, 1)
    assert pos[("fruit", 0, "variety", 0)] == Span(7, 9, 7, 1)
    assert pos[("fruit", 0, "variety", 0, "name")] == Span(8, 1, 8, 8)
    assert pos[("fruit", 1)] == Span(10, 3, 10, 1)
    assert pos[("fruit", 1, "name")] == Span(11, 1, 11, 8)
    assert pos[("fruit", 1, "variety")] == Span(13, 12, 13, 1)
    assert pos[("fruit", 1, "variety", 0)] == Span(13, 12, 13, 1)
    assert pos[("fruit", 1, "variety", 0, "name")] == Span(14, 1, 14, 8)


def test_array_of_tables_under_implicit_table_and_empty_elements() -> None:
    pos = scan("[[a.b]]\n[[a.b]]\n[a]\nx = 1\n")
    assert pos[("a",)] == Span(1, 3, 1, 1)
    assert pos[("a", "b")] == Span(1, 5, 1, 1)
    assert pos[("a", "b", 0)] == Span(1, 5, 1, 1)
    assert pos[("a", "b", 1)] == Span(2, 5, 2, 1)
    assert pos[("a", "x")] == Span(4, 1, 4, 5)


def test_inline_tables_nested_and_empty() -> None:
    text = "point = { x = 1, y = { z = [] }, e = {} }\nq = { a.b = 1 }\n"
    pos = scan(text)
    assert pos[("point",)] == Span(1, 1, 1, 9)
    assert pos[("point", "x")] == Span(1, 11, 1, 15)
    assert pos[("point", "y")] == Span(1, 18, 1, 22)
    assert pos[("point", "y", "z")] == Span(1, 24, 1, 28)
    assert pos[("point", "e")] == Span(1, 34, 1, 38)
    assert pos[("q",)] == Span(2, 1, 2, 5)
    assert pos[("q", "a")] == Span(2, 7, 2, 7)
    assert pos[("q", "a", "b")] == Span(2, 9, 2, 13)


def test_multiline_arrays_with_comments_and_trailing_commas() -> None:
    text = doc("""
        data = [ # comment
          [1, 2],   # first
          ["a", 'b'],
          # only a comment
          [ [ ], { k = 1 } ],
        ]
        empty = []
        after = 1
        """)
    pos = scan(text)
    assert pos[("data",)] == Span(1, 1, 1, 8)
    assert pos[("data", 0)] == Span(2, 3, 2, 3)
    assert pos[("data", 0, 0)] == Span(2, 4, 2, 4)
    assert pos[("data", 0, 1)] == Span(2, 7, 2, 7)
    assert pos[("data", 1)] == Span(3, 3, 3, 3)
    assert pos[("data", 1, 0)] == Span(3, 4, 3, 4)
    assert pos[("data", 1, 1)] == Span(3, 9, 3, 9)
    assert pos[("data", 2)] == Span(5, 3, 5, 3)
    assert pos[("data", 2, 0)] == Span(5, 5, 5, 5)
    assert pos[("data", 2, 1)] == Span(5, 10, 5, 10)
    assert pos[("data", 2, 1, "k")] == Span(5, 12, 5, 16)
    assert pos[("empty",)] == Span(7, 1, 7, 9)
    assert pos[("after",)] == Span(8, 1, 8, 9)


def test_all_string_kinds() -> None:
    lines = [
        's1 = "with \\"quote\\" and # hash \\\\"',
        "s2 = 'C:\\path # not a comment'",
        's3 = """a""b"""',
        's4 = """ends with quotes"""""',
        "s5 = '''it''s'''",
        "s6 = '''one more''''",
        's7 = """\\',
        "     folded \\",
        '     line"""',
        's8 = """with \\\\"""',
        's9 = """',
        'multi "" line \\"""',
        "  [not = a.table]",
        "# not a comment",
        '"""',
        "s10 = '''",
        "raw \\n [x] # y",
        "'''",
        's11 = """"""',
        's12 = """\\"\\"\\""""',
        'arr = ["""x',
        "]\"\"\", '''y,''', \"z\"]",
        "after = 1",
    ]
    text = "\n".join(lines) + "\n"
    pos = scan(text)
    for i in range(1, 7):
        assert pos[(f"s{i}",)] == Span(i, 1, i, 6)
    assert pos[("s7",)] == Span(7, 1, 7, 6)
    assert pos[("s8",)] == Span(10, 1, 10, 6)
    assert pos[("s9",)] == Span(11, 1, 11, 6)
    assert pos[("s10",)] == Span(16, 1, 16, 7)
    assert pos[("s11",)] == Span(19, 1, 19, 7)
    assert pos[("s12",)] == Span(20, 1, 20, 7)
    assert pos[("arr",)] == Span(21, 1, 21, 7)
    assert pos[("arr", 0)] == Span(21, 8, 21, 8)
    assert pos[("arr", 1)] == Span(22, 7, 22, 7)
    assert pos[("arr", 2)] == Span(22, 17, 22, 17)
    assert pos[("after",)] == Span(23, 1, 23, 9)


def test_numbers_booleans_and_dates() -> None:
    text = doc("""
        i1 = +99
        i2 = -17
        i3 = 1_000
        h = 0xDEAD_beef
        o = 0o755
        b = 0b1101
        f1 = -3.14e-10
        f2 = +inf
        f3 = -nan
        f4 = 6.02E+23
        t = true
        f = false
        odt1 = 1979-05-27T07:32:00Z
        odt2 = 1979-05-27 00:32:00.999999-07:00
        ldt = 1979-05-27t07:32:00
        ld = 1979-05-27 # a date then a comment
        lt = 00:32:00.5
        arr = [1979-05-27 07:32:00, 1979-05-27, 07:32:00, -1_0.5e+1_0]
        after = 1
        """)
    pos = scan(text)
    lines = text.splitlines()
    for line_no, line in enumerate(lines, start=1):
        key = line.split("=")[0].strip()
        assert pos[(key,)] == Span(line_no, 1, line_no, line.index("=") + 3)
    assert pos[("arr", 0)] == Span(18, 8, 18, 8)
    assert pos[("arr", 1)] == Span(18, 29, 18, 29)
    assert pos[("arr", 2)] == Span(18, 41, 18, 41)
    assert pos[("arr", 3)] == Span(18, 51, 18, 51)


def test_crlf_line_endings_give_the_same_positions() -> None:
    text = doc('''
        # comment
        a = [
          1, # c
          """x
        y""",
        ]
        [t . u] # c
        k = { x = 1 }
        [[aot]]
        s = \'\'\'
        z\'\'\'
        ''')
    assert scan(text.replace("\n", "\r\n")) == scan(text)
    assert scan(text)[("aot", 0, "s")] == Span(10, 1, 10, 5)


def test_realistic_manifest() -> None:
    text = doc("""
        # modalc manifest
        [app]
        name = "ml-pipeline"
        description = '''
        Nightly training and batch inference.
        '''

        [images.base]
        python = "3.11"
        steps = [
          { pip = ["torch==2.3.0", "numpy"] },   # heavy
          { apt = ["ffmpeg"] },
          { run = "echo hi", env = { DEBUG = "1" } },
        ]

        [functions.train]
        image = "base"
        gpu = "A100"
        timeout = 3600
        schedule = { cron = "0 3 * * *", timezone = "Europe/Berlin" }
        secrets = ["wandb", "hf"]

        [functions.infer]
        image = "base"
        concurrency.max_inputs = 8

        [environments.prod]
        region = "us-east"
        functions.train.gpu = "H100"

        [environments.prod.classes.Model]
        min_containers = 2
        gpu."type" = "L4"
        """)
    pos = scan(text)
    assert pos[("app",)] == Span(2, 2, 2, 1)
    assert pos[("app", "description")] == Span(4, 1, 4, 15)
    assert pos[("images",)] == Span(8, 2, 8, 1)
    assert pos[("images", "base")] == Span(8, 9, 8, 1)
    assert pos[("images", "base", "steps")] == Span(10, 1, 10, 9)
    assert pos[("images", "base", "steps", 0)] == Span(11, 3, 11, 3)
    assert pos[("images", "base", "steps", 0, "pip")] == Span(11, 5, 11, 11)
    assert pos[("images", "base", "steps", 0, "pip", 1)] == Span(11, 28, 11, 28)
    assert pos[("images", "base", "steps", 1, "apt", 0)] == Span(12, 12, 12, 12)
    assert pos[("images", "base", "steps", 2, "env", "DEBUG")] == Span(13, 30, 13, 38)
    assert pos[("functions", "train")] == Span(16, 12, 16, 1)
    assert pos[("functions", "train", "gpu")] == Span(18, 1, 18, 7)
    assert pos[("functions", "train", "schedule", "cron")] == Span(20, 14, 20, 21)
    assert pos[("functions", "train", "schedule", "timezone")] == Span(20, 34, 20, 45)
    assert pos[("functions", "train", "secrets", 1)] == Span(21, 21, 21, 21)
    assert pos[("functions", "infer", "concurrency")] == Span(25, 1, 25, 1)
    assert pos[("functions", "infer", "concurrency", "max_inputs")] == Span(25, 13, 25, 26)
    assert pos[("environments", "prod")] == Span(27, 15, 27, 1)
    assert pos[("environments", "prod", "functions")] == Span(29, 1, 29, 1)
    assert pos[("environments", "prod", "functions", "train", "gpu")] == Span(29, 17, 29, 23)
    assert pos[("environments", "prod", "classes")] == Span(31, 20, 31, 1)
    assert pos[("environments", "prod", "classes", "Model")] == Span(31, 28, 31, 1)
    assert pos[("environments", "prod", "classes", "Model", "gpu", "type")] == Span(33, 5, 33, 14)


# ----------------------------------------------------------------- depth & errors


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 10_000 + "]" * 10_000,
        "x = " + "{a=" * 10_000 + "1" + "}" * 10_000,
        "x = " + "[" * 10_000,
        "[" + ".".join(["a"] * 10_000) + "]",
        ".".join(["a"] * 10_000) + " = 1",
        "[" + ".".join(["a"] * MAX_DEPTH) + "]\nb = 1",
    ],
    ids=["arrays", "inline-tables", "unclosed", "header", "dotted", "key"],
)
def test_too_deep_raises_value_error_not_recursion_error(text: str) -> None:
    with pytest.raises(ValueError, match="deeper than"):
        scan_toml_positions(text)


def test_deep_nesting_that_tomllib_accepts() -> None:
    text = "x = " + "[" * 300 + "1" + "]" * 300 + "\ny = " + "{a=" * 300 + "1" + "}" * 300
    pos = scan(text)
    assert pos[("x",) + (0,) * 300] == Span(1, 305, 1, 305)


@pytest.mark.parametrize(
    "text",
    [
        "a = ",
        'a = "unterminated',
        "a = '''never closed",
        "[a",
        "[[a]",
        "a = [1 2]",
        "a = [,]",
        "a = {,}",
        "= 1",
        "a = 1 b = 2",
        "a.=1",
        '"a\\q" = 1',
        "a = [1,,2]",
    ],
)
def test_text_tomllib_rejects_raises_value_error(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(text)
    with pytest.raises(ValueError):
        scan_toml_positions(text)


TOML_ALPHABET = list("[]{}\"'=#.,\n\r\t \\_-+:ab1Z09eT") + [
    "'''",
    '"""',
    "[[",
    "]]",
    "a = ",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOML_ALPHABET), max_size=40).map("".join))
def test_fuzz_never_crashes_and_agrees_with_tomllib(text: str) -> None:
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        parsed = None
    try:
        positions = scan_toml_positions(text)
    except ValueError:
        assert parsed is None, "valid TOML must scan"
        return
    if parsed is not None:
        assert set(positions) == all_paths(parsed)


@pytest.mark.parametrize(
    "text",
    [
        'a = """' + '"' * 200_000,
        "a = '''" + "''x" * 100_000,
        'a = ["""' + '", "' * 100_000,
        "a = [" + "#\n" * 100_000,
        "a = " + "\\" * 200_000,
        '"' + "\\" * 200_000,
    ],
)
def test_pathological_text_is_fast(text: str) -> None:
    start = time.process_time()
    try:
        scan_toml_positions(text)
    except ValueError:
        pass
    assert time.process_time() - start < 1.0


def test_one_megabyte_document_is_fast() -> None:
    section = doc("""
        [section{i}]
        name = "value {i} with \\"escapes\\""
        nums = [1, 2, 3, 4.5, -6e7, 0x1F]
        when = 1979-05-27T07:32:00Z
        inline = {{ a = 1, b.c = "x", d = [true, false] }}
        ml = \"\"\"
        line one
        \"\"\"
        # comment here
        [[section{i}.items]]
        k = 'lit'
        """)
    text = "".join(section.format(i=i) for i in range(1_000_000 // len(section) + 1))
    assert len(text) >= 1_000_000
    best = math.inf
    for _ in range(3):
        start = time.process_time()
        positions = scan_toml_positions(text)
        best = min(best, time.process_time() - start)
    assert len(positions) > 80_000
    # The target is well under 0.5 s; the bound leaves room for slow CI machines.
    assert best < 1.0


# ----------------------------------------------------------------- property test
#
# Random data is serialised to TOML in randomly chosen styles; tomllib must read
# it back unchanged, the scanner must find exactly tomllib's paths, and the text
# at each reported position must be that key and that value.

BARE = re.compile(r"[A-Za-z0-9_-]+")
SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
COMMENTS = [
    "#",
    "# c",
    "# [fake.header]",
    '# key = "value"',
    "# '''",
    '# """',
    "# ]} ,",
    "# ünïcødé 😀",
]
WS = ["", " ", "  ", "\t"]
DOTS = [".", " .", ". ", " . ", "\t.\t"]


def is_control(ch: str) -> bool:
    return (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F


def basic_string(s: str, rnd: random.Random) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in SHORT_ESCAPES and (ch != "\t" or rnd.random() < 0.5):
            out.append(SHORT_ESCAPES[ch])
        elif is_control(ch) or rnd.random() < 0.05:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def literal_ok(s: str) -> bool:
    return "'" not in s and not any(is_control(ch) for ch in s)


def ml_basic_string(s: str, rnd: random.Random) -> str:
    units: list[str] = []
    quotes = 0
    for ch in s:
        if ch == '"':
            # Escape only the third quote of a run, so runs of "" stay raw.
            units.append('\\"' if quotes == 2 else '"')
            quotes = 0 if quotes == 2 else quotes + 1
            continue
        quotes = 0
        if ch == "\\":
            units.append("\\\\")
        elif ch == "\n":
            units.append("\n" if rnd.random() < 0.7 else "\\n")
        elif is_control(ch):
            units.append(SHORT_ESCAPES.get(ch) or f"\\u{ord(ch):04x}")
        else:
            units.append(ch)
    out = []
    for unit in units:
        # A line-ending backslash trims the newline and the whitespace after it.
        if unit[0] not in " \t\n" and rnd.random() < 0.1:
            out.append("\\" + rnd.choice(["", " "]) + "\n" + rnd.choice(WS))
        out.append(unit)
    body = "".join(out)
    opener = '"""\n' if body.startswith("\n") or rnd.random() < 0.5 else '"""'
    return opener + body + '"""'


def ml_literal_ok(s: str) -> bool:
    return "'''" not in s and not any(is_control(ch) and ch != "\n" for ch in s)


def fmt_string(s: str, rnd: random.Random) -> str:
    choices = ["basic", "ml_basic"]
    if literal_ok(s) and "\n" not in s:
        choices.append("literal")
    if ml_literal_ok(s):
        choices.append("ml_literal")
    style = rnd.choice(choices)
    if style == "basic":
        return basic_string(s, rnd)
    if style == "literal":
        return f"'{s}'"
    if style == "ml_basic":
        return ml_basic_string(s, rnd)
    opener = "'''\n" if s.startswith("\n") or rnd.random() < 0.5 else "'''"
    return opener + s + "'''"


def fmt_key(k: str, rnd: random.Random) -> str:
    if BARE.fullmatch(k) and rnd.random() < 0.8:
        return k
    if literal_ok(k) and "\n" not in k and rnd.random() < 0.5:
        return f"'{k}'"
    return basic_string(k, rnd)


def fmt_dotted(keys: list[str], rnd: random.Random) -> str:
    out = fmt_key(keys[0], rnd)
    for k in keys[1:]:
        out += rnd.choice(DOTS) + fmt_key(k, rnd)
    return out


def underscored(digits: str, rnd: random.Random) -> str:
    out = digits[0]
    for d in digits[1:]:
        out += ("_" if rnd.random() < 0.2 else "") + d
    return out


def fmt_int(v: int, rnd: random.Random) -> str:
    r = rnd.random()
    if v >= 0 and r < 0.3:
        prefix, spec = rnd.choice([("0x", "x"), ("0x", "X"), ("0o", "o"), ("0b", "b")])
        return prefix + underscored(format(v, spec), rnd)
    sign = "-" if v < 0 else rnd.choice(["", "+"])
    return sign + underscored(str(abs(v)), rnd)


def fmt_float(v: float, rnd: random.Random) -> str:
    text = repr(v)
    if not text.startswith("-") and rnd.random() < 0.3:
        text = "+" + text
    if "e" in text and rnd.random() < 0.5:
        text = text.replace("e", "E")
    return text


OFFSETS = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(dt.timedelta(hours=-8)),
]


def fmt_datetime(v: dt.datetime, rnd: random.Random) -> str:
    text = v.isoformat(sep=rnd.choice("Tt "))
    if v.tzinfo is dt.UTC and rnd.random() < 0.5:
        text = text[: -len("+00:00")] + rnd.choice("Zz")
    return text


def fmt_array(items: list, rnd: random.Random, indent: str) -> str:
    if not items:
        return rnd.choice(["[]", "[ ]", "[\n" + indent + "]"])
    inner = indent + "  "
    if rnd.random() < 0.5:
        sep = rnd.choice([",", ", ", " , "])
        body = sep.join(fmt_value(x, rnd, inner) for x in items)
        return "[" + rnd.choice(WS) + body + rnd.choice(["", ","]) + rnd.choice(WS) + "]"
    out = "[" + rnd.choice(["", " " + rnd.choice(COMMENTS)]) + "\n"
    for i, x in enumerate(items):
        if rnd.random() < 0.2:
            out += inner + rnd.choice(COMMENTS) + "\n"
        out += inner + fmt_value(x, rnd, inner)
        if i < len(items) - 1 or rnd.random() < 0.5:
            out += rnd.choice(["", " "]) + ","
        out += rnd.choice(["", " " + rnd.choice(COMMENTS)]) + "\n"
    return out + indent + "]"


def fmt_inline_table(table: dict, rnd: random.Random, indent: str) -> str:
    entries: list[str] = []

    def add(keys: list[str], value: Any) -> None:
        if isinstance(value, dict) and value and rnd.random() < 0.4:
            for k, v in value.items():
                add(keys + [k], v)
            return
        eq = rnd.choice(WS) + "=" + rnd.choice(WS)
        entries.append(fmt_dotted(keys, rnd) + eq + fmt_value(value, rnd, indent))

    for k, v in table.items():
        add([k], v)
    if not entries:
        return rnd.choice(["{}", "{ }"])
    return "{" + rnd.choice(WS) + ", ".join(entries) + rnd.choice(WS) + "}"


def fmt_value(v: Any, rnd: random.Random, indent: str = "") -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return fmt_int(v, rnd)
    if isinstance(v, float):
        return fmt_float(v, rnd)
    if isinstance(v, str):
        return fmt_string(v, rnd)
    if isinstance(v, dt.datetime):
        return fmt_datetime(v, rnd)
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return fmt_array(v, rnd, indent)
    if isinstance(v, dict):
        return fmt_inline_table(v, rnd, indent)
    raise TypeError(v)


def emit_table(
    lines: list[str],
    header_keys: list[str],
    table: dict,
    rnd: random.Random,
    header: str | None,
) -> None:
    """Emit ``table`` (at ``header_keys``) as header sections, dotted keys and
    inline values, chosen at random."""
    direct: list[tuple[list[str], Any]] = []
    sub_tables: list[tuple[str, dict]] = []
    sub_arrays: list[tuple[str, list]] = []

    def flatten(keys: list[str], value: dict) -> None:
        for k, v in value.items():
            if isinstance(v, dict) and v and rnd.random() < 0.5:
                flatten(keys + [k], v)
            else:
                direct.append((keys + [k], v))

    for k, v in table.items():
        r = rnd.random()
        if isinstance(v, dict) and r < 0.45:
            sub_tables.append((k, v))
        elif isinstance(v, dict) and v and r < 0.7:
            flatten([k], v)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and r < 0.6:
            sub_arrays.append((k, v))
        else:
            direct.append(([k], v))
    rnd.shuffle(direct)

    # A [table] header may be left implicit when sub-tables follow; [[...]] may not.
    omittable = header is not None and header.startswith("[") and not header.startswith("[[")
    if header is not None and (not omittable or direct or not (sub_tables or sub_arrays) or rnd.random() < 0.5):
        lines.append(header + rnd.choice(["", " " + rnd.choice(COMMENTS)]))
    indent = rnd.choice(["", "  "]) if header is not None else ""
    for keys, value in direct:
        if rnd.random() < 0.15:
            lines.append(rnd.choice(["", indent + rnd.choice(COMMENTS)]))
        eq = rnd.choice(WS) + "=" + rnd.choice(WS)
        line = indent + fmt_dotted(keys, rnd) + eq + fmt_value(value, rnd, indent)
        lines.append(line + rnd.choice(["", " " + rnd.choice(COMMENTS)]))

    def header_text(keys: list[str], brackets: tuple[str, str]) -> str:
        inner = rnd.choice(WS) + fmt_dotted(keys, rnd) + rnd.choice(WS)
        return brackets[0] + inner + brackets[1]

    for k, sub in sub_tables:
        keys = header_keys + [k]
        emit_table(lines, keys, sub, rnd, header_text(keys, ("[", "]")))
    for k, elements in sub_arrays:
        keys = header_keys + [k]
        for element in elements:
            emit_table(lines, keys, element, rnd, header_text(keys, ("[[", "]]")))


def to_toml(data: dict, rnd: random.Random) -> str:
    lines: list[str] = []
    emit_table(lines, [], data, rnd, None)
    text = "\n".join(lines) + rnd.choice(["", "\n"])
    return text.replace("\n", "\r\n") if rnd.random() < 0.2 else text


keys_st = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True),
    st.text(max_size=5),
    st.sampled_from(["a", "b", "a.b", "", "é", "x y", "'", '"', "\\", "[", "#"]),
)
scalars_st = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(['"""', "a\"\"b'''c", "''", '""', "\n\nx", "tab\there", "x\\\n y"]),
    st.builds(
        lambda d, tz: d.replace(tzinfo=tz),
        st.datetimes(),
        st.sampled_from([None, *OFFSETS]),
    ),
    st.dates(),
    st.times(),
)
values_st = st.recursive(
    scalars_st,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys_st, children, max_size=4),
        st.lists(st.dictionaries(keys_st, children, max_size=3), min_size=1, max_size=3),
    ),
    max_leaves=14,
)
documents_st = st.dictionaries(keys_st, values_st, max_size=6)


def normalise(value: Any) -> Any:
    """Make data comparable with ==: NaN never equals itself."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def get(data: Any, path: tuple) -> Any:
    for segment in path:
        data = data[segment]
    return data


def key_at(text: str, offset: int) -> str:
    """Decode the simple key written at ``offset`` (independently of the scanner)."""
    if text[offset] == "'":
        return text[offset + 1 : text.index("'", offset + 1)]
    if text[offset] == '"':
        end = offset + 1
        while text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        return tomllib.loads("k = " + text[offset : end + 1])["k"]
    match = BARE.match(text, offset)
    assert match, f"no key at {offset}: {text[offset : offset + 20]!r}"
    return match.group()


def scalar_at(text: str, offset: int, expected: Any) -> bool:
    """Whether some token starting at ``offset`` parses to ``expected``."""
    for end in range(offset + 1, min(len(text), offset + 3000) + 1):
        if end < len(text) and text[end] not in " \t\r\n,]}#" and text[end - 1] not in "\"'":
            continue
        try:
            value = tomllib.loads("x = " + text[offset:end])["x"]
        except tomllib.TOMLDecodeError:
            continue
        if normalise(value) == normalise(expected) and type(value) is type(expected):
            return True
    return False


def check_positions(text: str, data: dict) -> None:
    positions = scan_toml_positions(text)
    assert set(positions) == all_paths(data)
    for path, span in positions.items():
        key_offset = offset_of(text, span.key_line, span.key_col)
        value_offset = offset_of(text, span.value_line, span.value_col)
        value = get(data, path)
        last = path[-1]
        if isinstance(last, str):
            assert key_at(text, key_offset) == last, path
        elif key_offset != value_offset:
            # An element of an array of tables: the key is the array's name in [[...]].
            assert text.startswith("[[", value_offset), path
            assert key_at(text, key_offset) == path[-2], path
        if isinstance(value, dict):
            assert text[value_offset] in "[{" or value_offset == key_offset, path
        elif isinstance(value, list):
            assert text[value_offset] == "[", path
        else:
            assert scalar_at(text, value_offset, value), (
                path,
                text[value_offset:][:40],
            )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents_st, st.randoms(use_true_random=False))
def test_property_random_documents(data: dict, rnd: random.Random) -> None:
    text = to_toml(data, rnd)
    parsed = tomllib.loads(text)
    assert normalise(parsed) == normalise(data), text
    check_positions(text, parsed)


@settings(max_examples=50, deadline=None)
@given(documents_st, st.randoms(use_true_random=False))
def test_property_same_document_in_several_styles(data: dict, rnd: random.Random) -> None:
    paths = all_paths(data)
    for _ in range(3):
        text = to_toml(data, rnd)
        assert normalise(tomllib.loads(text)) == normalise(data), text
        assert set(scan_toml_positions(text)) == paths


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents_st, st.randoms(use_true_random=False), st.data())
def test_property_mutated_documents_agree_with_tomllib(data: dict, rnd: random.Random, draw: st.DataObject) -> None:
    """Small edits to valid documents: whenever tomllib still accepts the text, the
    scanner must find the same paths; otherwise it may only raise ValueError."""
    text = to_toml(data, rnd)
    for _ in range(4):
        if not text:
            break
        i = draw.draw(st.integers(0, len(text) - 1))
        op = draw.draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if op == "delete":
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + draw.draw(st.sampled_from(list("[]{}\"'=#.,\n \t\\a1"))) + text[i:]
        else:
            j = draw.draw(st.integers(i, min(len(text), i + 30)))
            text = text[:i] + text[i:j] * 2 + text[j:]
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            try:
                scan_toml_positions(text)
            except ValueError:
                pass
            continue
        assert set(scan_toml_positions(text)) == all_paths(parsed), text
