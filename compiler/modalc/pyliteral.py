"""The only bridge from manifest data to Python source.

Every value from a manifest reaches generated code through this module: data as Python literals (built the
way `repr` builds them, then laid out the way black lays them out), names as validated identifiers. Templates
interpolate `PyCode` only, so text that did not pass through here cannot reach a module (see render.py).

Collections are always exploded one item per line with a trailing comma. Black keeps such "magic trailing
comma" layouts as they are, so the output is black-stable by construction and a one-item change in a manifest
is a one-line change in review.
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
from collections.abc import Iterable, Mapping, Sequence

INDENT = "    "
LINE_LENGTH = 88  # black's; the generated modules are black-stable at this width

# Names the generated module defines at top level; a manifest name must not shadow them.
RESERVED_NAMES = frozenset(
    {
        "app",
        "modal",
        "pathlib",
        "sys",
        "json",
        "csv",
        "IMAGES",
        "VOLUMES",
        "SECRETS",
        "CLOUD_BUCKETS",
        "MANIFEST_DIR",
        "SOURCE_DIR",
        "MODAL_ENVIRONMENT",
        "MODALC_ENVIRONMENT",
        "annotations",
        "modalc_app",
        "QUEUES",
        "DICTS",
        # helpers of the entrypoints and the local checks (module aliases must not take these either)
        "_load_inputs",
        "_read_inputs",
        "_write_results",
        "_write_result",
        "_selected",
    }
)

# Python builtins that the fixed code of a generated module calls (the entrypoint helpers, the local checks,
# entrypoint defaults). A function, class or entrypoint named like one would replace it for the whole module.
# tests/test_generated_names.py derives this set from rendered modules, so it cannot fall behind the templates.
TEMPLATE_BUILTINS = frozenset(
    {
        "BaseException",
        "OSError",
        "RuntimeError",
        "SystemExit",
        "UnicodeDecodeError",
        "ValueError",
        "enumerate",
        "isinstance",
        "len",
        "list",
        "open",
        "print",
        "str",
        "tuple",
        "type",
        "zip",
    }
)

# The locals of a generated entrypoint's body (its options and two variables): a function it maps must not be
# named like one, or the local would stand where the function is called.
ENTRYPOINT_LOCALS = frozenset({"inputs", "output", "items", "arguments", "results"})


class PyCode(str):
    """Python source text produced by this module. Only PyCode may be interpolated into templates."""

    __slots__ = ()


class UnsafeValue(ValueError):
    """A value that has no faithful Python literal (for example NaN) or a name that is not an identifier."""


def is_identifier(name: str) -> bool:
    """True for a plain ASCII Python identifier that is not a keyword."""
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name)


def identifier(name: str) -> PyCode:
    """A name for an identifier position; refuses anything that is not a plain identifier."""
    if not isinstance(name, str) or not is_identifier(name):
        raise UnsafeValue(f"{name!r} is not a valid Python identifier")
    return PyCode(name)


def _escape_char(char: str, quote: str) -> str:
    # Mirrors CPython's unicode_repr, so the text is what repr() would produce with this quote character.
    if char == "\\":
        return "\\\\"
    if char == quote:
        return "\\" + quote
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def string_literal(value: str) -> PyCode:
    """A string literal in black's preferred quotes: double, unless that needs more escapes than single."""
    quote = '"' if value.count('"') <= value.count("'") else "'"
    if quote not in value and "\\" not in value and value.isprintable():
        return PyCode(f"{quote}{value}{quote}")  # nothing to escape: most strings
    body = "".join(_escape_char(char, quote) for char in value)
    return PyCode(f"{quote}{body}{quote}")


def bytes_literal(value: bytes) -> PyCode:
    text = repr(value)  # b'...' or b"..."; bytes reprs only ever escape, so re-quote like strings
    body = text[2:-1]
    if text[1] == "'" and '"' not in body:
        return PyCode(f'b"{body}"')
    return PyCode(text)


