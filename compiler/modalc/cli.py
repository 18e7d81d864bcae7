"""The `modalc` command line: parses options, runs the pipeline, decides what to write or print.

Exit codes: 0 ok, 1 invalid manifest or stale output, 2 usage, 123 internal error (a bug in modalc).
Heavy imports (jsonschema, jinja2, modal) happen inside commands, so `modalc --help` stays instant.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__

if TYPE_CHECKING:
    from .cache import BuildCache
    from .pipeline import CompileResult
    from .prepare import Prepared

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 123
EXIT_CHANGES = 2  # `plan --detailed-exitcode`: the deploy would change something (Terraform's convention)

DEFAULT_MANIFESTS = ("app.toml", "app.yaml", "app.yml")
ISSUES_URL = "https://github.com/modalc/modalc/issues"


def _manifest_path(given: str | None) -> Path:
    if given:
        return Path(given)
    for name in DEFAULT_MANIFESTS:
        if Path(name).is_file():
            return Path(name)
    raise click.UsageError(f"no manifest given and none of {', '.join(DEFAULT_MANIFESTS)} in this directory")


def _report(diagnostics: Sequence[object]) -> None:
    from .diagnostics import render_text

    text = render_text(diagnostics)  # type: ignore[arg-type]
    if text:
        click.echo(text, nl=False, err=True)


def _summary(errors: int, warnings: int) -> str:
    parts = [f"{errors} error{'s' if errors != 1 else ''}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


def _staged(result: object) -> str:
    """Say so when structural errors kept the deeper checks (references, GPUs, handlers) from running."""
    if getattr(result, "stage", "") == "structure":
        return " (references, GPUs, schedules and handlers are checked once these are fixed)"
    return ""


def _display(path: Path) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    from .paths import resolve_or_absolute

    try:
        return resolve_or_absolute(path).relative_to(resolve_or_absolute(Path.cwd())).as_posix()
    except ValueError:
        return str(path)


manifest_argument = click.argument("manifest", required=False, metavar="[MANIFEST]", type=click.Path(dir_okay=False))
# build and validate take several manifests (pre-commit passes every matching file at once)
manifests_argument = click.argument("manifests", nargs=-1, metavar="[MANIFEST]...", type=click.Path(dir_okay=False))


def _complete_environments(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of --env: the environments of the manifest on the command line (or the default one)."""
    from click.shell_completion import CompletionItem

    # While an option's value is completed, click may leave the positional arguments unparsed in ctx.args.
    given = ctx.params.get("manifest") or next(iter(ctx.params.get("manifests") or ctx.args), None)
    try:
        from .load import load_manifest

        environments = load_manifest(_manifest_path(given)).data.get("environments")
    except Exception:  # completion must never fail: offer nothing instead
        return []
    names = [str(name) for name in environments] if isinstance(environments, dict) else []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def _each(manifests: Sequence[str], command: Any) -> int:
    """Run a one-manifest command for each manifest; the worst exit code (every manifest is checked)."""
    worst = EXIT_OK
    for manifest in manifests:
        try:
            command(manifest)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else EXIT_INVALID if exit_.code else EXIT_OK
            worst = max(worst, code)
    return worst


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="modalc")
def cli() -> None:
    """Compile declarative TOML/YAML manifests into reviewable, deployable Modal apps.

    MANIFEST defaults to ./app.toml (then ./app.yaml). Exit codes: 0 ok, 1 invalid manifest or stale
    output, 2 usage error, 123 internal error.
    """


@cli.command()
@manifests_argument
@click.option(
    "--env",
    "environments",
    multiple=True,
    metavar="NAME",
    help="Build only these environments.",
    shell_complete=_complete_environments,
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (default: generated/ beside the manifest).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the committed output is stale.")
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Write nothing; print a unified diff of what would change, and exit 1 if anything would.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Compile from scratch, even if nothing changed since the last build (no cache is read).",
)
def build(
    manifests: tuple[str, ...],
    environments: tuple[str, ...],
    out_dir: Path | None,
    check: bool,
    show_diff: bool,
    no_cache: bool,
) -> None:
    """Validate each MANIFEST and write one Python module per environment."""
    if len(manifests) <= 1:
        _build(next(iter(manifests), None), environments, out_dir, check, show_diff, no_cache)
        return
    if out_dir is not None:
        raise click.UsageError("--out needs a single manifest")
    sys.exit(_each(manifests, lambda m: _build(m, environments, None, check, show_diff, no_cache)))


