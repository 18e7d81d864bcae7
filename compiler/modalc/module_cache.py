"""Parsed handler modules kept between commands, as Python keeps compiled modules in `__pycache__`.

Parsing the user's modules is the largest part of a big build (10 modules of 1,000 handlers: about a third), and
every deploy, plan, run and serve parses them again. What modalc reads from a module (`handlers.module_statements`
and its `modalc_app` references) depends only on the module's bytes and on modalc itself, so it is stored under
the hash of both and read back by any later command that finds the same bytes, in any project.

Entries are `marshal` data of plain tuples, like `.pyc` files, after a checksum of that data: the cache
directory is the user's own (see `cache.cache_dir`), and the checksum turns a damaged entry (a flipped bit, a
truncated write) into a miss, like anything unreadable or of another shape; the module is then parsed as if
there were no cache. The compile only reads entries; what it parsed is stored by the command at its end
(`store`), so the pipeline itself still writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .handlers import (
    AppReference,
    BadDefault,
    ClassFacts,
    FunctionFacts,
    ImportFacts,
    ParameterFacts,
    Statement,
    VariableFacts,
)
from .ir import Default

FORMAT = 4
MAX_ENTRIES = 4096  # beyond this, a store removes the older half (by when each was written)
CHECKSUM_BYTES = 16  # blake2b of the marshal data, before it

Facts = tuple[tuple[Statement, ...], tuple[AppReference, ...]]
Encoded = tuple[Any, ...]  # facts as marshal writes them: tuples of plain values


def directory() -> Path | None:
    from .cache import cache_dir

    base = cache_dir()
    return None if base is None else base / "modules"


@functools.cache
def _toolchain() -> str:
    from .cache import toolchain

    return toolchain()


def key(source_sha256: str) -> str:
    """The entry's name: the module's hash with modalc's own, so a different modalc never reads it."""
    return hashlib.sha256(f"{FORMAT}|{_toolchain()}|{source_sha256}".encode()).hexdigest()


class ModuleCache:
    """Entries read during one command, and those its compile parsed afresh (stored at the end)."""

    def __init__(self, root: Path | None):
        self.root = root
        self.fresh: dict[str, bytes] = {}

    @classmethod
    def open(cls) -> ModuleCache:
        return cls(directory())

    def get(self, source_sha256: str) -> Facts | None:
        """What an earlier command read from a module of these bytes, or None."""
        if self.root is None:
            return None
        try:
            return decode((self.root / key(source_sha256)).read_bytes())
        except (OSError, ValueError, TypeError, EOFError, IndexError, KeyError):
            return None

    def remember(self, source_sha256: str, facts: Facts) -> None:
        if self.root is not None:
            self.fresh[key(source_sha256)] = encode(facts)

    def store(self) -> None:
        """Write what this command parsed afresh; failures are ignored (it is only a cache)."""
        store(self.root, self.fresh)
        self.fresh = {}


def store(root: Path | None, entries: Mapping[str, bytes]) -> None:
    """Write what a compile parsed; failures are ignored (it is only a cache)."""
    if root is None or not entries:
        return
    from .atomic import remove_stale, stage

    try:
        for name, blob in entries.items():
            os.replace(stage(root / name, blob), root / name)
        remove_stale(root)
        _prune(root)
    except OSError:
        pass


def _prune(root: Path) -> None:
    entries = list(os.scandir(root))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[: len(entries) // 2]:
        Path(entry.path).unlink(missing_ok=True)


# --- encoding: facts as plain tuples ----------------------------------------------------------------


def encode(facts: Facts) -> bytes:
    statements, references = facts
    data = marshal.dumps(
        (
            FORMAT,
            tuple(_statement(s) for s in statements),
            tuple((r.name, r.line, r.at_import_time, r.from_import) for r in references),
        )
    )
    return sealed(data)


def decode(blob: bytes) -> Facts:
    version, statements, references = marshal.loads(unsealed(blob))
    if version != FORMAT:
        raise ValueError("another format")
    return tuple(_DECODERS[s[0]](*s[1:]) for s in statements), tuple(AppReference(*r) for r in references)


def sealed(data: bytes) -> bytes:
    """`data` after its checksum, so a damaged copy is found when it is read back."""
    return b"".join(sealed_parts(data))


def sealed_parts(*parts: bytes) -> list[bytes]:
    """What `sealed` makes of the parts joined, as parts (a large one is not copied)."""
    return [_checksum(*parts), *parts]


def unsealed(blob: bytes) -> bytes:
    """The data `sealed` wrapped; ValueError if it was damaged."""
    data = blob[CHECKSUM_BYTES:]
    if blob[:CHECKSUM_BYTES] != _checksum(data):
        raise ValueError("damaged")
    return data


def _checksum(*parts: bytes) -> bytes:
    digest = hashlib.blake2b(digest_size=CHECKSUM_BYTES)
    for part in parts:
        digest.update(part)
    return digest.digest()


def _function(f: FunctionFacts) -> Encoded:
    parameters = tuple((p.name, p.kind, p.annotation, _default(p.default)) for p in f.parameters)
    return ("f", f.name, f.is_async, f.is_generator, f.decorators, parameters, f.returns, f.self_calls, f.self_assigned)


def _default(default: Default | BadDefault | None) -> Encoded | None:
    if default is None:
        return None
    if isinstance(default, BadDefault):
        return ("bad", default.message, default.hint)
    return ("value", default.value)


def _statement(statement: Statement) -> Encoded:
    if isinstance(statement, FunctionFacts):
        return _function(statement)
    if isinstance(statement, ClassFacts):
        methods = tuple(_function(m) for m in statement.methods)
        return ("c", statement.name, statement.bases, statement.decorators, statement.annotated_fields, methods)
    if isinstance(statement, ImportFacts):
        return ("i", statement.from_import, statement.module, statement.level, statement.names)
    return ("v", statement.names, statement.suggested)


def _read_function(
    name: str,
    is_async: bool,
    is_generator: bool,
    decorators: tuple[str, ...],
    parameters: Encoded,
    returns: str | None,
    self_calls: tuple[tuple[str, str, str, int], ...],
    self_assigned: tuple[str, ...],
) -> FunctionFacts:
    return FunctionFacts(
        name,
        is_async,
        is_generator,
        decorators,
        tuple(ParameterFacts(n, kind, annotation, _read_default(d)) for n, kind, annotation, d in parameters),
        returns,
        self_calls,
        self_assigned,
    )


def _read_default(encoded: Encoded | None) -> Default | BadDefault | None:
    if encoded is None:
        return None
    if encoded[0] == "bad":
        return BadDefault(encoded[1], encoded[2])
    return Default(encoded[1])


def _read_class(
    name: str, bases: tuple[str, ...], decorators: tuple[str, ...], fields: tuple[str, ...], methods: Encoded
) -> ClassFacts:
    return ClassFacts(name, bases, decorators, fields, tuple(_read_function(*m[1:]) for m in methods))


_DECODERS: dict[str, Callable[..., Statement]] = {
    "f": _read_function,
    "c": _read_class,
    "i": ImportFacts,
    "v": VariableFacts,
}
