"""The state one environment's normalization shares across its nouns: where to report, what was used.

A `Session` holds the merged manifest of one environment, the source map to position diagnostics, the user's
source tree, and what the nouns record for each other: which images, volumes, secrets and buckets are
referenced, which user modules each image must import and ship, and every path the result depends on (the
build cache's dependencies, returned to the pipeline as a value).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import handlers, ir, pyliteral
from ..diagnostics import ERROR, WARNING, Diagnostic, KeyPath, did_you_mean, quote_choices
from ..load import SourceMap
from ..observe import ObservedPaths
from ..paths import resolve


def as_int(value: Any) -> Any:
    """An integral float where the schema wants an integer (TOML `300.0`) becomes the int it means."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [as_int(v) for v in value]
    return value


@dataclass(frozen=True)
class Project:
    """Where the manifest lives and where output goes; the only facts about disk that normalize is given."""

    manifest_path: Path  # resolved
    out_dir: Path  # resolved

    @property
    def directory(self) -> Path:
        return self.manifest_path.parent


@dataclass
class Session:
    data: dict[str, Any]  # the manifest with this environment's overrides merged in
    source_map: SourceMap
    path_map: Callable[[KeyPath], KeyPath]  # a merged path -> where the user wrote it
    environment: ir.Environment
    project: Project
    manifest_format: str
    tree: handlers.SourceTree
    replaced: dict[KeyPath, Any] = field(default_factory=dict)  # base values the overlay replaced
    entries_elsewhere: frozenset[str] = frozenset()  # functions and classes of a manifest `data` leaves out
    diagnostics: list[Diagnostic] = field(default_factory=list)
    dependencies: set[Path] = field(default_factory=ObservedPaths)  # each stat taken when added, before the check
    used: dict[str, set[str]] = field(
        default_factory=lambda: {"images": set(), "volumes": set(), "secrets": set(), "cloud_buckets": set()}
    )
    module_aliases: dict[str, str] = field(default_factory=dict)  # user module -> its alias in the module
    module_images: dict[str, set[str]] = field(default_factory=dict)  # user module -> images that import it
    module_users: dict[str, KeyPath] = field(default_factory=dict)  # user module -> the first handler key naming it
    user_packages: set[str] = field(default_factory=set)  # the top-level packages of module_users
    source_ok: bool = True
    build_wrappers: dict[str, str] = field(default_factory=dict)  # run_function handler -> its wrapper's name

    def effects(self) -> str:
        """What the nouns recorded for each other, in the order they recorded it: the incremental build holds an
        edited function to leaving all of it as it was."""
        return repr(
            (
                sorted((section, sorted(aliases)) for section, aliases in self.used.items()),
                list(self.module_aliases.items()),
                sorted((module, sorted(images)) for module, images in self.module_images.items()),
                list(self.module_users.items()),
                list(self.build_wrappers.items()),
                self.source_ok,
                sorted(map(str, self.dependencies)),
            )
        )

    @property
    def source_dir(self) -> str:
        return str(self.data["app"].get("source_dir", "."))

    def report(
        self, path: KeyPath, message: str, *, hint: str | None = None, at_key: bool = False, severity: str = ERROR
    ) -> None:
        source = self.path_map(tuple(path))
        line, column = self.source_map.key_position(source) if at_key else self.source_map.value_position(source)
        self.diagnostics.append(
            Diagnostic(self.source_map.file, line, column, message, source, severity, hint, stage="normalize")
        )

    def warn(self, path: KeyPath, message: str, *, hint: str | None = None, at_key: bool = False) -> None:
        self.report(path, message, hint=hint, at_key=at_key, severity=WARNING)

    def reference(self, section: str, alias: str, path: KeyPath) -> bool:
        declared = self.data.get(section, {})
        if alias in declared:
            self.used[section].add(alias)
            return True
        kind = {"images": "image", "volumes": "volume", "secrets": "secret", "cloud_buckets": "cloud bucket"}[section]
        message = f"no {kind} named {alias!r}"
        suggestion = did_you_mean(alias, declared)
        if suggestion:
            message += f"; did you mean {suggestion!r}?"
        elif declared:
            message += f" (declared: {quote_choices(declared)})"
        else:
            message += (
                f"; declare it under [{section}.{alias}]"
                if self.manifest_format == "toml"
                else f"; declare it under {section}.{alias}"
            )
        self.report(path, message)
        return False

    def secret_refs(self, aliases: list[str], path: KeyPath) -> list[str]:
        return [a for i, a in enumerate(aliases) if self.reference("secrets", a, (*path, i))]

    def local_path(self, relative: str, path: KeyPath, *, want: str) -> str | None:
        """A project-relative path that must exist and stay inside the manifest's directory."""
        project = self.project.directory
        if Path(relative).is_absolute() or relative.startswith("~"):
            self.report(path, f"{relative!r} must be relative to the manifest's directory")
            return None
        try:
            resolved = resolve(project / relative)
            self.dependencies.add(resolved)
            if not resolved.is_relative_to(project):
                self.report(path, f"{relative!r} points outside the manifest's directory")
                return None
            if want == "file" and not resolved.is_file():
                self.report(
                    path, f"{relative!r} does not exist" if not resolved.exists() else f"{relative!r} is not a file"
                )
                return None
            if want == "dir" and not resolved.is_dir():
                self.report(
                    path,
                    f"{relative!r} does not exist" if not resolved.exists() else f"{relative!r} is not a directory",
                )
                return None
        except (OSError, ValueError) as error:
            self.report(path, f"{relative!r} cannot be used as a path: {getattr(error, 'strerror', None) or error}")
            return None
        return Path(posixpath.normpath(Path(relative).as_posix())).as_posix()

    def inside_project(self, relative: str) -> bool:
        project = self.project.directory
        if Path(relative).is_absolute() or relative.startswith("~"):
            return False
        try:
            return resolve(project / relative).is_relative_to(project)
        except (OSError, ValueError):
            return False

    def module_alias(self, module: str, image: str | None, user: KeyPath = ()) -> str:
        self.module_users.setdefault(module, user)
        self.user_packages.add(module.partition(".")[0])
        if module not in self.module_aliases:
            alias = "_" + module.replace(".", "_")
            # Never a name the module defines, nor one a wrapper's parameter would shadow in its body.
            taken = {*self.module_aliases.values(), *pyliteral.RESERVED_NAMES, *self.tree.argument_names(module)}
            base, n = alias, 2
            while alias in taken:
                alias, n = f"{base}_{n}", n + 1
            self.module_aliases[module] = alias
        if image is not None:
            self.module_images.setdefault(module, set()).add(image)
        return self.module_aliases[module]

    def handler_error(self, path: KeyPath, error: handlers.HandlerError) -> None:
        self.report((*path, "handler"), error.message, hint=error.hint)
