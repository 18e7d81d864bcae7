"""The compiler as one pure function: a manifest in, `{path: source}` and diagnostics out.

    load -> validate -> (per environment) merge overlay -> validate -> normalize -> render -> format

Nothing here writes to disk; the CLI decides whether to write, check or diff. `check_manifest` stops after
normalize, so `modalc validate` never imports the template engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .credentials import find_credential, string_values
from .diagnostics import Diagnostic, ManifestError, did_you_mean, sort_diagnostics
from .handlers import SourceTree
from .load import LoadedManifest, load_manifest
from .normalize import (
    Project,
    apply_environment,
    declared_environments,
    normalize_app,
)
from .paths import default_out_dir, output_path
from .validate import validate_document


@dataclass
class CompileResult:
    manifest: LoadedManifest | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    apps: dict[str, ir.App] = field(default_factory=dict)
    outputs: dict[Path, str] = field(default_factory=dict)  # absolute path -> module source
    out_dir: Path | None = None
    stage: str = ""  # "structure" when schema errors stopped the semantic checks
    touched: set[Path] = field(default_factory=set)  # files and directories the result depends on

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def environments(self) -> list[str]:
        return list(self.apps)


def check_manifest(
    path: Path,
    *,
    display_name: str | None = None,
    environments: Sequence[str] = (),
    out_dir: Path | None = None,
    raw: bytes | None = None,
) -> CompileResult:
    """Load, validate and normalize every (or each selected) environment; no rendering."""
    try:
        manifest = load_manifest(path, display_name, raw)
    except ManifestError as error:
        return CompileResult(None, sort_diagnostics(error.diagnostics))
    result = CompileResult(manifest)
    diagnostics = validate_document(manifest.data, manifest.source_map, manifest_format=manifest.format)
    diagnostics += find_credentials(manifest)
    declared = declared_environments(manifest.data)
    selected = _select(declared, environments, manifest, diagnostics)
    project = Project(
        manifest_path=path.resolve(),
        out_dir=(out_dir or default_out_dir(path)).resolve(),
    )
    result.out_dir = project.out_dir
    result.touched = project.touched
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
    overlays = []
    for environment in selected:
        overlaid = apply_environment(manifest.data, environment)
        found = validate_document(
            overlaid.data, manifest.source_map, path_map=overlaid.source_path, manifest_format=manifest.format
        )
        diagnostics += [_explain_new_entry(d, overlaid, manifest.data) for d in found]
        overlays.append((environment, overlaid))
    if any(d.is_error for d in diagnostics):
        # Semantics of a structurally broken manifest would only repeat the same problems.
        result.diagnostics = sort_diagnostics(diagnostics)
        result.stage = "structure"
        return result
    if overlays and overlays[0][0].declared and not environments:
        # The base must be valid on its own too, even where every environment overrides a broken value.
        implicit = declared_environments({})[0]
        overlays.insert(0, (implicit, apply_environment(manifest.data, implicit)))
    tree = None
    for environment, overlaid in overlays:
        if tree is None:
            source_dir = overlaid.data["app"].get("source_dir", ".")
            tree = SourceTree((project.directory / source_dir).resolve(), project.directory, project.touched)
        app, problems = normalize_app(
            overlaid,
            source_map=manifest.source_map,
            environment=environment,
            project=project,
            manifest_format=manifest.format,
            source_tree=tree,
        )
        if not environment.declared and overlays[-1][0].declared:
            problems = [d for d in problems if d.is_error]  # "unused" may be used by an environment
        else:
            if app is not None:
                result.apps[environment.name] = app
        diagnostics += problems
    result.diagnostics = sort_diagnostics(diagnostics)
    if not result.ok:
        result.apps = {}
    return result


def find_credentials(manifest: LoadedManifest) -> list[Diagnostic]:
    """Credential-shaped literals anywhere in the manifest (environments included): values belong in Modal."""
    found = []
    for path, value in string_values(manifest.data):
        credential = find_credential(value)
        if credential is None:
            continue
        what, _ = credential
        line, column = manifest.source_map.value_position(path)
        found.append(
            Diagnostic(
                manifest.display_name,
                line,
                column,
                f"this looks like {what}; never write credentials in a manifest",
                path,
                hint="put it in a Modal secret (`modal secret create NAME KEY=...`) and reference the secret by name "
                "under `secrets`",
            )
        )
    return found


def _select(
    declared: list[ir.Environment], wanted: Sequence[str], manifest: LoadedManifest, diagnostics: list[Diagnostic]
) -> list[ir.Environment]:
    if not wanted:
        return declared
    by_name = {e.name: e for e in declared}
    selected = []
    for name in wanted:
        if name in by_name:
            selected.append(by_name[name])
            continue
        names = [e.name for e in declared if e.declared]
        message = f"no environment named {name!r}"
        if suggestion := did_you_mean(name, names):
            message += f"; did you mean {suggestion!r}?"
        elif names:
            message += f" (declared: {', '.join(names)})"
        else:
            message += " (the manifest declares no environments)"
        line, column = manifest.source_map.key_position(("environments",))
        diagnostics.append(Diagnostic(manifest.display_name, line, column, message, ("environments",)))
    return selected


def _explain_new_entry(diagnostic: Diagnostic, overlaid, data: dict) -> Diagnostic:
    """An overlay that names an entry the manifest lacks usually misspells it: say so, not "missing handler"."""
    path = diagnostic.key_path
    if len(path) != 4 or path[0] != "environments" or not diagnostic.message.startswith("missing required key"):
        return diagnostic
    section, name = path[2], path[3]
    if (section, name) not in overlaid.new_entries:
        return diagnostic
    known = list((data.get(section) or {}).keys())
    kind = {"functions": "function", "classes": "class"}.get(str(section), str(section))
    message = f"the manifest declares no {kind} {name!r} to override"
    if suggestion := did_you_mean(str(name), known):
        message += f"; did you mean {suggestion!r}?"
    return Diagnostic(
        diagnostic.file,
        diagnostic.line,
        diagnostic.column,
        message,
        path,
        hint=f"to add a {kind} only in this environment, give it a complete definition",
    )


def compile_manifest(
    path: Path,
    *,
    display_name: str | None = None,
    environments: Sequence[str] = (),
    out_dir: Path | None = None,
    raw: bytes | None = None,
) -> CompileResult:
    """Everything `modalc build` computes, in memory: {output path: module source} per environment."""
    result = check_manifest(path, display_name=display_name, environments=environments, out_dir=out_dir, raw=raw)
    if not result.ok or result.out_dir is None:
        return result
    from .formatting import format_module
    from .render import render_app

    manifest_dir = result.manifest.path.resolve().parent if result.manifest else Path.cwd()
    for name, app in result.apps.items():
        target = output_path(result.out_dir, name)
        try:
            shown = target.relative_to(manifest_dir).as_posix()
        except ValueError:
            shown = target.name
        result.outputs[target] = format_module(render_app(app, shown))
    return result
