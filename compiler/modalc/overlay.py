"""Overlay stage: an environment's overrides merged onto the base manifest, before validation.

Environments are overlays (DESIGN.md): tables merge, lists and scalars replace, `false` switches a schedule or
endpoint off. The merge remembers where each merged value was written, so a problem found in the merged
manifest is reported at the override's line, and which entries an override names that the base lacks, so a
misspelt override is reported as one ("no function 'procss' to override") instead of as an incomplete entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ir
from .diagnostics import MISSING_KEY, Diagnostic, KeyPath, did_you_mean

OVERLAY_KEYS = (
    "app",
    "apps",
    "images",
    "volumes",
    "secrets",
    "cloud_buckets",
    "queues",
    "dicts",
    "functions",
    "classes",
    "entrypoints",
)
DEFAULT_ENVIRONMENT = "default"
_KINDS = {
    "apps": "app",
    "functions": "function",
    "classes": "class",
    "entrypoints": "entrypoint",
    "images": "image",
    "volumes": "volume",
    "secrets": "secret",
    "cloud_buckets": "cloud bucket",
    "queues": "queue",
    "dicts": "dict",
}


def declared_environments(data: Mapping[str, Any]) -> list[ir.Environment]:
    """The environments a manifest declares, in its order; one implicit environment if it declares none."""
    declared = data.get("environments") or {}
    if not isinstance(declared, dict) or not declared:
        return [ir.Environment(DEFAULT_ENVIRONMENT, "", False, declared=False)]
    out = []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        modal_environment = spec.get("modal_environment", name)
        out.append(ir.Environment(name, str(modal_environment), bool(spec.get("protected", False))))
    return out


@dataclass(frozen=True)
class Overlaid:
    """A manifest with one environment's overrides merged in, and where each merged value came from."""

    data: dict[str, Any]
    origins: dict[KeyPath, KeyPath]
    new_entries: frozenset[KeyPath] = frozenset()  # (section, name) an override names that the base lacks
    replaced: dict[KeyPath, Any] = field(default_factory=dict)  # base values an overlay replaced

    def source_path(self, path: KeyPath) -> KeyPath:
        for length in range(len(path), 0, -1):
            origin = self.origins.get(path[:length])
            if origin is not None:
                return origin + path[length:]
        return path


def apply_environment(data: Mapping[str, Any], environment: ir.Environment) -> Overlaid:
    """Deep-merge an environment's overrides: tables merge; lists, scalars and `false` replace.

    The result shares every value it does not change with `data` (copying a 10,000-function manifest for each
    environment cost more than merging it): no stage mutates a manifest's data, and a test holds them to it."""
    base = {k: v for k, v in data.items() if k != "environments"}
    if not environment.declared:
        return Overlaid(base, {})
    environments = data.get("environments")
    spec = environments.get(environment.name) if isinstance(environments, dict) else None
    if not isinstance(spec, dict):
        spec = {}  # malformed: validation reports it
    origins: dict[KeyPath, KeyPath] = {}
    replaced: dict[KeyPath, Any] = {}
    new_entries: set[KeyPath] = set()
    prefix: KeyPath = ("environments", environment.name)
    for key in OVERLAY_KEYS:
        if key not in spec:
            continue
        existing = base.get(key)
        if key != "app" and isinstance(spec[key], dict):
            known = existing if isinstance(existing, dict) else {}
            new_entries.update((key, name) for name in spec[key] if name not in known)
        base[key] = _merge(existing, spec[key], (key,), prefix + (key,), origins, replaced)
    return Overlaid(base, origins, frozenset(new_entries), replaced)


def _merge(
    base: Any,
    overlay: Any,
    path: KeyPath,
    source: KeyPath,
    origins: dict[KeyPath, KeyPath],
    replaced: dict[KeyPath, Any],
) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base.get(key), value, path + (key,), source + (key,), origins, replaced)
        return merged
    origins[path] = source
    if base is not None:
        replaced[path] = base
    return overlay


def select_environments(
    declared: list[ir.Environment], wanted: Sequence[str], file: str, position: Callable[[], tuple[int, int]]
) -> tuple[list[ir.Environment], list[Diagnostic]]:
    """The environments a command asked for (all when none), and a diagnostic for each unknown name.

    `position` (of the `environments` key) is asked only for a diagnostic: finding it scans the whole file."""
    if not wanted:
        return declared, []
    by_name = {e.name: e for e in declared}
    names = [e.name for e in declared if e.declared]
    selected, problems = [], []
    for name in wanted:
        if name in by_name:
            selected.append(by_name[name])
            continue
        message = f"no environment named {name!r}"
        if suggestion := did_you_mean(name, names):
            message += f"; did you mean {suggestion!r}?"
        elif names:
            message += f" (declared: {', '.join(names)})"
        else:
            message += " (the manifest declares no environments)"
        problems.append(Diagnostic(file, *position(), message, ("environments",), stage="overlay"))
    return selected, problems


def explain_new_entries(diagnostics: list[Diagnostic], overlaid: Overlaid, data: Mapping[str, Any]) -> list[Diagnostic]:
    """An override of an entry the base lacks, without a complete definition, usually misspells a name: say so
    instead of "missing required key"."""
    out = []
    for diagnostic in diagnostics:
        path = diagnostic.key_path
        entry = tuple(path[2:4]) if len(path) == 4 and path[0] == "environments" else ()
        if diagnostic.code != MISSING_KEY or entry not in overlaid.new_entries:
            out.append(diagnostic)
            continue
        section, name = str(entry[0]), str(entry[1])
        kind = _KINDS.get(section, section)
        message = f"the manifest declares no {kind} {name!r} to override"
        declared = data.get(section)
        if suggestion := did_you_mean(name, list(declared) if isinstance(declared, dict) else []):
            message += f"; did you mean {suggestion!r}?"
        hint = f"to add a {kind} only in this environment, give it a complete definition"
        out.append(
            Diagnostic(
                diagnostic.file,
                diagnostic.line,
                diagnostic.column,
                message,
                path,
                hint=hint,
                code=UNKNOWN_OVERRIDE,
                stage="overlay",
            )
        )
    return out


UNKNOWN_OVERRIDE = "unknown-override"
