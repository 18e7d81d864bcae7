"""What every command that hands a module to the `modal` SDK starts with.

`prepare` compiles the manifest in memory for one environment and insists that the committed module is
exactly that output, so what is deployed, planned, run or served is what was reviewed. `modal` is imported
only by these commands, never by build, validate or diff.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from . import compat, ir
from .cache import BuildCache, manifest_bytes
from .diagnostics import Diagnostic
from .paths import output_path, resolve_or_absolute
from .pipeline import check_manifest, render_outputs
from .shipped import deploy_digest, module_hash, shipped_files
from .write import interrupted_write


class DeployError(Exception):
    """A refusal with the reason and the fix; the CLI prints it and exits 1."""


class EnvironmentRequired(DeployError):
    """The manifest declares environments and none was chosen: a usage error (exit 2)."""


@dataclass(frozen=True)
class Prepared:
    app: ir.App  # the target app's view of the module (see `target_app`)
    module_path: Path
    display_path: str
    source: str
    manifest_display: str
    project_dir: Path
    variable: str = "app"  # the module-level name of the Modal app to deploy, plan or serve

    def modal_app(self, module: ModuleType) -> Any:
        return getattr(module, self.variable)

    @property
    def module_hash(self) -> str:
        return module_hash(self.source)

    @cached_property
    def shipped_files(self) -> list[Path]:
        return shipped_files(self.app, self.project_dir)

    @cached_property
    def digest(self) -> str:
        return deploy_digest(self.source, self.shipped_files, self.project_dir)

    @property
    def modal_environment(self) -> str:
        return self.app.environment.modal_environment


def prepare(
    manifest: Path,
    environment: str | None,
    *,
    display_name: str,
    out_dir: Path | None = None,
    display: Callable[[Path], str] = str,
    app_alias: str | None = None,
) -> tuple[Prepared | None, list[Diagnostic]]:
    """Compile one environment and check the committed module against it; `app_alias` picks another app of
    the module (under [apps]) than the main one."""
    selected = [environment] if environment else []
    raw = manifest_bytes(manifest)
    result = check_manifest(manifest, display_name=display_name, environments=selected, out_dir=out_dir, raw=raw)
    result.remember_parsed()  # a deploy's own output is the app it deploys; this is the one file it keeps
    if not result.ok or result.out_dir is None:
        return None, result.diagnostics
    if environment is None:
        declared = [name for name, app in result.apps.items() if app.environment.declared]
        if declared:
            raise EnvironmentRequired(
                f"{display_name} declares environments ({', '.join(declared)}): choose one with --env"
            )
        environment = next(iter(result.apps))
    app = result.apps[environment]
    path = output_path(result.out_dir, environment)
    if unfinished := interrupted_write(result.out_dir):
        raise DeployError(f"{unfinished}: run `modalc build {display_name}` to finish it, review and commit")
    shown = display(path)
    try:
        committed = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        committed = None
    except UnicodeDecodeError:
        committed = ""  # not what modalc wrote: stale
    except OSError as error:
        raise DeployError(f"cannot read {shown}: {error.strerror or error}") from None
    rebuild = (
        f"modalc build {display_name} --env {environment}"
        if app.environment.declared
        else f"modalc build {display_name}"
    )
    if committed is None:
        if out_dir is None:
            raise DeployError(
                f"{shown} does not exist: run `{rebuild}`, review it and commit it (or, if you built it with "
                "`--out DIR`, pass the same `--out DIR` here)"
            )
        raise DeployError(f"{shown} does not exist: run `{rebuild} --out {out_dir}`, review it and commit it")
    # The record of `modalc build` (every environment) or of this very compile proves the module fresh.
    caches = BuildCache.open_each(manifest, raw, result.out_dir, [[], selected] if selected else [[]]) if raw else []
    if any(cache.proves(path, committed) for cache in caches):
        compiled = committed  # a build from these very inputs wrote it: rendering it again would say the same
    else:
        compiled = render_outputs(result).outputs[path]
        if compiled == committed and caches:
            caches[-1].store(result.observations, {path: compiled}, [d.render() for d in result.diagnostics])
    if committed != compiled:
        raise DeployError(
            f"{shown} is stale: it is not what {display_name} compiles to now, so it is not what was reviewed. "
            f"Run `{rebuild}`, review the diff and commit it (or see it first with `modalc build {display_name} --diff`)"
        )
    project_dir = resolve_or_absolute(manifest).parent
    target, variable = target_app(app, app_alias, display_name)
    return Prepared(target, path, shown, compiled, display_name, project_dir, variable), result.diagnostics


def target_app(app: ir.App, alias: str | None, display_name: str = "the manifest") -> tuple[ir.App, str]:
    """One app's view of the module's IR, and the module-level name of its Modal app.

    The main app brings the apps it includes (their functions deploy with it); another app is its own
    functions and classes, with its own name, tags and defaults. The images, storage and entrypoints are the
    module's, unchanged.
    """
    if alias is None:
        members = {None, *app.include}
        return (
            app._replace(
                functions=tuple(f for f in app.functions if f.app in members),
                classes=tuple(c for c in app.classes if c.app in members),
            ),
            "app",
        )
    other = next((o for o in app.other_apps if o.alias == alias), None)
    if other is None:
        declared = ", ".join(o.alias for o in app.other_apps) or "none"
        raise DeployError(f"{display_name} declares no app {alias!r} under [apps] (declared: {declared})")
    return (
        app._replace(
            name=other.name,
            tags=other.tags,
            default_image=other.default_image,
            default_secrets=other.default_secrets,
            default_mounts=other.default_mounts,
            functions=tuple(f for f in app.functions if f.app == alias),
            classes=tuple(c for c in app.classes if c.app == alias),
            entrypoints=(),
            include=(),
        ),
        f"app_{alias}",
    )


def import_module(path: Path, user_packages: Iterable[str] = (), source: str | None = None) -> ModuleType:
    """Import a generated module afresh (modal skips lookups for objects it has already hydrated).

    With `source`, that text is run as if it were the file at `path` (an earlier version of the module, from
    git): it finds the manifest's directory and the handlers relative to `path`, as the file itself would.
    """
    for name in list(sys.modules):
        if name.split(".")[0] in set(user_packages):
            del sys.modules[name]
    module_name = f"modalc_deploy_{path.stem}_{abs(hash(path))}"
    sys.modules.pop(module_name, None)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DeployError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    if source is None:
        spec.loader.exec_module(module)
    else:
        # dont_inherit: this file's `from __future__ import annotations` must not turn the module's class
        # annotations into strings (Modal reads class parameters' types as objects).
        exec(compile(source, str(path), "exec", dont_inherit=True), module.__dict__)
    return module


def user_packages(app: ir.App) -> list[str]:
    return sorted({module.split(".")[0] for module, _, _ in app.source.user_modules})


def select_environment(modal_environment: str) -> None:
    """Select the Modal environment for this process, as `modal deploy --env` does."""
    compat.select_environment(modal_environment)


def environment_phrase(modal_environment: str) -> str:
    return f"Modal environment {modal_environment!r}" if modal_environment else "the default Modal environment"


def count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
