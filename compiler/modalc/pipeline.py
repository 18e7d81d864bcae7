"""The compiler as one pure function: a manifest in, `{path: source}` and diagnostics out.

    load -> validate -> (per environment) overlay -> validate -> normalize -> render -> format

Stages pass values: each returns what it found (data, diagnostics, the paths it depended on) and nothing
here writes to disk; the CLI decides whether to write, check or diff. `check_manifest` stops after normalize,
so `modalc validate` never imports the template engine.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .credentials import find_credentials
from .diagnostics import FILE_LEVEL, Diagnostic, ManifestError, sort_diagnostics
from .handlers import SourceTree
from .load import LoadedManifest, load_manifest
from .module_cache import ModuleCache
from .normalize import Project, normalize_app
from .observe import Observation, merge
from .overlay import apply_environment, declared_environments, explain_new_entries, select_environments
from .paths import default_out_dir, describe_os_error, output_path, resolve, resolve_or_absolute
from .validate import plain_json, validate_document

STRUCTURE = "structure"  # CompileResult.stage when schema errors stopped the semantic checks


@dataclass
class CompileResult:
    manifest: LoadedManifest | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    apps: dict[str, ir.App] = field(default_factory=dict)
    outputs: dict[Path, str] = field(default_factory=dict)  # absolute path -> module source
    out_dir: Path | None = None
    stage: str = ""  # STRUCTURE when schema errors stopped the semantic checks
    dependencies: frozenset[Path] = frozenset()  # files and directories the result depends on
    observations: dict[Path, Observation] = field(default_factory=dict)  # how each was when the compiler looked
    parsed: ModuleCache | None = None  # handler modules read from the cache, and those to store in it
    effects: dict[str, str] = field(default_factory=dict)  # environment -> what its nouns recorded for each other
    reformatted: set[Path] = field(default_factory=set)  # outputs black changed (render could not vouch for them)

    def remember_parsed(self) -> None:
        """Store the handler modules this compile parsed afresh (the command's last step, like its outputs)."""
        if self.parsed is not None:
            self.parsed.store()

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def environments(self) -> list[str]:
        return list(self.apps)


@contextmanager
def collector_for_a_build() -> Iterator[None]:
    """Collect young objects every 100,000 allocations instead of 700 while a build runs.

    A build allocates hundreds of thousands of long-lived objects (parsed data, ASTs, the IR) and frees
    almost nothing until it ends, so the default thresholds rescan the same survivors again and again: a
    third of a 5,000-handler build and a superlinear term. Reference cycles are still collected."""
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def check_manifest(
    path: Path,
    *,
    display_name: str | None = None,
    environments: Sequence[str] = (),
    out_dir: Path | None = None,
    raw: bytes | None = None,
    budgets: bool = True,
    cached_modules: bool = True,
) -> CompileResult:
    """Load, validate and normalize every (or each selected) environment; no rendering.

    With `budgets`, an environment over its budget is an error (`modalc cost` reports it itself); without
    `cached_modules`, every handler module is parsed (and none stored)."""
    with collector_for_a_build():
        parsed = ModuleCache.open() if cached_modules else ModuleCache(None)
        return _check_manifest(path, display_name, environments, out_dir, raw, budgets, parsed)


def _check_manifest(
    path: Path,
    display_name: str | None,
    environments: Sequence[str],
    out_dir: Path | None,
    raw: bytes | None,
    budgets: bool,
    parsed: ModuleCache,
) -> CompileResult:
    try:
        manifest = load_manifest(path, display_name, raw)
    except ManifestError as error:
        return CompileResult(None, sort_diagnostics(error.diagnostics))
    return check_loaded(manifest, environments, out_dir, budgets, parsed)


def check_loaded(
    manifest: LoadedManifest,
    environments: Sequence[str],
    out_dir: Path | None,
    budgets: bool,
    parsed: ModuleCache,
    entries_elsewhere: frozenset[str] = frozenset(),
) -> CompileResult:
    """Validate and normalize a loaded manifest (the incremental build hands it reduced ones, with the names of
    the functions and classes it left out in `entries_elsewhere`)."""
    path = manifest.path
    plain = plain_json(manifest.data)
    diagnostics = validate_document(
        manifest.data, manifest.source_map, manifest_format=manifest.format, made_of_plain_json=plain
    )
    diagnostics += find_credentials(manifest)
    selected, unknown = select_environments(
        declared_environments(manifest.data),
        environments,
        manifest.display_name,
        lambda: manifest.source_map.key_position(("environments",)),
    )
    diagnostics += unknown
    wanted_out = out_dir or default_out_dir(path)
    project = Project(manifest_path=resolve_or_absolute(path), out_dir=resolve_or_absolute(wanted_out))
    if not project.out_dir.is_relative_to(project.directory):
        # The generated module finds the manifest's directory relative to itself.
        diagnostics.append(
            Diagnostic(
                manifest.display_name,
                1,
                1,
                f"the output directory {project.out_dir} is outside the manifest's directory",
            )
        )
    elif problem := _unusable_directory(wanted_out):
        diagnostics.append(Diagnostic(manifest.display_name, 1, 1, f"the output directory {problem}"))
    overlays = []
    for environment in selected:
        overlaid = apply_environment(manifest.data, environment)
        found = validate_document(
            overlaid.data,
            manifest.source_map,
            path_map=overlaid.source_path,
            manifest_format=manifest.format,
            made_of_plain_json=plain,  # an overlay's values are the manifest's own
        )
        diagnostics += explain_new_entries(found, overlaid, manifest.data)
        overlays.append((environment, overlaid))
    if any(d.is_error for d in diagnostics):
        # Semantics of a structurally broken manifest would only repeat the same problems.
        return CompileResult(manifest, sort_diagnostics(diagnostics), out_dir=project.out_dir, stage=STRUCTURE)
    if overlays and overlays[0][0].declared and not environments:
        # The base must be valid on its own too, even where every environment overrides a broken value.
        implicit = declared_environments({})[0]
        overlays.insert(0, (implicit, apply_environment(manifest.data, implicit)))
    # One source tree per source directory: an environment may move `app.source_dir`, and the same manifest
    # must compile to the same bytes whichever environments a command selects.
    trees: dict[Path, SourceTree] = {}
    apps: dict[str, ir.App] = {}
    dependencies: set[Path] = set()
    observed: list[dict[Path, Observation]] = []
    effects: dict[str, str] = {}
    for environment, overlaid in overlays:
        root = resolve_or_absolute(project.directory / str(overlaid.data["app"].get("source_dir", ".")))
        tree = trees.setdefault(root, SourceTree(root, project.directory, parsed))
        try:
            normalized = normalize_app(
                overlaid,
                source_map=manifest.source_map,
                environment=environment,
                project=project,
                manifest_format=manifest.format,
                source_tree=tree,
                entries_elsewhere=entries_elsewhere,
            )
        except OSError as error:
            # A path the manifest names that the file system refuses to look at (a name too long, say) where
            # no check of its own reports it: the user's condition, not a bug.
            message = f"cannot use a path: {describe_os_error(error, project.directory)}"
            diagnostics.append(Diagnostic(manifest.display_name, FILE_LEVEL, FILE_LEVEL, message))
            continue
        dependencies |= normalized.dependencies
        observed.append(normalized.observations)
        effects[environment.name] = normalized.effects
        problems = normalized.diagnostics
        if not environment.declared and overlays[-1][0].declared:
            problems = [d for d in problems if d.is_error]  # "unused" may be used by an environment
        elif normalized.app is not None:
            apps[environment.name] = normalized.app
        diagnostics += problems
    for tree in trees.values():
        dependencies |= tree.looked_at | set(tree.read)
        observed += [tree.read, tree.looked_at.seen]
    if budgets and apps and not any(d.is_error for d in diagnostics):
        from .budget import check_budgets  # cost stage: an environment over its budget is invalid

        read: dict[Path, Observation] = {}
        over, price_files = check_budgets(manifest, apps, project.directory, read)
        diagnostics += over
        dependencies |= price_files
        observed.append(read)
    result = CompileResult(
        manifest,
        sort_diagnostics(diagnostics),
        apps,
        out_dir=project.out_dir,
        dependencies=frozenset(dependencies),
        observations=merge(*observed),
        parsed=parsed,
        effects=effects,
    )
    if not result.ok:
        result.apps = {}
    return result


def compile_manifest(
    path: Path,
    *,
    display_name: str | None = None,
    environments: Sequence[str] = (),
    out_dir: Path | None = None,
    raw: bytes | None = None,
    cached_modules: bool = True,
) -> CompileResult:
    """Everything `modalc build` computes, in memory: {output path: module source} per environment."""
    with collector_for_a_build():
        checked = check_manifest(
            path,
            display_name=display_name,
            environments=environments,
            out_dir=out_dir,
            raw=raw,
            cached_modules=cached_modules,
        )
        return render_outputs(checked)


def render_outputs(result: CompileResult) -> CompileResult:
    """Render and format the module of every environment `check_manifest` normalized (if it found no error)."""
    if not result.ok or result.out_dir is None or result.manifest is None:
        return result
    from .formatting import format_module
    from .render import render_app

    manifest_dir = resolve_or_absolute(result.manifest.path).parent
    for name, app in result.apps.items():
        target = output_path(result.out_dir, name)
        try:
            shown = target.relative_to(manifest_dir).as_posix()
        except ValueError:
            shown = target.name
        rendered = render_app(app, shown)
        result.outputs[target] = formatted = format_module(rendered)
        if formatted != rendered:
            result.reformatted.add(target)
    return result


def _unusable_directory(directory: Path) -> str | None:
    """Why `directory` cannot hold generated modules (a file, a symlink loop, a name too long), or None."""
    try:
        resolve(directory).stat()
    except FileNotFoundError:
        return None  # created by the first build
    except OSError as error:
        return f"{directory.name} cannot be used: {error.strerror or error}"
    if not directory.is_dir():
        return f"{directory.name} is not a directory"
    return None
