"""What every part of a generated module refers to: the module's fixed names, and the block model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from .. import ir
from ..pyliteral import (
    PyCode,
    bracketed,
    identifier,
    literal,
    raw,
    scalar,
    subscript,
)

IMAGES = raw("IMAGES")
VOLUMES = raw("VOLUMES")
SECRETS = raw("SECRETS")
CLOUD_BUCKETS = raw("CLOUD_BUCKETS")
QUEUES = raw("QUEUES")
DICTS = raw("DICTS")
MANIFEST_DIR = raw("MANIFEST_DIR")
INSTANCE = raw("self._user_instance")
NONE = ir.Annotation("None")


def app_variable(alias: str | None) -> PyCode:
    """The module-level name of an app: `app` for the main one, `app_ALIAS` for the others."""
    return raw("app") if alias is None else PyCode(f"app_{identifier(alias)}")


class Context(NamedTuple):
    """What rendering one part of the module needs to know about the rest of the app."""

    volumes: dict[str, ir.Volume]
    images: dict[str, ir.Image]
    owners: dict[str, str | None]  # function or class name -> the alias of its app (None: the main app)

    @classmethod
    def of(cls, app: ir.App) -> Context:
        owners = {f.name: f.app for f in app.functions} | {c.name: c.app for c in app.classes}
        return cls({v.alias: v for v in app.volumes}, {i.alias: i for i in app.images}, owners)


@dataclass(frozen=True)
class Block:
    """A decorated def or class, as the template lays it out."""

    decorators: tuple[PyCode, ...]
    header: PyCode
    body: tuple[PyCode, ...]
    members: tuple[Block, ...] = ()
    attributes: tuple[PyCode, ...] = ()


def local_path(path: str) -> PyCode:
    return PyCode(f"{MANIFEST_DIR} / {scalar(path)}") if path not in (".", "") else MANIFEST_DIR


def secret_list(aliases: Iterable[str]) -> PyCode:
    return bracketed("[", [subscript(SECRETS, a) for a in aliases], "]")


def keyword_pairs(pairs: Iterable[tuple[str, object]]) -> list[tuple[str, PyCode]]:
    out = []
    for key, value in pairs:
        if isinstance(value, PyCode):
            out.append((key, value))
        else:
            out.append((key, literal(value)))
    return out
