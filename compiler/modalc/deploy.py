"""Deploy, plan, run and serve: the commands that hand a generated module to the `modal` SDK.

All of them start the same way (`prepare`): compile the manifest in memory for one environment and insist
that the committed module is exactly that output, so what runs is what was reviewed. `modal` is imported
only here, and only by these commands.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from . import compat, ir
from .changes import Baseline, Change, diff_plans, files_change, find_in_history, format_changes, git_show
from .diagnostics import Diagnostic
from .pipeline import compile_manifest, output_path
from .progress import LineProgress
from .shipped import deploy_digest, module_hash, shipped_files

# App tags published with each deployment (Modal tag values are limited to 63 characters). The deploy digest
# covers everything the deploy ships and decides the no-op; the module hash finds the reviewed module in git.
DEPLOY_DIGEST_TAG = "modalc.deploy-sha256"
MODULE_HASH_TAG = "modalc.module-sha256"


class DeployError(Exception):
    """A refusal with the reason and the fix; the CLI prints it and exits 1."""


class EnvironmentRequired(DeployError):
    """The manifest declares environments and none was chosen: a usage error (exit 2)."""


@dataclass(frozen=True)
class Prepared:
    app: ir.App
    module_path: Path
    display_path: str
    source: str
    manifest_display: str
    project_dir: Path

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
) -> tuple[Prepared | None, list[Diagnostic]]:
    """Compile one environment and check the committed module against it."""
    result = compile_manifest(
        manifest, display_name=display_name, environments=[environment] if environment else [], out_dir=out_dir
    )
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
    compiled = result.outputs[path]
    shown = display(path)
    try:
        committed = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        committed = None
    rebuild = (
        f"modalc build {display_name} --env {environment}"
        if app.environment.declared
        else f"modalc build {display_name}"
    )
    if committed is None:
        raise DeployError(f"{shown} does not exist: run `{rebuild}`, review it and commit it")
    if committed != compiled:
        raise DeployError(
            f"{shown} is stale: it is not what {display_name} compiles to now, so it is not what was reviewed. "
            f"Run `{rebuild}`, review the diff and commit it (or see it first with `modalc build {display_name} --diff`)"
        )
    project_dir = manifest.resolve().parent
    return Prepared(app, path, shown, compiled, display_name, project_dir), result.diagnostics


# --- importing the module ---------------------------------------------------------------------------


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
        exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def select_environment(modal_environment: str) -> None:
    """Select the Modal environment for this process, as `modal deploy --env` does."""
    from modal.config import config

    config.override_locally("environment", modal_environment)


# --- what an environment needs ---------------------------------------------------------------------


@dataclass
class Requirement:
    kind: str  # "secret" | "volume"
    name: str
    alias: str
    required_keys: tuple[str, ...] = ()
    create_if_missing: bool = False
    used_by: list[str] = field(default_factory=list)


def requirements(app: ir.App) -> list[Requirement]:
    """Every secret and volume the environment's module looks up by name, with who uses it."""
    secrets = {s.alias: s for s in app.secrets}
    volumes = {v.alias: v for v in app.volumes}
    buckets = {b.alias: b for b in app.cloud_buckets}
    found: dict[tuple[str, str], Requirement] = {}

    def need_secret(alias: str, user: str) -> None:
        secret = secrets[alias]
        entry = found.setdefault(("secret", alias), Requirement("secret", secret.name, alias, secret.required_keys))
        if user not in entry.used_by:
            entry.used_by.append(user)

    def need_mounts(mounts: Iterable[ir.Mount], user: str) -> None:
        for mount in mounts:
            if mount.kind == "bucket":
                if buckets[mount.alias].secret:
                    need_secret(buckets[mount.alias].secret, user)  # type: ignore[arg-type]
                continue
            volume = volumes[mount.alias]
            entry = found.setdefault(
                ("volume", mount.alias),
                Requirement("volume", volume.name, mount.alias, create_if_missing=volume.create_if_missing),
            )
            if user not in entry.used_by:
                entry.used_by.append(user)

    members = [("function", f.name, f.settings) for f in app.functions] + [
        ("class", c.name, c.settings) for c in app.classes
    ]
    for kind, name, settings in members:
        user = f"{kind} {name}"
        for alias in (*app.default_secrets, *settings.secrets):
            need_secret(alias, user)
        need_mounts((*app.default_mounts, *settings.mounts), user)
    for image in app.images:
        user = f"image {image.alias}"
        if image.registry_secret:
            need_secret(image.registry_secret, user)
        for step in image.steps:
            for alias in step.secrets:
                need_secret(alias, user)
    return sorted(found.values(), key=lambda r: (r.kind, r.name))