def _build(
    manifest: str | None,
    environments: tuple[str, ...],
    out_dir: Path | None,
    check: bool,
    show_diff: bool,
    no_cache: bool,
) -> None:
    from .paths import default_out_dir
    from .write import interrupted_write

    path = _manifest_path(manifest)
    unfinished = interrupted_write(out_dir or default_out_dir(path))
    cache, raw = (None, None) if no_cache or unfinished else _open_cache(path, out_dir, environments)
    if cache is not None and (record := cache.lookup()) is not None:
        _replay(record, check, manifest or path.name)
        return

    from .paths import describe_os_error
    from .pipeline import compile_manifest
    from .write import OutputConflict, apply_changes, finish_interrupted, plan_changes, unified_diff

    result = None
    if cache is not None and raw is not None:
        from .incremental import compile_edit

        result = compile_edit(cache, path, raw, manifest or path.name, environments, out_dir)
    if result is None:
        result = compile_manifest(
            path,
            display_name=manifest or path.name,
            environments=environments,
            out_dir=out_dir,
            raw=raw,
            cached_modules=not no_cache,
        )
    _report(result.diagnostics)
    if not result.ok or result.out_dir is None or result.manifest is None:
        errors = sum(1 for d in result.diagnostics if d.is_error)
        click.echo(
            f"modalc: {_summary(errors, len(result.diagnostics) - errors)}; nothing written{_staged(result)}", err=True
        )
        sys.exit(EXIT_INVALID)
    if unfinished:
        hint = f"modalc build {manifest or ''}".rstrip()
        if check or show_diff:
            click.echo(f"modalc: {unfinished}; run `{hint}` to finish it", err=True)
            sys.exit(EXIT_INVALID)
        if not finish_interrupted(result.out_dir):
            click.echo(f"modalc: {unfinished}; nothing written", err=True)
            sys.exit(EXIT_INVALID)
        click.echo(f"modalc: {unfinished}; finished its write, then built", err=True)
    try:
        changes = plan_changes(result.outputs, result.out_dir, result.manifest.path.name)
    except OutputConflict as error:
        click.echo(f"modalc: {error}; nothing written", err=True)
        sys.exit(EXIT_INVALID)
    except OSError as error:
        click.echo(f"modalc: cannot read {describe_os_error(error)}; nothing written", err=True)
        sys.exit(EXIT_INVALID)
    if environments:  # a partial build does not judge the modules of other environments
        changes = [c for c in changes if c.new is not None]
    if show_diff:
        for change in changes:
            if change.changed:
                click.echo(unified_diff(change, _display(change.path)), nl=False)
    stale = [c for c in changes if c.changed]
    if check:
        for change in stale:
            state = "missing" if change.old is None else "orphaned" if change.new is None else "stale"
            click.echo(f"{_display(change.path)}: {state}", err=True)
        if stale:
            hint = f"modalc build {manifest or ''}".rstrip()
            click.echo(f"modalc: {len(stale)} generated file(s) out of date; run `{hint}`", err=True)
            sys.exit(EXIT_INVALID)
        _remember(cache, result, raw)
        click.echo(f"modalc: {len(changes)} generated file(s) up to date", err=True)
        return
    if show_diff:
        if not stale:
            _remember(cache, result, raw)
        sys.exit(EXIT_INVALID if stale else EXIT_OK)
    try:
        apply_changes(changes)
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        click.echo(
            f"modalc: cannot write{where}: {error.strerror or error}; the previous output is unchanged", err=True
        )
        sys.exit(EXIT_INVALID)
    _remember(cache, result, raw)
    for change in changes:
        state = (
            "removed"
            if change.new is None
            else "unchanged"
            if not change.changed
            else "created"
            if change.old is None
            else "updated"
        )
        click.echo(f"{_display(change.path)}: {state}", err=True)


def _open_cache(path: Path, out_dir: Path | None, environments: Sequence[str]) -> tuple[Any, bytes | None]:
    """The build's cache (None if off or unreadable) and the manifest's bytes, read once for both."""
    from .cache import BuildCache, manifest_bytes
    from .paths import default_out_dir

    raw = manifest_bytes(path)
    if raw is None:
        return None, None
    return BuildCache.open(path, raw, out_dir or default_out_dir(path), environments), raw