def scalar(value: object) -> PyCode:
    """A literal for None, bool, int, float, str or bytes."""
    if value is None or isinstance(value, bool):
        return PyCode(repr(value))
    if isinstance(value, int):
        return PyCode(repr(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"{value!r} has no Python literal")
        return PyCode(repr(value).replace("e+", "e"))
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, bytes):
        return bytes_literal(value)
    raise UnsafeValue(f"no literal for a value of type {type(value).__name__}")


def literal(value: object) -> PyCode:
    """A literal for a scalar or a (nested) list, tuple or dict of them, exploded one item per line."""
    if isinstance(value, Mapping):
        items = [PyCode(f"{literal(k)}: {literal(v)}") for k, v in value.items()]
        return bracketed("{", items, "}")
    if isinstance(value, list):
        return bracketed("[", [literal(v) for v in value], "]")
    if isinstance(value, tuple):
        if len(value) == 1:
            return PyCode(f"({literal(value[0])},)")
        return bracketed("(", [literal(v) for v in value], ")")
    return scalar(value)


def indent_continuation(code: str, levels: int = 1) -> str:
    """Indent every line but the first, for nesting a multi-line expression."""
    pad = INDENT * levels
    return code.replace("\n", "\n" + pad)


def bracketed(opening: str, items: Sequence[str], closing: str) -> PyCode:
    """`items` exploded between brackets, one per line with a trailing comma; empty brackets stay on one line."""
    if not items:
        return PyCode(opening + closing)
    inner = "".join(f"\n{INDENT}{indent_continuation(item)}," for item in items)
    return PyCode(f"{opening}{inner}\n{closing}")


def keyword_arguments(arguments: Iterable[tuple[str, PyCode]]) -> list[PyCode]:
    return [PyCode(f"{identifier(name)}={code}") for name, code in arguments]


def call(callee: PyCode, positional: Sequence[PyCode] = (), keywords: Iterable[tuple[str, PyCode]] = ()) -> PyCode:
    """A call with every argument on its own line (or `callee()` when there are none)."""
    arguments = [*positional, *keyword_arguments(keywords)]
    return PyCode(callee + bracketed("(", arguments, ")"))


def attribute(base: PyCode, *names: str) -> PyCode:
    return PyCode(".".join([base, *(identifier(n) for n in names)]))


def subscript(base: PyCode, key: object) -> PyCode:
    return PyCode(f"{base}[{scalar(key)}]")


def raw(code: str) -> PyCode:
    """Mark text as code. Only for fixed code written in modalc itself, never for text from a manifest."""
    return PyCode(code)


def user_expression(text: str) -> PyCode:
    """An expression from the user's own handler source (an annotation), proven to be exactly one expression.

    It comes from code the user wrote and modalc parsed, never from a manifest; re-parsing it here keeps
    anything that is not a single expression (a statement, a second line) out of the module.
    """
    if not is_identifier(text) and (problem := _expression_problem(text)):
        raise UnsafeValue(problem)
    return PyCode(text)


@functools.lru_cache(maxsize=4096)  # thousands of handlers repeat a few annotations
def _expression_problem(text: str) -> str | None:
    if "\n" in text:
        return f"{text!r} spans lines; an annotation is one expression"
    try:
        ast.parse(text, mode="eval")
    except SyntaxError as error:
        return f"{text!r} is not an expression: {error.msg}"
    return None


def annotation(expression: str, quoted: bool) -> PyCode:
    """A handler annotation: a string literal when quoted, else the user's own expression."""
    return string_literal(expression) if quoted else user_expression(expression)


def comment(text: str) -> PyCode:
    """A comment line; the text is reduced to printable characters so it cannot end the comment."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return PyCode("# " + cleaned)


def fits(text: str, indent: int) -> bool:
    return "\n" not in text and text.isascii() and len(INDENT * indent) + len(text) <= LINE_LENGTH


def fitted_call(prefix: str, callee: str, arguments: Sequence[str], indent: int, suffix: str = "") -> PyCode:
    """`prefix callee(args)suffix` on one line if it fits, else one argument per line (black's two stable forms)."""
    one_line = f"{prefix}{callee}({', '.join(arguments)}){suffix}"
    if fits(one_line, indent):
        return PyCode(one_line)
    return PyCode(f"{prefix}{callee}" + bracketed("(", list(arguments), ")") + suffix)