def preflight(app: ir.App, modal_environment: str) -> list[str]:
    """Check, before anything is created, that every secret and volume exists where the deploy goes."""
    import modal
    from modal.exception import ConflictError, NotFoundError

    where = _environment_phrase(modal_environment)
    problems: list[str] = []
    for requirement in requirements(app):
        if requirement.kind == "volume" and requirement.create_if_missing:
            continue
        users = ", ".join(requirement.used_by)
        try:
            if requirement.kind == "secret":
                modal.Secret.from_name(
                    requirement.name,
                    environment_name=modal_environment or None,
                    required_keys=list(requirement.required_keys),
                ).hydrate()
            else:
                modal.Volume.from_name(requirement.name, environment_name=modal_environment or None).hydrate()
        except NotFoundError as error:
            if str(error).startswith("Environment "):
                return [
                    f"Modal environment {modal_environment!r} does not exist: create it with "
                    f"`modal environment create {modal_environment}`"
                ]
            fix = (
                f"modal secret create --env {modal_environment} {requirement.name} "
                f"{' '.join(k + '=...' for k in requirement.required_keys) or 'KEY=...'}"
                if requirement.kind == "secret"
                else f"modal volume create --env {modal_environment} {requirement.name}"
            )
            if not modal_environment:
                fix = fix.replace(" --env ", "").replace("--env", "")
            problems.append(
                f"{requirement.kind} {requirement.name!r} (used by {users}) does not exist in {where}; "
                f"create it with `{fix}`"
            )
        except ConflictError as error:
            problems.append(
                f"secret {requirement.name!r} (used by {users}) in {where} lacks required keys: "
                f"{_missing_keys(str(error))}"
            )
    return problems


def _missing_keys(message: str) -> str:
    return message.split(":", 1)[1].strip() if ":" in message else message


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _environment_phrase(modal_environment: str) -> str:
    return f"Modal environment {modal_environment!r}" if modal_environment else "the default Modal environment"


def deployed_tags(app_name: str, modal_environment: str) -> dict[str, str] | None:
    """The tags of the deployed app, or None when it is not deployed."""
    import modal
    from modal.exception import NotFoundError

    try:
        deployed = modal.App.lookup(app_name, environment_name=modal_environment or None)
        return dict(deployed.get_tags())
    except NotFoundError:
        return None


def tag_deployment(module: ModuleType, prepared: Prepared) -> None:
    """Add modalc's tags to the app, so they are published with the deployment itself."""
    import modal

    tags = {DEPLOY_DIGEST_TAG: prepared.digest, MODULE_HASH_TAG: prepared.module_hash}
    module.app.include(modal.App(tags=tags), inherit_tags=True)


# --- deploy -----------------------------------------------------------------------------------------


@dataclass
class DeployOutcome:
    changed: bool
    endpoints: list[tuple[str, str]] = field(default_factory=list)


def user_packages(app: ir.App) -> list[str]:
    return sorted({module.split(".")[0] for module, _, _ in app.source.user_modules})