def _replay(record: dict[str, Any], check: bool, display_name: str) -> None:
    """Report a cached build exactly as the build itself would (its warnings, then its files), naming the manifest
    as this command does (`./app.toml` or `app.toml`)."""
    recorded = record.get("display_name") or display_name
    for warning in record["warnings"]:
        if warning.startswith(f"{recorded}:"):
            warning = display_name + warning[len(recorded) :]
        click.echo(warning, err=True)
    if check:
        click.echo(f"modalc: {len(record['outputs'])} generated file(s) up to date", err=True)
        return
    for output in sorted(record["outputs"]):
        click.echo(f"{_display(Path(output))}: unchanged", err=True)


def _remember(cache: BuildCache | None, result: CompileResult, raw: bytes | None) -> None:
    # The manifest is in the record's key (the hash of the bytes this build compiled); every other input is an
    # observation the compiler made before reading or checking it.
    result.remember_parsed()
    if cache is not None and result.manifest is not None:
        warnings = [d.render() for d in result.diagnostics]
        cache.store(result.observations, result.outputs, warnings, result.manifest.display_name)
        if raw is not None:
            from .incremental import store_state

            store_state(cache, raw, result)


@cli.command()
@manifests_argument
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: a machine-readable report on stdout (one report for all the manifests).",
)
@click.option(
    "--env",
    "environments",
    multiple=True,
    metavar="NAME",
    help="Check only these environments.",
    shell_complete=_complete_environments,
)
def validate(manifests: tuple[str, ...], output_format: str, environments: tuple[str, ...]) -> None:
    """Check each MANIFEST (schema, references, handlers) without writing anything."""
    from .diagnostics import render_json
    from .pipeline import check_manifest

    several = len(manifests) > 1
    diagnostics: list[Any] = []
    for manifest in manifests or (None,):
        path = _manifest_path(manifest)
        result = check_manifest(path, display_name=manifest or path.name, environments=environments)
        diagnostics += result.diagnostics
        if output_format == "json":
            continue
        errors = sum(1 for d in result.diagnostics if d.is_error)
        _report(result.diagnostics)
        if errors:
            where = f"{manifest}: " if several else ""
            summary = _summary(errors, len(result.diagnostics) - errors)
            click.echo(f"modalc: {where}{summary}{_staged(result)}", err=True)
        else:
            names = ", ".join(result.environments)
            click.echo(f"{manifest or path.name}: valid ({names})", err=True)
    if output_format == "json":
        click.echo(render_json(diagnostics), nl=False)
    sys.exit(EXIT_INVALID if any(d.is_error for d in diagnostics) else EXIT_OK)


@cli.command()
def schema() -> None:
    """Print the manifest's JSON Schema (for editors: taplo, yaml-language-server)."""
    from importlib import resources

    click.echo(
        resources.files("modalc").joinpath("schemas", "manifest.schema.json").read_text(encoding="utf-8"), nl=False
    )


@cli.command()
@manifest_argument
@click.option(
    "--env",
    "environments",
    multiple=True,
    required=True,
    metavar="NAME",
    help="Two environments to compare, e.g. --env dev --env prod.",
)
def diff(manifest: str | None, environments: tuple[str, ...]) -> None:
    """Show how two environments' generated modules differ."""
    import difflib

    from .paths import output_path
    from .pipeline import compile_manifest

    if len(environments) != 2:
        raise click.UsageError("give exactly two environments: --env A --env B")
    path = _manifest_path(manifest)
    result = compile_manifest(path, display_name=manifest or path.name, environments=environments)
    _report(result.diagnostics)
    if not result.ok or result.out_dir is None:
        sys.exit(EXIT_INVALID)
    first, second = (output_path(result.out_dir, e) for e in environments)
    text = "".join(
        difflib.unified_diff(
            result.outputs[first].splitlines(keepends=True),
            result.outputs[second].splitlines(keepends=True),
            fromfile=_display(first),
            tofile=_display(second),
        )
    )
    click.echo(text or f"modalc: {environments[0]} and {environments[1]} compile to the same module", nl=False)
    if result.manifest is not None:
        from .cost_command import environment_change

        click.echo("\n" + environment_change(result.manifest, result.apps, environments), nl=False)


