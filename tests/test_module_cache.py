"""Handler modules parsed by one command are read back by the next: the same facts, the same build, faster."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest

from helpers import CASES, EXAMPLES, manifest_of, run_cli
from modalc import module_cache
from modalc.handlers import SourceTree, module_statements
from modalc.pipeline import compile_manifest

PROJECTS = sorted(d for d in EXAMPLES.iterdir() if d.is_dir()) + sorted(
    d for d in CASES.iterdir() if d.is_dir() and d.name != "_project"
)

EVERY_KIND = '''\
"""Every statement modalc keeps."""
from __future__ import annotations
import os.path, json as j, modalc_app
from . import sibling
from .pkg.mod import thing as other
if True:
    LIMIT = 3
try:
    COUNT: int = 4
    PENDING: int
except ImportError:
    pass
class Base(object):
    size: int
    def method(self, x: list[int], *rest, key: "Request" = "a", **extra) -> dict[str, int]:
        return {}
    def fan_out(self, xs):
        return list(self.method.map(xs))
@dataclass
class Child(Base, module.Mixin, metaclass=Meta):
    name: str = "x"
    @staticmethod
    def make(value=(1, 2.5, None, b"raw", True, {"k": [1]})) -> Child: ...
async def stream(n: int = -1, f: float = 1e300, bad=object(), weird={1, 2}, nan=float("nan")):
    yield n
def plain(a, /, b, *, c=None): return modalc_app.other.remote(a)
'''


def _facts(source: str) -> module_cache.Facts:
    from modalc.handlers import app_references

    tree = ast.parse(source)
    return module_statements(tree, source), tuple(app_references(tree))


def test_encoding_keeps_every_fact() -> None:
    facts = _facts(EVERY_KIND)
    assert module_cache.decode(module_cache.encode(facts)) == facts
    kinds = {type(s).__name__ for s in facts[0]}
    assert kinds == {"ImportFacts", "VariableFacts", "ClassFacts", "FunctionFacts"}
    assert facts[1], "the modalc_app reference is kept too"
    (base,) = [s for s in facts[0] if getattr(s, "name", None) == "Base"]
    assert base.methods[1].self_calls == (("self", "method", "map", 18),)  # type: ignore[union-attr]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_a_build_from_cached_modules_is_the_build_from_parsed_ones(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODALC_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "project"
    if project.parent == CASES:
        shutil.copytree(CASES / "_project", work)
    shutil.copytree(project, work, dirs_exist_ok=True)
    manifest = manifest_of(work)
    parsed = compile_manifest(manifest)
    parsed.remember_parsed()
    stored = set(os.listdir(tmp_path / "cache" / "modules")) if (tmp_path / "cache" / "modules").is_dir() else set()
    hits: list[str] = []
    original = module_cache.ModuleCache.get

    def counting(self: module_cache.ModuleCache, source_sha256: str) -> module_cache.Facts | None:
        found = original(self, source_sha256)
        if found is not None:
            hits.append(source_sha256)
        return found

    monkeypatch.setattr(module_cache.ModuleCache, "get", counting)
    cached = compile_manifest(manifest)
    assert len(hits) == len(stored)
    assert cached.parsed is None or cached.parsed.fresh == {}, "nothing parsed twice"
    assert [d.render() for d in cached.diagnostics] == [d.render() for d in parsed.diagnostics]
    assert cached.outputs == parsed.outputs
    assert cached.observations.keys() == parsed.observations.keys(), "the build cache still sees every module read"


def _tree(tmp_path: Path, source: str) -> tuple[SourceTree, module_cache.ModuleCache]:
    (tmp_path / "jobs.py").write_text(source)
    cache = module_cache.ModuleCache(tmp_path / "cache")
    return SourceTree(tmp_path, tmp_path, cache), cache


def test_an_unreadable_entry_is_parsed_again(tmp_path: Path) -> None:
    tree, cache = _tree(tmp_path, "def f(x: int = 1):\n    return x\n")
    first = tree.module("jobs")
    cache.store()
    (entry,) = (tmp_path / "cache").iterdir()
    for damaged in (b"", entry.read_bytes()[:-7], b"\x00garbage", module_cache.marshal.dumps((999, (), ()))):
        entry.write_bytes(damaged)
        again, cache = _tree(tmp_path, "def f(x: int = 1):\n    return x\n")
        assert again.module("jobs").statements == first.statements
        assert list(cache.fresh) == [entry.name], "parsed afresh, to be stored again"


def test_a_flipped_bit_anywhere_in_an_entry_is_a_miss() -> None:
    blob = module_cache.encode(_facts(EVERY_KIND))
    for at in range(0, len(blob), 7):
        damaged = bytearray(blob)
        damaged[at] ^= 1 << at % 8
        with pytest.raises(ValueError, match="damaged"):
            module_cache.decode(bytes(damaged))


def test_an_edited_module_is_parsed_again(tmp_path: Path) -> None:
    tree, cache = _tree(tmp_path, "def f(x):\n    return x\n")
    tree.module("jobs")
    cache.store()
    edited, cache = _tree(tmp_path, "def f(x, y=2):\n    return x\n")
    assert [p.name for p in edited.module("jobs").statements[0].parameters] == ["x", "y"]
    assert len(cache.fresh) == 1


def test_a_module_that_does_not_parse_is_never_cached(tmp_path: Path) -> None:
    tree, cache = _tree(tmp_path, "def f(:\n")
    with pytest.raises(Exception, match="cannot parse jobs.py"):
        tree.module("jobs")
    assert cache.fresh == {}


def test_commands_store_what_they_parsed_and_validate_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MODALC_CACHE_DIR", str(cache))
    shutil.copytree(EXAMPLES / "whisper_service", tmp_path / "project")
    assert run_cli(["validate"], cwd=tmp_path / "project").exit_code == 0
    assert not (cache / "modules").exists()
    assert run_cli(["build"], cwd=tmp_path / "project").exit_code == 0
    assert len(list((cache / "modules").iterdir())) >= 1
    monkeypatch.setenv("MODALC_NO_CACHE", "1")
    shutil.rmtree(cache)
    assert run_cli(["build", "--check"], cwd=tmp_path / "project").exit_code == 0
    assert not cache.exists()


def test_the_cache_is_pruned_past_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module_cache, "MAX_ENTRIES", 4)
    for n in range(6):
        module_cache.store(tmp_path, {f"{n:02}": b"x"})
        os.utime(tmp_path / f"{n:02}", ns=(n * 10**9, n * 10**9))
    assert sorted(os.listdir(tmp_path)) == ["02", "03", "04", "05"]  # the older half went when a fifth came


def test_no_cache_parses_every_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALC_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES / "whisper_service", project)
    assert run_cli(["build"], cwd=project).exit_code == 0

    def refuse(self: module_cache.ModuleCache, source_sha256: str) -> None:
        if self.root is not None:
            raise AssertionError("--no-cache read a cached module")

    monkeypatch.setattr(module_cache.ModuleCache, "get", refuse)
    result = run_cli(["build", "--no-cache", "--check"], cwd=project)
    assert result.exit_code == 0, result.stderr
