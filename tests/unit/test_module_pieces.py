"""Tests for modalc.handlers.read_module: a large module read in pieces reads exactly as it reads whole."""

from __future__ import annotations

import ast
import sysconfig
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modalc import handlers
from modalc.handlers import PIECE_RETRIES, read_module

WHOLE = 10**9  # a piece size no module reaches: the module is parsed in one piece

# Top-level snippets, several of them built to put a line starting with `def`, `class` or `@` where no
# top-level statement starts: inside a string, inside brackets, after a decorator, after a backslash.
SNIPPETS = [
    "import modalc_app\n",
    "import modalc_app as app_\n",
    "from modalc_app import early\n",
    "def uses():\n    return modalc_app.other.remote(1) + app_.third.remote()\n",
    "x = modalc_app.read_at_import\n",
    "def plain(a, /, b: int = 1, *args, c: 'list[str]' = None, **kw) -> dict:\n    return {}\n",
    "async def streams(n: int):\n    yield n\n",
    "class Model:\n    size: int\n\n    def load(self):\n        pass\n\n    @staticmethod\n    def make(): ...\n",
    '@decorator\ndef decorated():\n    """\ndef not_a_function():\nclass NotAClass:\n@not_a_decorator\n"""\n',
    "@decorator(\n    option=1,\n)\n@second\ndef multi_line_decorator(): pass\n",
    "TEXT = '''\ndef inside_a_string(): pass\n'''\n",
    "NAMES = [\n    1,\n]\nPRODUCT = (a\n@ b)\n",
    "if TYPE_CHECKING:\n    from x import Y\nelse:\n    Y = None\n",
    "try:\n    import fast\nexcept ImportError:\n    fast = None\n",
    "def crlf():\r\n    return modalc_app.crlf.remote()\r\n",
    "def old_mac():\r    return modalc_app.cr.remote()\r",
    "value: int = 3\nfirst, second = 1, 2\n",
    "class Child(Model, metaclass=Meta):\n    def predict(self, x: 'np.ndarray') -> bytes:\n        return b''\n",
    "\x0cdef after_form_feed(): pass\n",
    "class Caller:\n    def go(self, x):\n        return self.go.remote(x) + self.other.map([x])\n",
]
BROKEN = [
    "total = 1 + \\\ndef after_backslash(): pass\n",
    "def unfinished(:\n",
    "TEXT = '''\ndef in_an_unclosed_string(): pass\n",
    "class Empty:\ndef dedented(): pass\n",
    "nul = '\x00'\n",
]


def read(source: str, piece_size: int) -> object:
    try:
        return read_module(source, "m.py", piece_size)
    except (SyntaxError, ValueError) as error:
        return type(error).__name__, getattr(error, "msg", str(error)), getattr(error, "lineno", None)


# Pieces start after a blank line; black and PEP 8 put two before every top-level def and class.
SEPARATORS = ["", "\n", "\n\n", "\r\n\r\n", "\n  \n"]


@given(
    st.lists(st.tuples(st.sampled_from(SEPARATORS), st.sampled_from(SNIPPETS * 4 + BROKEN)), max_size=12),
    st.sampled_from([1, 20, 80]),
)
@settings(max_examples=500, deadline=None)
def test_pieces_read_as_the_whole_module(snippets: list[tuple[str, str]], piece_size: int) -> None:
    source = "".join(separator + snippet for separator, snippet in snippets)
    assert read(source, piece_size) == read(source, WHOLE)


def test_references_keep_their_lines_and_aliases_across_pieces() -> None:
    filler = "\n\ndef filler():\n    pass\n" * 50
    source = "import modalc_app as app_\n" + filler + "\n\ndef late():\n    return app_.f.remote()\n"
    statements, references = read_module(source, "m.py", piece_size=40)
    assert [(r.name, r.line, r.at_import_time) for r in references] == [("f", 205, False)]
    assert read(source, 40) == read(source, WHOLE)
    assert [s.name for s in statements[-2:]] == ["filler", "late"]  # type: ignore[union-attr]


def test_a_normalized_alias_is_followed_across_pieces() -> None:
    # Python reads identifiers NFKC-normalized: the fullwidth letter makes this `import modalc_app as app`.
    filler = "\n\ndef filler():\n    pass\n" * 20
    source = "import \uff4dodalc_app as app\n" + filler + "\n\ndef late():\n    return app.f.remote()\n"
    _, references = read_module(source, "m.py", piece_size=40)
    assert [(r.name, r.line) for r in references] == [("f", 85)]
    assert read(source, 40) == read(source, WHOLE)


def test_warning_filters_do_not_change_the_parse() -> None:
    # Under `python -W error` an invalid escape sequence is a SyntaxError; the container imports it with a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        statements, _ = read_module("PATTERN = '\\d+'\n", "m.py")
    assert [s.names for s in statements] == [("PATTERN",)]  # type: ignore[union-attr]


def test_an_error_in_a_late_piece_is_the_modules_own() -> None:
    source = "def fine():\n    pass\n\n\n" * 40 + "def broken(:\n    pass\n"
    assert read(source, 30) == read(source, WHOLE) == ("SyntaxError", "invalid syntax", 161)


def test_a_long_string_of_definitions_falls_back_to_one_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    inside = "".join(f"\n\ndef quoted_{i}(): pass\n" for i in range(PIECE_RETRIES * 4))
    source = f"TEXT = '''\n{inside}'''\n\n\ndef after(): pass\n"
    parsed = _record_parses(monkeypatch)
    assert read(source, 1) == read(source, WHOLE)
    assert len(parsed) > 2 and len(source) in parsed  # the retries ran out, and the module was parsed whole


def test_no_piece_is_much_larger_than_the_piece_size(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "".join(f"@decorated\ndef handler_{i}(x: int = {i}) -> int:\n    return x\n\n\n" for i in range(2000))
    parsed = _record_parses(monkeypatch)
    statements, _ = read_module(source, "m.py", piece_size=4096)
    assert len(statements) == 2000
    assert len(parsed) > 20 and max(parsed) < 2 * 4096 + 100


def test_a_small_module_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _record_parses(monkeypatch)
    read_module("".join(SNIPPETS), "m.py")
    assert len(parsed) == 1


def _record_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of each text handlers gives ast.parse from now on."""
    parsed: list[int] = []
    parse = ast.parse

    def recording(text: str, *args: object, **kwargs: object) -> ast.AST:
        parsed.append(len(text))
        return parse(text, *args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(handlers.ast, "parse", recording)
    return parsed


def _large_standard_library_modules() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    found = sorted(p for p in root.glob("*.py") if p.stat().st_size > 2 * handlers.PIECE_SIZE)
    return found[::3]  # a third of them keeps the test quick; each is cut at the default piece size


@pytest.mark.parametrize("path", _large_standard_library_modules(), ids=lambda p: p.name)
def test_large_real_modules_read_as_whole(path: Path) -> None:
    source = path.read_bytes().decode("utf-8-sig")
    assert read(source, handlers.PIECE_SIZE) == read(source, WHOLE)