@cli.command()
@manifest_argument
@click.option("--env", "environments", multiple=True, metavar="NAME", help="Only these environments (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Figures on stdout as JSON (decimal strings, US dollars).")
@click.option(
    "--prices",
    "price_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own price file (negotiated rates) instead of the manifest's or Modal's list prices.",
)
@click.option(
    "--rates",
    type=click.Choice(["list", "workspace"]),
    help="list: Modal's list prices (ignore the manifest's price file); workspace: your workspace's rates from "
    "`modal billing rates` (needs a token; falls back to list prices).",
)
@click.option("--diff", "show_diff", is_flag=True, help="The price of the change against the committed modules.")
@click.option("--base", "base_ref", metavar="GIT_REF", help="With --diff, compare with GIT_REF (default: HEAD).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the generated modules are (default: generated/ beside the manifest).",
)
def cost(
    manifest: str | None,
    environments: tuple[str, ...],
    as_json: bool,
    price_file: Path | None,
    rates: str | None,
    show_diff: bool,
    base_ref: str | None,
    out_dir: Path | None,
) -> None:
    """What each function and class costs per hour: one container, the idle floor, the peak, one call.

    Figures are Modal's list prices (data/prices.json, dated), the manifest's `budget.prices` file, --prices
    FILE or --rates workspace, and always name their source. Exits 1 when an environment is over its budget.
    """
    from .cost_command import run_cost

    if price_file is not None and rates is not None:
        raise click.UsageError("give --prices FILE or --rates, not both")
    path = _manifest_path(manifest)
    code = run_cost(
        path,
        display_name=manifest or path.name,
        environments=environments,
        as_json=as_json,
        price_file=price_file,
        rates=rates,
        diff_ref=base_ref or ("HEAD" if show_diff else None),
        out_dir=out_dir,
        display=_display,
        report=_report,
    )
    sys.exit(code)


def _prepare(
    manifest: str | None, environment: str | None, out_dir: Path | None = None, app_alias: str | None = None
) -> Prepared:
    """Compile one environment and insist the committed module is its output; exit 1 otherwise."""
    from .prepare import DeployError, EnvironmentRequired, prepare

    path = _manifest_path(manifest)
    try:
        prepared, diagnostics = prepare(
            path,
            environment,
            display_name=manifest or path.name,
            out_dir=out_dir,
            display=_display,
            app_alias=app_alias,
        )
    except EnvironmentRequired as error:
        raise click.UsageError(str(error)) from None
    except DeployError as error:
        click.echo(f"modalc: {error}", err=True)
        sys.exit(EXIT_INVALID)
    _report(diagnostics)
    if prepared is None:
        errors = sum(1 for d in diagnostics if d.is_error)
        click.echo(f"modalc: {_summary(errors, len(diagnostics) - errors)}; nothing deployed", err=True)
        sys.exit(EXIT_INVALID)
    return prepared


def _refuse(error: Exception | str) -> None:
    click.echo(f"modalc: {error}", err=True)
    sys.exit(EXIT_INVALID)


