"""Tests for modalc.handlers: what survives pruning function bodies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from modalc.handlers import ClassFacts, FunctionFacts, SourceTree, is_generator

SOURCE = """
def plain():
    return "yield"  # the word, not the keyword


def streams():
    yield 1


def nested_only():
    def inner():
        yield 1
    return inner


def delegates():
    return (
        1,
        (yield from inner()),
    )


class Model:
    def predict(self):
        yield from range(3)

    def load(self):
        f = lambda: (yield)
        return f


async def agen():
    for x in range(3):
        yield x
"""

EXPECTED = {"plain": False, "streams": True, "nested_only": False, "delegates": True, "agen": True}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_functions_yield_exactly_when_their_bodies_did(tmp_path: Path, newline: str) -> None:
    (tmp_path / "handlers.py").write_bytes(SOURCE.replace("\n", newline).encode())
    tree = SourceTree(tmp_path, tmp_path)
    for name, generator in EXPECTED.items():
        _, node = tree.find("handlers", name)
        assert isinstance(node, FunctionFacts)
        assert node.is_generator is generator, name
        assert tree.signature(node, "handlers").is_generator is generator, name
    info = tree.class_info("handlers", "Model")
    assert {name: method.node.is_generator for name, method in info.methods.items()} == {"predict": True, "load": False}


def _kinds_by_walking(tree: ast.Module) -> dict[str, bool]:
    members = [m for s in tree.body for m in (s.body if isinstance(s, ast.ClassDef) else [s])]
    return {m.name: is_generator(m) for m in members if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_facts_keep_what_a_full_walk_finds(tmp_path: Path) -> None:
    (tmp_path / "handlers.py").write_text(SOURCE)
    statements = SourceTree(tmp_path, tmp_path).module("handlers").statements
    members = [m for s in statements for m in (s.methods if isinstance(s, ClassFacts) else [s])]
    assert {m.name: m.is_generator for m in members if isinstance(m, FunctionFacts)} == _kinds_by_walking(
        ast.parse(SOURCE)
    )


ANNOTATED = """\
import typing


def f(
    a: list[float],
    b: "Item",
    c: dict[  # a comment inside
        str, "Item"
    ],
    d: typing.Annotated[int, "é ü"],
    e: typing.Literal["naïve", 'x'] = "naïve",
    g: int
    | None = None,
    *,
    h: Item | None = None,
) -> tuple[Item, ...]:
    pass
"""


def test_annotations_are_read_from_the_source_as_unparsing_them_would_give(tmp_path: Path) -> None:
    from modalc.handlers import _rewrite_text, rewrite_annotation

    (tmp_path / "handlers.py").write_text(ANNOTATED, encoding="utf-8")
    _, facts = SourceTree(tmp_path, tmp_path).find("handlers", "f")
    assert isinstance(facts, FunctionFacts)
    node = ast.parse(ANNOTATED).body[1]
    assert isinstance(node, ast.FunctionDef)
    arguments = [*node.args.args, *node.args.kwonlyargs]
    expected = [_rewrite_text(ast.unparse(a.annotation), "_m") for a in arguments if a.annotation is not None]
    assert [rewrite_annotation(p.annotation, "_m") for p in facts.parameters] == expected
    assert node.returns is not None
    assert rewrite_annotation(facts.returns, "_m") == _rewrite_text(ast.unparse(node.returns), "_m")


def test_a_handler_module_saved_with_a_byte_order_mark_is_read_as_python_reads_it(tmp_path: Path) -> None:
    (tmp_path / "handlers.py").write_bytes(b"\xef\xbb\xbf" + ANNOTATED.encode())
    _, facts = SourceTree(tmp_path, tmp_path).find("handlers", "f")
    assert isinstance(facts, FunctionFacts) and len(facts.parameters) == 7


def _self_calls(body: str) -> list[tuple[str, str, str, int]]:
    from modalc.handlers import read_module

    statements, _ = read_module(f"class C:\n{body}", "m.py")
    (cls,) = statements
    assert isinstance(cls, ClassFacts)
    return [call for method in cls.methods for call in method.self_calls]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    def go(self, x):\n        return self.embed.remote(x)\n", [("self", "embed", "remote", 3)]),
        ("    @classmethod\n    def go(cls, x):\n        cls.embed.spawn(x)\n", [("cls", "embed", "spawn", 4)]),
        ("    def go(this):\n        f = lambda: this.embed.map([1])\n", [("this", "embed", "map", 3)]),  # a closure
        ("    def go(self):\n        g = lambda self: self.embed.map([1])\n", []),  # the lambda's own self
        ("    def go(self):\n        class Inner:\n            def f(self): self.embed.remote()\n", []),
        ("    def go(self):\n        self = other()\n        self.embed.remote()\n", []),  # self rebound
        ("    @staticmethod\n    def go(self):\n        self.embed.remote()\n", []),
        (
            "    def go(self):\n        self.embed.ｒemote()\n",
            [("self", "embed", "remote", 3)],
        ),  # NFKC, as Python reads it
        ("    def go(self):\n        super().embed.remote()\n        self.a.b.remote()\n", []),
    ],
)
def test_modal_calls_on_self(body: str, expected: list[tuple[str, str, str, int]]) -> None:
    assert _self_calls(body) == expected
