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


manifest_argument = click.argument("manifest", required=False, metavar="[MANIFEST]")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="modalc")
def cli() -> None:
    """Compile declarative TOML/YAML manifests into reviewable, deployable Modal apps.

    MANIFEST defaults to ./app.toml (then ./app.yaml). Exit codes: 0 ok, 1 invalid manifest or stale
    output, 2 usage error, 123 internal error.
    """


@cli.command()
@manifest_argument
@click.option("--env", "environments", multiple=True, metavar="NAME", help="Build only these environments.")
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
@click.option("--no-cache", is_flag=True, help="Compile even if nothing changed since the last build.")
def build(
    manifest: str | None,
    environments: tuple[str, ...],
    out_dir: Path | None,
    check: bool,
    show_diff: bool,
    no_cache: bool,
) -> None:
    """Validate MANIFEST and write one Python module per environment."""
    from .paths import default_out_dir
    from .write import interrupted_write

    path = _manifest_path(manifest)
    unfinished = interrupted_write(out_dir or default_out_dir(path))
    cache, raw = (None, None) if no_cache or unfinished else _open_cache(path, out_dir, environments)
    if cache is not None and (record := cache.lookup()) is not None:
        _replay(record, check)
        return

    from .paths import describe_os_error
    from .pipeline import compile_manifest
    from .write import OutputConflict, apply_changes, finish_interrupted, plan_changes, unified_diff

    result = compile_manifest(
        path, display_name=manifest or path.name, environments=environments, out_dir=out_dir, raw=raw
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
        _remember(cache, result)
        click.echo(f"modalc: {len(changes)} generated file(s) up to date", err=True)
        return
    if show_diff:
        if not stale:
            _remember(cache, result)
        sys.exit(EXIT_INVALID if stale else EXIT_OK)
    try:
        apply_changes(changes)
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        click.echo(
            f"modalc: cannot write{where}: {error.strerror or error}; the previous output is unchanged", err=True
        )
        sys.exit(EXIT_INVALID)
    _remember(cache, result)
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
    from .cache import BuildCache
    from .load import MAX_MANIFEST_BYTES
    from .paths import default_out_dir

    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return None, None  # the compiler reports it without reading the file
        raw = path.read_bytes()
    except OSError:
        return None, None
    return BuildCache.open(path, raw, out_dir or default_out_dir(path), environments), raw


def _replay(record: dict[str, Any], check: bool) -> None:
    """Report a cached build exactly as the build itself would (its warnings, then its files)."""
    for warning in record["warnings"]:
        click.echo(warning, err=True)
    if check:
        click.echo(f"modalc: {len(record['outputs'])} generated file(s) up to date", err=True)
        return
    for output in sorted(record["outputs"]):
        click.echo(f"{_display(Path(output))}: unchanged", err=True)


def _remember(cache: BuildCache | None, result: CompileResult) -> None:
    # The manifest is in the record's key (the hash of the bytes this build compiled); every other input is an
    # observation the compiler made before reading or checking it.
    if cache is not None and result.manifest is not None:
        cache.store(result.observations, result.outputs, [d.render() for d in result.diagnostics])


@cli.command()
@manifest_argument
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: a machine-readable report on stdout.",
)
@click.option("--env", "environments", multiple=True, metavar="NAME", help="Check only these environments.")
def validate(manifest: str | None, output_format: str, environments: tuple[str, ...]) -> None:
    """Check MANIFEST (schema, references, handlers) without writing anything."""
    from .diagnostics import render_json
    from .pipeline import check_manifest

    path = _manifest_path(manifest)
    result = check_manifest(path, display_name=manifest or path.name, environments=environments)
    errors = sum(1 for d in result.diagnostics if d.is_error)
    if output_format == "json":
        click.echo(render_json(result.diagnostics), nl=False)
    else:
        _report(result.diagnostics)
        if errors:
            click.echo(f"modalc: {_summary(errors, len(result.diagnostics) - errors)}{_staged(result)}", err=True)
        else:
            names = ", ".join(result.environments)
            click.echo(f"{manifest or path.name}: valid ({names})", err=True)
    sys.exit(EXIT_INVALID if errors else EXIT_OK)


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


def _prepare(manifest: str | None, environment: str | None, out_dir: Path | None = None) -> Prepared:
    """Compile one environment and insist the committed module is its output; exit 1 otherwise."""
    from .prepare import DeployError, EnvironmentRequired, prepare

    path = _manifest_path(manifest)
    try:
        prepared, diagnostics = prepare(
            path, environment, display_name=manifest or path.name, out_dir=out_dir, display=_display
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


env_option = click.option("--env", "environment", metavar="NAME", help="The manifest environment (e.g. dev, prod).")
out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the generated modules are (default: generated/ beside the manifest).",
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask before acting on a protected environment.")


@cli.command()
@manifest_argument
@env_option
@out_option
@yes_option
@click.option("--tag", default="", help="A deployment tag of your own (Modal shows it in the app's history).")
@click.option("--strategy", type=click.Choice(["rolling", "recreate"]), default="rolling", show_default=True)
@click.option("--force", is_flag=True, help="Deploy even when the deployed module is the same.")
def deploy(
    manifest: str | None, environment: str | None, out_dir: Path | None, yes: bool, tag: str, strategy: str, force: bool
) -> None:
    """Deploy the committed module of one environment, after checking it is up to date and its secrets exist."""
    from .deploy import deploy as run_deploy
    from .prepare import DeployError

    prepared = _prepare(manifest, environment, out_dir)
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

    prepared = _prepare(manifest, environment, out_dir)
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


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("arguments", nargs=-1, metavar="[MANIFEST] ENTRYPOINT")
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
    """Run a declared entrypoint once (an ephemeral app), with progress over the mapped inputs."""
    from .prepare import DeployError
    from .progress import LineProgress
    from .run import run_entrypoint

    if len(arguments) not in (1, 2):
        raise click.UsageError("give the entrypoint to run, optionally after the manifest: [MANIFEST] ENTRYPOINT")
    manifest, entrypoint = (None, arguments[0]) if len(arguments) == 1 else arguments
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
        )
    except DeployError as error:
        _refuse(error)
    except _modal_errors() as error:
        _refuse(_modal_failure(error, "the run failed", "nothing was started"))


@cli.command()
@manifest_argument
@env_option
@out_option
@yes_option
def serve(manifest: str | None, environment: str | None, out_dir: Path | None, yes: bool) -> None:
    """Serve an environment's module with `modal serve` (hot reload); rebuild to pick up manifest changes."""
    import subprocess

    from .prepare import DeployError
    from .run import serve_command

    prepared = _prepare(manifest, environment, out_dir)
    try:
        if not _protected_confirmation(prepared, yes, "serve")():
            _refuse("serve cancelled; nothing was started")
    except DeployError as error:
        _refuse(error)
    command = serve_command(prepared)
    click.echo("+ " + " ".join(command), err=True)
    sys.exit(subprocess.call(command))


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