env_option = click.option(
    "--env",
    "environment",
    metavar="NAME",
    help="The manifest environment (e.g. dev, prod).",
    shell_complete=_complete_environments,
)
out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the generated modules are (default: generated/ beside the manifest).",
)
app_option = click.option(
    "--app", "app_alias", metavar="ALIAS", help="Another app of the manifest (under [apps]) instead of the main one."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask before acting on a protected environment.")


@cli.command()
@manifest_argument
@env_option
@out_option
@app_option
@yes_option
@click.option("--tag", default="", help="A deployment tag of your own (Modal shows it in the app's history).")
@click.option("--strategy", type=click.Choice(["rolling", "recreate"]), default="rolling", show_default=True)
@click.option("--force", is_flag=True, help="Deploy even when the deployed module is the same.")
def deploy(
    manifest: str | None,
    environment: str | None,
    out_dir: Path | None,
    app_alias: str | None,
    yes: bool,
    tag: str,
    strategy: str,
    force: bool,
) -> None:
    """Deploy the committed module of one environment, after checking it is up to date and its secrets exist."""
    from .deploy import deploy as run_deploy
    from .prepare import DeployError

    prepared = _prepare(manifest, environment, out_dir, app_alias)
    try:
        run_deploy(
            prepared,
            tag=tag,
            strategy=strategy,
            force=force,
            confirm=_protected_confirmation(prepared, yes, "deploy", f"(digest {prepared.digest})"),
            say=lambda line: click.echo(line),
        )
    except DeployError as error:
        _refuse(error)
    except _modal_errors() as error:
        _refuse(_modal_failure(error, "Modal refused the deploy", "nothing was deployed"))


def _protected_confirmation(prepared: Any, yes: bool, action: str, detail: str = "") -> Any:
    """A `confirm()` for an action on a protected environment: --yes, a "yes" at a terminal, or a refusal.

    Before a deploy it shows what the deploy changes against what is deployed, so the answer is informed.
    """
    from .prepare import DeployError

    target = prepared.app.environment

    def confirm() -> bool:
        if not target.protected or yes:
            return True
        if not sys.stdin.isatty():
            raise DeployError(f"environment {target.name!r} is protected: pass --yes to {action} without a terminal")
        if action == "deploy":
            from .changes import format_changes
            from .plan import find_baseline, plan

            planned = plan(prepared, find_baseline(prepared))
            click.echo(format_changes(planned["changes"], planned["baseline"]["description"]), err=True)
        return click.confirm(
            f"{action.capitalize()} {prepared.app.name} {detail + ' ' if detail else ''}"
            f"{'to' if action == 'deploy' else 'in'} protected environment "
            f"{target.name!r} (Modal environment {prepared.modal_environment!r})?",
            default=False,
            err=True,
        )

    return confirm


def _modal_failure(error: BaseException, what: str, outcome: str) -> str:
    from modal.exception import AuthError
    from modal.exception import ConnectionError as ModalConnectionError

    from . import compat
    from .deploy import server_url

    then = f"; {outcome}" if outcome else ""
    if isinstance(error, AuthError) and "Token missing" in str(error):
        return "no Modal credentials: run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET" + then
    if isinstance(error, ModalConnectionError):
        return f"cannot reach {server_url()}: {error}{then}"
    if compat.is_transport_error(error):
        return f"the connection to {server_url()} failed: {compat.describe_transport_error(error)}{then}"
    return f"{what}: {type(error).__name__}: {error}"


def _modal_errors() -> tuple[type[BaseException], ...]:
    from modal.exception import Error as ModalError

    from . import compat
    from .control_plane import UnsupportedClientVersion

    return (ModalError, UnsupportedClientVersion, *compat.transport_errors())


@cli.command()
@manifest_argument
@env_option
@out_option
@app_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable plan on stdout.")
@click.option(
    "--base",
    "base_ref",
    metavar="GIT_REF",
    help="Compare with the module committed at GIT_REF instead of what is deployed.",
)
@click.option("--offline", is_flag=True, help="Do not ask Modal what is deployed (everything shows as new).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the deploy would change something, 0 when not.")
def plan(
    manifest: str | None,
    environment: str | None,
    out_dir: Path | None,
    app_alias: str | None,
    as_json: bool,
    base_ref: str | None,
    offline: bool,
    detailed_exitcode: bool,
) -> None:
    """Show what a deploy would send and change, computed offline with the real Modal client.

    The changes are against what is deployed (found through the deployment's modalc tags and this repository's
    history; it needs Modal credentials), or against --base GIT_REF.
    """
    import json

    from .plan import find_baseline, format_plan
    from .plan import plan as compute_plan
    from .prepare import DeployError

    prepared = _prepare(manifest, environment, out_dir, app_alias)
    try:
        result = compute_plan(prepared, find_baseline(prepared, base_ref, lookup=not offline))
    except DeployError as error:
        _refuse(error)
    except _modal_errors() as error:
        _refuse(_modal_failure(error, "the offline deploy failed", ""))
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(format_plan(result), nl=False)
    if detailed_exitcode and result["changes"]:
        sys.exit(EXIT_CHANGES)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar="[MANIFEST] ENTRYPOINT [--ARG VALUE ...]")