def deploy(
    prepared: Prepared,
    *,
    tag: str = "",
    strategy: str = "rolling",
    force: bool = False,
    confirm: Callable[[], bool] = lambda: True,
    show_progress: bool = True,
    say: Callable[[str], None] = print,
) -> DeployOutcome:
    """Preflight, no-op check, confirmation, then the SDK's own deploy of the committed module."""
    import modal

    app = prepared.app
    select_environment(prepared.modal_environment)
    problems = preflight(app, prepared.modal_environment)
    if problems:
        raise DeployError("preflight failed; nothing was deployed:\n" + "\n".join(f"  - {p}" for p in problems))
    digest = prepared.digest
    deployed = deployed_tags(app.name, prepared.modal_environment) or {}
    if not force and deployed.get(DEPLOY_DIGEST_TAG) == digest:
        say(
            f"{app.name}: no changes in {_environment_phrase(prepared.modal_environment)} "
            f"(module {prepared.display_path} and {_count(len(prepared.shipped_files), 'shipped file')}, "
            f"digest {digest}); nothing deployed (use --force to redeploy)"
        )
        return DeployOutcome(changed=False)
    if not confirm():
        raise DeployError("deploy cancelled; nothing was deployed")
    module = import_module(prepared.module_path, user_packages(app))
    tag_deployment(module, prepared)
    output = modal.enable_output() if show_progress else _nothing()
    with output:
        module.app.deploy(name=app.name, environment_name=prepared.modal_environment, tag=tag, strategy=strategy)
    endpoints = web_endpoints(module, app)
    say(
        f"{app.name}: deployed to {_environment_phrase(prepared.modal_environment)} "
        f"(module {prepared.display_path}, digest {digest})"
    )
    for name, url in endpoints:
        say(f"  {name}: {url}")
    return DeployOutcome(changed=True, endpoints=endpoints)


def web_endpoints(module: ModuleType, app: ir.App) -> list[tuple[str, str]]:
    """(name, URL) of every web endpoint of a deployed module."""
    out = []
    for function in app.functions:
        if function.web is not None:
            out.append((function.name, getattr(module, function.name).get_web_url() or ""))
    for cls in app.classes:
        web_methods = [m for m in cls.methods if m.web is not None]
        if web_methods:
            urls = compat.class_web_urls(getattr(module, cls.name))
            out += [(f"{cls.name}.{m.name}", urls.get(m.name, "")) for m in web_methods]
    return out


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# --- plan -------------------------------------------------------------------------------------------


def offline_deployment(prepared: Prepared, source: str | None = None) -> dict[str, Any]:
    """The record of what the real client sends when it deploys the module (or an earlier `source` of it) into
    a local control plane: functions, classes and images, images named by their manifest alias."""
    from .control_plane import ControlPlaneState, client_for, serve

    app = prepared.app
    state = ControlPlaneState()
    state.permissive = source is not None  # an earlier module may need what this manifest no longer declares
    environment = prepared.modal_environment or state.default_environment
    state.add_environment(environment)
    for requirement in requirements(app):
        if requirement.kind == "secret":
            keys = list(requirement.required_keys)
            if not keys and any(user.startswith("image ") for user in requirement.used_by):
                # The client checks a registry secret's keys before building; assume the generic pair.
                keys = ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]
            state.add_secret(environment, requirement.name, keys)
        elif not requirement.create_if_missing:
            state.add_volume(environment, requirement.name)
    with serve(state) as handle, client_for(handle, environment=environment):
        module = import_module(prepared.module_path, user_packages(app), source)
        if source is None:
            tag_deployment(module, prepared)
        module.app.deploy(name=app.name, environment_name=environment)
        ids = {alias: image.object_id for alias, image in getattr(module, "IMAGES", {}).items()}
    record = dict(state.deployments[-1])
    record.pop("version", None)
    by_key = {state.last_image_keys[i]: alias for alias, i in reversed(ids.items()) if i in state.last_image_keys}
    return _named_images(record, by_key)