@env_option
@out_option
@click.option("--inputs", default=None, help="A .jsonl or .csv file (default: the manifest's inputs).")
@click.option("--items", default="", help="Inputs as a JSON array, instead of a file.")
@click.option("--output", default=None, help="Where results go: a .jsonl file, or - for stdout.")
@yes_option
def run(
    arguments: tuple[str, ...],
    environment: str | None,
    out_dir: Path | None,
    inputs: str | None,
    items: str,
    output: str | None,
    yes: bool,
) -> None:
    """Run a declared entrypoint once (an ephemeral app): map/starmap with progress over the inputs, or one call
    of a remote/spawn entrypoint with its target's arguments as options (--audio-path a.wav)."""
    from .prepare import DeployError
    from .progress import LineProgress
    from .run import run_entrypoint

    positional = [a for a in arguments if not a.startswith("--")][:2]
    manifest = positional[0] if positional and positional[0].endswith((".toml", ".yaml", ".yml")) else None
    names = positional[1:] if manifest else positional[:1]
    if not names or arguments.index(names[0]) > (1 if manifest else 0):
        raise click.UsageError(
            "give the entrypoint to run, optionally after the manifest: [MANIFEST] ENTRYPOINT [--ARG VALUE ...]"
        )
    entrypoint = names[0]
    call_arguments = arguments[arguments.index(entrypoint) + 1 :]
    prepared = _prepare(manifest, environment, out_dir)

    def progress(total: int) -> LineProgress:
        return LineProgress(entrypoint, total, sys.stderr)

    try:
        run_entrypoint(
            prepared,
            entrypoint,
            inputs=inputs,
            items=items,
            output=output,
            progress=progress,
            confirm=_protected_confirmation(prepared, yes, "run", entrypoint),
            call_arguments=call_arguments,
        )
    except DeployError as error:
        _refuse(error)
    except _modal_errors() as error:
        _refuse(_modal_failure(error, "the run failed", "nothing was started"))


@cli.command()
@manifest_argument
@env_option
@out_option
@app_option
@yes_option
def serve(
    manifest: str | None, environment: str | None, out_dir: Path | None, app_alias: str | None, yes: bool
) -> None:
    """Serve an environment's module with `modal serve` (hot reload); rebuild to pick up manifest changes."""
    import subprocess

    from .prepare import DeployError
    from .run import serve_command

    prepared = _prepare(manifest, environment, out_dir, app_alias)
    try:
        if not _protected_confirmation(prepared, yes, "serve")():
            _refuse("serve cancelled; nothing was started")
    except DeployError as error:
        _refuse(error)
    command = serve_command(prepared)
    click.echo("+ " + " ".join(command), err=True)
    sys.exit(subprocess.call(command))


# --- modalc init -------------------------------------------------------------------------------------------

# The starters' names, kept here so that `modalc --help` imports nothing; tests check them against modalc.init.
STARTER_NAMES = ("hello", "api", "batch", "whisper")


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--example",
    "starter",
    type=click.Choice(STARTER_NAMES),
    default=None,
    help="The starter project: hello (default: one function), api (FastAPI endpoints), batch (a function "
    "mapped over a JSONL file), whisper (a GPU class with a volume).",
)
@click.option(
    "--format",
    "manifest_format",
    type=click.Choice(["toml", "yaml"]),
    default=None,
    help="The manifest's format (default: toml).",
)
@click.option("--name", "app_name", metavar="NAME", help="The Modal app name (default: the directory's name).")
@click.option("--package", metavar="NAME", help="The handler package's name (default: from the app name).")
@click.option("--interactive", is_flag=True, help="Ask for each choice (the options give the default answers).")
def init(
    directory: Path | None,
    starter: str | None,
    manifest_format: str | None,
    app_name: str | None,
    package: str | None,
    interactive: bool,
) -> None:
    """Create a project in DIRECTORY (default: here) and build it once.

    It writes a manifest with a dev and a prod environment, a handler package with tests that call it with
    .local(), .gitignore lines, a pre-commit config and requirements-dev.txt, then runs `modalc build`. It never
    overwrites a file: if one exists, nothing is written.
    """
    from . import init as starters

    if interactive:
        directory, starter, manifest_format, app_name, package = _ask_init(
            directory, starter, manifest_format, app_name, package
        )
    target = directory or Path(".")
    if target.exists() and not target.is_dir():
        raise click.UsageError(f"{target} is not a directory")
    app_name = app_name or starters.default_app_name(target)
    try:
        project = starters.render(
            starter or starters.DEFAULT_STARTER,
            manifest_format or "toml",
            app_name,
            package or starters.default_package(app_name),
        )
    except starters.InitError as error:
        raise click.UsageError(str(error)) from None
    where = _display(target) + "/" if _display(target) != "." else "this directory"
    if target.is_dir() and (taken := starters.conflicts(target, project)):
        click.echo(f"modalc: {where} already has {', '.join(taken)}; nothing written (init never overwrites)", err=True)
        sys.exit(EXIT_INVALID)
    kept = starters.kept(target) if target.is_dir() else []
    gitignore = starters.missing_gitignore_lines(target, project)
    had_gitignore = (target / ".gitignore").exists()
    target.mkdir(parents=True, exist_ok=True)
    for relative, text in project.files.items():
        if relative in kept:
            continue
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="\n") as handle:  # "x": never replace a file
            handle.write(text)
        click.echo(f"{_display(path)}: created", err=True)
    if gitignore:
        with (target / ".gitignore").open("a", encoding="utf-8", newline="\n") as handle:
            existing = (target / ".gitignore").read_text(encoding="utf-8") if had_gitignore else ""
            handle.write(("\n" if existing and not existing.endswith("\n") else "") + "\n".join(gitignore) + "\n")
        state = f"{len(gitignore)} line(s) added" if had_gitignore else "created"
        click.echo(f"{_display(target / '.gitignore')}: {state}", err=True)
    for name in kept:
        click.echo(
            f"{_display(target / name)}: kept as it is; add these lines to its `repos:`\n"
            + "".join(f"  {line}\n" for line in starters.pre_commit_config().splitlines() if line.startswith("  ")),
            nl=False,
            err=True,
        )
    _first_build(target / project.manifest)
    steps = [f"cd {_display(target)}"] if _display(target) != "." else []
    steps += [
        "python -m pip install -r requirements-dev.txt",
        "python -m pytest tests              # the handlers, through .local()",
        "pre-commit install                  # modalc validate and build --check on every commit",
        "modalc plan --env dev               # what a deploy would send",
        "modalc deploy --env dev",
    ]
    click.echo(
        f"modalc: created {project.app_name} ({starter or starters.DEFAULT_STARTER} starter, {project.manifest}); "
        "next:\n" + "".join(f"  {step}\n" for step in steps),
        nl=False,
        err=True,
    )


def _ask_init(
    directory: Path | None, starter: str | None, manifest_format: str | None, app_name: str | None, package: str | None
) -> tuple[Path, str, str, str, str]:
    """`init --interactive`: each choice, asked on stderr, with the options' values as the defaults."""
    from . import init as starters

    target = Path(click.prompt("Directory", default=str(directory or "."), err=True))
    click.echo("Starters:\n" + "".join(f"  {n:8} {d}\n" for n, d in starters.STARTERS.items()), nl=False, err=True)
    starter = click.prompt(
        "Starter", type=click.Choice(list(starters.STARTERS)), default=starter or starters.DEFAULT_STARTER, err=True
    )
    manifest_format = click.prompt(
        "Manifest format", type=click.Choice(starters.FORMATS), default=manifest_format or "toml", err=True
    )

    def checked(problem: Any) -> Any:
        def convert(value: str) -> str:
            if (reason := problem(value)) is not None:
                raise click.BadParameter(reason)
            return value

        return convert

    app_name = click.prompt(
        "Modal app name",
        default=app_name or starters.default_app_name(target),
        value_proc=checked(lambda v: None if starters.APP_NAME.match(v) else "letters, digits, '_', '-' and '.'"),
        err=True,
    )
    package = click.prompt(
        "Handler package",
        default=package or starters.default_package(app_name),
        value_proc=checked(starters.package_problem),
        err=True,
    )
    return target, starter, manifest_format, app_name, package


def _first_build(manifest: Path) -> None:
    """`modalc build` of the new project: its modules are written and reported as build reports them."""
    from .pipeline import compile_manifest
    from .write import apply_changes, plan_changes

    result = compile_manifest(manifest, display_name=_display(manifest))
    _report(result.diagnostics)
    if not result.ok or result.out_dir is None:
        click.echo(f"modalc: the first build failed; fix the manifest, then run `modalc build {manifest}`", err=True)
        sys.exit(EXIT_INVALID)
    changes = plan_changes(result.outputs, result.out_dir, manifest.name)
    apply_changes(changes)
    for change in changes:
        click.echo(f"{_display(change.path)}: created", err=True)


# --- modalc import -----------------------------------------------------------------------------------------