def _named_images(record: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """The record with its images keyed by their manifest alias instead of the order they were first used."""
    keys = {key: aliases.get(key, key) for key in record["images"]}
    record["images"] = {keys[key]: image for key, image in record["images"].items()}
    record["functions"] = [{**f, "image": keys.get(f["image"], f["image"])} for f in record["functions"]]
    return record


def find_baseline(prepared: Prepared, base_ref: str | None = None, *, lookup: bool = True) -> Baseline:
    """The module the plan is compared with: at a git ref, or the one deployed (found in git by its hash)."""
    where = _environment_phrase(prepared.modal_environment)
    if base_ref is not None:
        source = git_show(prepared.module_path, base_ref)
        if source is None:
            return Baseline(None, f"{base_ref} (no {prepared.display_path} there: everything is new)")
        return Baseline(source, f"{prepared.display_path} at {base_ref}")
    if not lookup:
        return Baseline(None, "nothing (no baseline asked for)", known=False)
    if not has_credentials():
        return Baseline(None, f"what is deployed in {where}, unknown without Modal credentials", known=False)
    try:
        tags = deployed_tags_within(prepared.app.name, prepared.modal_environment, DEPLOYED_LOOKUP_SECONDS)
    except TimeoutError:
        return Baseline(
            None,
            f"what is deployed in {where}, unknown: Modal did not answer in {DEPLOYED_LOOKUP_SECONDS} s",
            known=False,
        )
    if tags is None:
        return Baseline(None, f"{where}, where {prepared.app.name} is not deployed")
    digest, wanted = tags.get(DEPLOY_DIGEST_TAG), tags.get(MODULE_HASH_TAG)
    if wanted is None:
        return Baseline(None, f"the deployment in {where}, which modalc did not make", known=False)
    if wanted == prepared.module_hash:
        return Baseline(prepared.source, f"the deployment in {where}", digest)
    found = find_in_history(prepared.module_path, wanted)
    if found is None:
        return Baseline(
            None,
            f"the deployment in {where}, whose module (sha256 {wanted}) is not in this repository's history",
            digest,
            known=False,
        )
    commit, source = found
    return Baseline(source, f"the deployment in {where} (module of commit {commit[:12]})", digest)


DEPLOYED_LOOKUP_SECONDS = 20


def has_credentials() -> bool:
    from modal.config import config

    return bool(config.get("token_id") and config.get("token_secret"))


def deployed_tags_within(app_name: str, modal_environment: str, seconds: float) -> dict[str, str] | None:
    """`deployed_tags`, or TimeoutError: an unreachable server makes the client retry for a minute."""
    import threading

    answer: list[Any] = []

    def look() -> None:
        try:
            answer.append(deployed_tags(app_name, modal_environment))
        except BaseException as error:
            answer.append(error)

    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    thread.join(seconds)
    if not answer:
        raise TimeoutError(app_name)
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def plan_changes(prepared: Prepared, record: dict[str, Any], baseline: Baseline) -> list[Change]:
    if baseline.source is not None and baseline.digest == prepared.digest:
        return []
    old = None
    if baseline.source is not None:
        old = record if baseline.source == prepared.source else offline_deployment(prepared, baseline.source)
    return files_change(
        baseline, prepared.digest, diff_plans({"deployment": old} if old else None, {"deployment": record})
    )


def plan(prepared: Prepared, baseline: Baseline | None = None) -> dict[str, Any]:
    """What a deploy would send, computed offline, and what it changes against the baseline."""
    app = prepared.app
    record = offline_deployment(prepared)
    baseline = baseline or Baseline(None, "nothing (no baseline asked for)", known=False)
    changes = plan_changes(prepared, record, baseline)
    needed = requirements(app)
    return {
        "app": app.name,
        "environment": {
            "name": app.environment.name,
            "modal_environment": prepared.modal_environment,
            "protected": app.environment.protected,
        },
        "module": prepared.display_path,
        "module_sha256": prepared.module_hash,
        "deploy_digest": prepared.digest,
        "requires": [
            {
                "kind": r.kind,
                "name": r.name,
                **(
                    {"required_keys": list(r.required_keys)}
                    if r.kind == "secret"
                    else {"create_if_missing": r.create_if_missing}
                ),
                "used_by": r.used_by,
            }
            for r in needed
        ],
        "deployment": record,
        "baseline": {"description": baseline.description, "known": baseline.known},
        "changes": [c.to_json() for c in changes],
        "local_urls": True,  # web URLs are the local control plane's placeholders; Modal assigns the real ones
    }


# --- run and serve ---------------------------------------------------------------------------------


def run_entrypoint(
    prepared: Prepared,
    name: str,
    *,
    inputs: str | None,
    items: str,
    output: str | None,
    progress: Callable[[int], LineProgress],
    confirm: Callable[[], bool] = lambda: True,
) -> None:
    """An ephemeral `app.run()` of a declared entrypoint, with progress over the mapped inputs.

    Results go to stdout as JSON lines; Modal's own output and the bar go to stderr, the bar cleared before
    each line so the two never share one.
    """
    import modal

    app = prepared.app
    entrypoints = {e.name: e for e in app.entrypoints}
    if name not in entrypoints:
        declared = ", ".join(entrypoints) or "none"
        raise DeployError(f"no entrypoint named {name!r} (declared: {declared})")
    entrypoint = entrypoints[name]
    select_environment(prepared.modal_environment)
    module = import_module(prepared.module_path, user_packages(app))
    default_inputs = str(module.MANIFEST_DIR / entrypoint.inputs) if entrypoint.inputs else ""
    try:
        arguments = module._load_inputs(
            inputs if inputs is not None else default_inputs, items, entrypoint.mode, entrypoint.function_parameters
        )
    except SystemExit as refusal:
        raise DeployError(str(refusal.code)) from None
    if not confirm():
        raise DeployError("run cancelled; nothing was started")
    function = getattr(module, entrypoint.function)
    stdout, stderr = sys.stdout, sys.stderr
    with (
        progress(len(arguments)) as bar,
        contextlib.redirect_stdout(bar.above(stderr)),
        contextlib.redirect_stderr(bar.above(stderr)),
    ):
        with modal.enable_output(), module.app.run(environment_name=prepared.modal_environment or None):
            results = getattr(function, entrypoint.mode)(arguments, return_exceptions=True)
            try:
                module._write_results(
                    name, arguments, _ticking(results, bar), output or entrypoint.output, bar.above(stdout)
                )
            except SystemExit as finished:
                if not isinstance(finished.code, int):
                    raise DeployError(str(finished.code)) from None
                raise


def _ticking(results: Iterable[Any], bar: Any) -> Iterator[Any]:
    for result in results:
        bar.update(1)
        yield result


def serve_command(prepared: Prepared) -> list[str]:
    """The `modal serve` command line for the environment's module (hot-reloads as the module changes)."""
    command = [sys.executable, "-m", "modal", "serve"]
    if prepared.modal_environment:
        command += ["--env", prepared.modal_environment]
    return command + [str(prepared.module_path)]


# --- plan, for people -------------------------------------------------------------------------------


def format_plan(plan_data: dict[str, Any]) -> str:
    """The plan as a short report: one block per function and class, then images and requirements."""
    environment = plan_data["environment"]
    where = _environment_phrase(environment["modal_environment"])
    protected = ", protected" if environment["protected"] else ""
    lines = [
        f"Plan: deploy {plan_data['app']} to {where} (environment {environment['name']}{protected})",
        f"Module: {plan_data['module']} (sha256 {plan_data['module_sha256']})",
    ]
    record = plan_data["deployment"]
    for function in record["functions"]:
        lines += ["", *_format_member(function)]
    for key, image in record.get("images", {}).items():
        layers = image.get("layers", [])[1:]
        lines += ["", f"image {key}: {image.get('base_image') or 'custom'} + {len(layers)} layer(s)"]
        for number, layer in enumerate(layers, 1):
            commands = [c for c in layer.get("dockerfile_commands", []) if not c.startswith("FROM ")]
            lines.append(f"  {number}. " + ("; ".join(commands) or "(context files)"))
    if plan_data["requires"]:
        lines += ["", f"Requires in {where}:"]
        for requirement in plan_data["requires"]:
            if requirement["kind"] == "secret":
                keys = ", ".join(requirement["required_keys"])
                detail = f" (keys: {keys})" if keys else ""
            else:
                detail = " (created if missing)" if requirement["create_if_missing"] else " (must exist)"
            lines.append(
                f"  {requirement['kind']} {requirement['name']}{detail}; used by {', '.join(requirement['used_by'])}"
            )
    text = "\n".join(lines) + "\n"
    return text + "\n" + format_changes(plan_data["changes"], plan_data["baseline"]["description"])


def _format_member(member: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str]] = []
    gpus = [f"{g['type']}" + (f":{g['count']}" if g.get("count", 1) != 1 else "") for g in member.get("gpus") or []]
    if gpus:
        rows.append(("gpu", " then ".join(gpus)))
    resources = [
        f"cpu {member['cpu']}" if member.get("cpu") is not None else "",
        f"memory {member['memory_mb']} MiB" if member.get("memory_mb") is not None else "",
        f"disk {member['ephemeral_disk_mb']} MiB" if member.get("ephemeral_disk_mb") else "",
    ]
    if any(resources):
        rows.append(("resources", ", ".join(r for r in resources if r)))
    rows.append(("timeout", f"{member.get('timeout_secs')}s"))
    scaling = member.get("autoscaling") or {}
    scale = [
        f"{k.replace('_containers', '')} {v}" for k, v in scaling.items() if k.endswith("containers") and v is not None
    ]
    if scaling.get("scaledown_window") is not None:
        scale.append(f"scaledown {scaling['scaledown_window']}s")
    if scale:
        rows.append(("autoscaling", ", ".join(scale)))
    if member.get("concurrency"):
        concurrency = member["concurrency"]
        target = f" (target {concurrency['target_inputs']})" if concurrency.get("target_inputs") else ""
        rows.append(("concurrency", f"{concurrency['max_inputs']} inputs per container{target}"))
    if member.get("batching"):
        rows.append(("batching", f"up to {member['batching']['max_size']} inputs, {member['batching']['wait_ms']} ms"))
    if member.get("retries"):
        rows.append(("retries", str(member["retries"].get("retries"))))
    if member.get("schedule"):
        schedule = member["schedule"]
        rows.append(
            (
                "schedule",
                f"cron {schedule['cron']} ({schedule.get('timezone') or 'UTC'})"
                if "cron" in schedule
                else "every " + ", ".join(f"{v} {k}" for k, v in schedule.get("period", {}).items()),
            )
        )
    webhook = member.get("webhook")
    if webhook:
        method = f" {webhook['method']}" if webhook.get("method") else ""
        url = f" {webhook['url']} (local placeholder)" if webhook.get("url") else ""
        rows.append(("web", f"{webhook['type']}{method}{url}"))
    for method in (member.get("class") or {}).get("methods", []):
        hook = method.get("webhook")
        url = f" {hook['url']}, local placeholder" if hook and hook.get("url") else ""
        rows.append(("method", method["name"] + (f" ({hook['type']}{url})" if hook else "")))
    secrets = [s.get("name") or "env(" + ", ".join(s.get("inline_keys", [])) + ")" for s in member.get("secrets", [])]
    if secrets:
        rows.append(("secrets", ", ".join(secrets)))
    for volume in member.get("volumes", []):
        access = " (read-only)" if volume.get("read_only") else ""
        rows.append(("volume", f"{volume['mount_path']} <- {volume['name']}{access}"))
    for bucket in member.get("cloud_bucket_mounts", []):
        access = " (read-only)" if bucket.get("read_only") else ""
        rows.append(("bucket", f"{bucket['mount_path']} <- {bucket['bucket_name']}{access}"))
    placement = [
        ", ".join(member.get("regions") or []),
        member.get("cloud") or "",
        "non-preemptible" if member.get("nonpreemptible") else "",
    ]
    if any(placement):
        rows.append(("placement", ", ".join(p for p in placement if p)))
    flags = [
        name
        for key, name in (
            ("memory_snapshot", "memory snapshot"),
            ("single_use_containers", "single use"),
            ("block_network", "no network"),
        )
        if member.get(key)
    ]
    if flags:
        rows.append(("options", ", ".join(flags)))
    if member.get("image"):
        rows.append(("image", member["image"]))
    header = f"{member.get('kind', 'function')} {member['name']}"
    return [header] + [f"  {label:<12}{value}" for label, value in rows]