@cli.command("import")
@click.argument("app_file", metavar="APP.py", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="The new project."
)
@click.option(
    "--format",
    "manifest_format",
    type=click.Choice(["toml", "yaml"]),
    default=None,
    help="The manifest's format (default: toml; for a module modalc generated, its manifest's).",
)
@click.option("--copy-files", is_flag=True, help="Copy local files the images use into DIR (else they must be in it).")
@click.option("--partial", is_flag=True, help="Write what could be imported, even if something could not (exit 0).")
def import_command(app_file: Path, out_dir: Path, manifest_format: str | None, copy_files: bool, partial: bool) -> None:
    """Import the Modal app APP.py into a modalc project in DIR: a manifest and your code as handler modules.

    The app is imported as `modal deploy` imports it, offline, with the real SDK. Whatever a manifest cannot say
    is reported at its source line, and then nothing is written (exit 1) unless --partial.
    """
    from .importer import ImportOptions, import_app

    if app_file.suffix != ".py" or "." in app_file.name.removesuffix(".py"):
        raise click.UsageError(f"{app_file.name}: modalc import takes a Python file, named like a module (app.py)")
    options = ImportOptions(manifest_format=manifest_format, copy_files=copy_files, partial=partial)
    outcome = import_app(app_file, out_dir, options)
    click.echo(outcome.report(), nl=False, err=True)
    errors = len(outcome.errors)
    if not outcome.written:
        click.echo(f"modalc: {errors} thing(s) not imported; nothing written", err=True)
        sys.exit(EXIT_INVALID)
    manifest = outcome.manifest_path.name if outcome.manifest_path else "app.toml"
    left_out = f", {errors} thing(s) left out" if errors else ""
    click.echo(
        f"modalc: imported {_display(app_file)} into {_display(out_dir)}/ ({len(outcome.files)} files{left_out}); "
        f"next: cd {_display(out_dir)} && modalc build {manifest}",
        err=True,
    )


# --- shell completion --------------------------------------------------------------------------------------


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Add `eval "$(modalc completion bash)"` to ~/.bashrc (zsh alike, in ~/.zshrc); for fish, write it to
    ~/.config/fish/completions/modalc.fish. The same as click's `_MODALC_COMPLETE=bash_source modalc`.
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every choice is one of click's shells
    click.echo(completer(cli, {}, "modalc", "_MODALC_COMPLETE").source())


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as SIGINT is: every cleanup runs (writes wait for their replacements, see write.py)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: every failure that is not the user's becomes exit 123 with a short report."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def console_main() -> None:
    """The `modalc` command: `main`, then leave without tearing the interpreter down.

    Once the output is flushed nothing is left to do, and freeing everything modal imported costs a fifth of a
    second on every command (issue 15); files are written and closed before `main` returns.
    """
    code: object = EXIT_OK
    try:
        main()
    except SystemExit as exit_:
        code = EXIT_OK if exit_.code is None else exit_.code
    if not isinstance(code, int):  # as the interpreter treats `sys.exit("message")`
        print(code, file=sys.stderr)
        code = EXIT_INVALID
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)


def _main(argv: Sequence[str] | None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="modalc", standalone_mode=False)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_USAGE if isinstance(error, click.UsageError) else EXIT_INVALID)
    except click.exceptions.Abort as abort:
        # click turns an interrupt into Abort; the exit code still says which signal it was (128 + number).
        click.echo("Aborted.", err=True)
        cause = abort.__cause__
        sys.exit(
            143 if isinstance(cause, Terminated) else 130 if isinstance(cause, KeyboardInterrupt) else EXIT_INVALID
        )
    except Terminated:
        sys.exit(143)  # 128 + SIGTERM, as a shell reports a process SIGTERM ended
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except SystemExit:
        raise
    except OSError as error:
        # The file system or the network refused something (a permission, a full disk, a name too long) where no
        # command reports it with more context: the user's condition, not a bug in modalc.
        from .paths import describe_os_error

        click.echo(f"modalc: {describe_os_error(error, Path.cwd())}", err=True)
        sys.exit(EXIT_INVALID)
    except Exception as error:
        report = _save_crash_report()
        click.echo(
            f"modalc: internal error: {type(error).__name__}: {error}\n"
            f"This is a bug in modalc {__version__}, not in your manifest. Please report it at {ISSUES_URL} "
            f"with the manifest and {report}.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


def _save_crash_report() -> str:
    """The traceback, kept beside the build cache (MODALC_CACHE_DIR, else ~/.cache/modalc) under crashes/."""
    from .cache import cache_dir

    try:
        directory = (cache_dir() or Path(tempfile.gettempdir()) / "modalc") / "crashes"
        directory.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="modalc-crash-", suffix=".txt", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"modalc {__version__}, Python {sys.version}\nargv: {sys.argv}\n\n")
            handle.write(traceback.format_exc())
        return f"the traceback saved in {path}"
    except OSError:
        return "the traceback below\n" + traceback.format_exc()
