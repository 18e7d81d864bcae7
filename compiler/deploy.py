"""Deploy, plan, run and serve: the commands that hand a generated module to the `modal` SDK.

All of them start the same way (`prepare`): compile the manifest in memory for one environment and insist
that the committed module is exactly that output, so what runs is what was reviewed. `modal` is imported
only here, and only by these commands.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from . import ir
from .diagnostics import Diagnostic
from .pipeline import compile_manifest, output_path

# App tag that carries the hash of the deployed module (Modal tag values are limited to 63 characters).
MODULE_HASH_TAG = "modalc.module-sha256"
HASH_LENGTH = 16


class DeployError(Exception):
    """A refusal with the reason and the fix; the CLI prints it and exits 1."""


@dataclass(frozen=True)
class Prepared:
    app: ir.App
    module_path: Path
    display_path: str
    source: str
    manifest_display: str

    @property
    def module_hash(self) -> str:
        return module_hash(self.source)

    @property
    def modal_environment(self) -> str:
        return self.app.environment.modal_environment


def module_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:HASH_LENGTH]


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
            raise DeployError(f"{display_name} declares environments ({', '.join(declared)}): choose one with --env")
        environment = next(iter(result.apps))
    app = result.apps[environment]
    path = output_path(result.out_dir, environment)
    compiled = result.outputs[path]
    shown = display(path)
    try:
        committed = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        committed = None
    rebuild = f"modalc build {display_name} --env {environment}" if app.environment.declared else \
        f"modalc build {display_name}"
    if committed is None:
        raise DeployError(f"{shown} does not exist: run `{rebuild}`, review it and commit it")
    if committed != compiled:
        raise DeployError(
            f"{shown} is stale: it is not what {display_name} compiles to now, so it is not what was reviewed. "
            f"Run `{rebuild}`, review the diff and commit it (or see it first with `modalc build {display_name} --diff`)"
        )
    return Prepared(app, path, shown, compiled, display_name), result.diagnostics


# --- importing the module ---------------------------------------------------------------------------


def import_module(path: Path, user_packages: Iterable[str] = ()) -> ModuleType:
    """Import a generated module afresh (modal skips lookups for objects it has already hydrated)."""
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
    spec.loader.exec_module(module)
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
                    requirement.name, environment_name=modal_environment or None,
                    required_keys=list(requirement.required_keys),
                ).hydrate()
            else:
                modal.Volume.from_name(requirement.name, environment_name=modal_environment or None).hydrate()
        except NotFoundError as error:
            if str(error).startswith("Environment "):
                return [f"Modal environment {modal_environment!r} does not exist: create it with "
                        f"`modal environment create {modal_environment}`"]
            fix = (f"modal secret create --env {modal_environment} {requirement.name} "
                   f"{' '.join(k + '=...' for k in requirement.required_keys) or 'KEY=...'}"
                   if requirement.kind == "secret" else
                   f"modal volume create --env {modal_environment} {requirement.name}")
            if not modal_environment:
                fix = fix.replace(" --env ", "").replace("--env", "")
            problems.append(f"{requirement.kind} {requirement.name!r} (used by {users}) does not exist in {where}; "
                            f"create it with `{fix}`")
        except ConflictError as error:
            problems.append(f"secret {requirement.name!r} (used by {users}) in {where} lacks required keys: "
                            f"{_missing_keys(str(error))}")
    return problems


def _missing_keys(message: str) -> str:
    return message.split(":", 1)[1].strip() if ":" in message else message


def _environment_phrase(modal_environment: str) -> str:
    return f"Modal environment {modal_environment!r}" if modal_environment else "the default Modal environment"


def deployed_module_hash(app_name: str, modal_environment: str) -> str | None:
    """The module hash tag of the deployed app, or None when it is not deployed (or was not by modalc)."""
    import modal
    from modal.exception import NotFoundError

    try:
        deployed = modal.App.lookup(app_name, environment_name=modal_environment or None)
        return deployed.get_tags().get(MODULE_HASH_TAG)
    except NotFoundError:
        return None


def tag_with_hash(module: ModuleType, digest: str) -> None:
    """Add the module hash to the app's tags, so it is published with the deployment itself."""
    import modal

    module.app.include(modal.App(tags={MODULE_HASH_TAG: digest}), inherit_tags=True)


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
    digest = prepared.module_hash
    if not force and deployed_module_hash(app.name, prepared.modal_environment) == digest:
        say(f"{app.name}: no changes in {_environment_phrase(prepared.modal_environment)} "
            f"(module {prepared.display_path}, sha256 {digest}); nothing deployed (use --force to redeploy)")
        return DeployOutcome(changed=False)
    if not confirm():
        raise DeployError("deploy cancelled; nothing was deployed")
    module = import_module(prepared.module_path, user_packages(app))
    tag_with_hash(module, digest)
    output = modal.enable_output() if show_progress else _nothing()
    with output:
        module.app.deploy(name=app.name, environment_name=prepared.modal_environment, tag=tag, strategy=strategy)
    endpoints = web_endpoints(module, app)
    say(f"{app.name}: deployed to {_environment_phrase(prepared.modal_environment)} "
        f"(module {prepared.display_path}, sha256 {digest})")
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
            urls = _class_web_urls(getattr(module, cls.name))
            out += [(f"{cls.name}.{m.name}", urls.get(m.name, "")) for m in web_methods]
    return out


def _class_web_urls(cls: Any) -> dict[str, str]:
    """Method -> URL of a deployed class. Modal 1.6 keeps them in the class service function's metadata (what
    `modal deploy` prints); the public way, `Cls().method.get_web_url()`, would bind parameter values first."""
    from modal._utils.async_utils import synchronizer

    service = synchronizer._translate_in(cls)._get_class_service_function()
    metadata = service._method_handle_metadata or {}
    return {name: data.web_url for name, data in metadata.items() if data.web_url}


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# --- plan -------------------------------------------------------------------------------------------


def plan(prepared: Prepared) -> dict[str, Any]:
    """What a deploy would send, computed offline: the real client deploys into a local control plane."""
    from .control_plane import ControlPlaneState, client_for, serve

    app = prepared.app
    state = ControlPlaneState()
    environment = prepared.modal_environment or state.default_environment
    state.add_environment(environment)
    needed = requirements(app)
    for requirement in needed:
        if requirement.kind == "secret":
            keys = list(requirement.required_keys)
            if not keys and any(user.startswith("image ") for user in requirement.used_by):
                # The client checks a registry secret's keys before building; assume the generic pair.
                keys = ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]
            state.add_secret(environment, requirement.name, keys)
        elif not requirement.create_if_missing:
            state.add_volume(environment, requirement.name)
    with serve(state) as handle, client_for(handle, environment=environment):
        module = import_module(prepared.module_path, user_packages(app))
        tag_with_hash(module, prepared.module_hash)
        module.app.deploy(name=app.name, environment_name=environment)
    record = dict(state.deployments[-1])
    record.pop("version", None)
    return {
        "app": app.name,
        "environment": {
            "name": app.environment.name,
            "modal_environment": prepared.modal_environment,
            "protected": app.environment.protected,
        },
        "module": prepared.display_path,
        "module_sha256": prepared.module_hash,
        "requires": [
            {
                "kind": r.kind,
                "name": r.name,
                **({"required_keys": list(r.required_keys)} if r.kind == "secret" else
                   {"create_if_missing": r.create_if_missing}),
                "used_by": r.used_by,
            }
            for r in needed
        ],
        "deployment": record,
    }


# --- run and serve ---------------------------------------------------------------------------------


def run_entrypoint(
    prepared: Prepared,
    name: str,
    *,
    inputs: str | None,
    items: str,
    output: str | None,
    progress: Callable[[int], Any],
) -> None:
    """An ephemeral `app.run()` of a declared entrypoint, with progress over the mapped inputs."""
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
    arguments = module._load_inputs(inputs if inputs is not None else default_inputs, items, entrypoint.mode,
                                    entrypoint.function_parameters)
    function = getattr(module, entrypoint.function)
    with modal.enable_output(), module.app.run(environment_name=prepared.modal_environment or None):
        results = getattr(function, entrypoint.mode)(arguments, return_exceptions=True)
        with progress(len(arguments)) as bar:
            module._write_results(name, arguments, _ticking(results, bar), output or entrypoint.output)


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
            lines.append(f"  {requirement['kind']} {requirement['name']}{detail}; used by "
                         f"{', '.join(requirement['used_by'])}")
    return "\n".join(lines) + "\n"


def _format_member(member: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str]] = []
    gpus = [f"{g['type']}" + (f":{g['count']}" if g.get("count", 1) != 1 else "") for g in member.get("gpus") or []]
    if gpus:
        rows.append(("gpu", " then ".join(gpus)))
    resources = [f"cpu {member['cpu']}" if member.get("cpu") is not None else "",
                 f"memory {member['memory_mb']} MiB" if member.get("memory_mb") is not None else "",
                 f"disk {member['ephemeral_disk_mb']} MiB" if member.get("ephemeral_disk_mb") else ""]
    if any(resources):
        rows.append(("resources", ", ".join(r for r in resources if r)))
    rows.append(("timeout", f"{member.get('timeout_secs')}s"))
    scaling = member.get("autoscaling") or {}
    scale = [f"{k.replace('_containers', '')} {v}" for k, v in scaling.items() if k.endswith("containers") and v is not None]
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
        rows.append(("schedule", f"cron {schedule['cron']} ({schedule.get('timezone') or 'UTC'})" if "cron" in schedule
                     else "every " + ", ".join(f"{v} {k}" for k, v in schedule.get("period", {}).items())))
    webhook = member.get("webhook")
    if webhook:
        method = f" {webhook['method']}" if webhook.get("method") else ""
        rows.append(("web", f"{webhook['type']}{method} {webhook.get('url') or ''}".rstrip()))
    for method in (member.get("class") or {}).get("methods", []):
        hook = method.get("webhook")
        rows.append(("method", method["name"] + (f" ({hook['type']} {hook.get('url') or ''})".rstrip() if hook else "")))
    secrets = [s.get("name") or "env(" + ", ".join(s.get("inline_keys", [])) + ")" for s in member.get("secrets", [])]
    if secrets:
        rows.append(("secrets", ", ".join(secrets)))
    for volume in member.get("volumes", []):
        access = " (read-only)" if volume.get("read_only") else ""
        rows.append(("volume", f"{volume['mount_path']} <- {volume['name']}{access}"))
    for bucket in member.get("cloud_bucket_mounts", []):
        access = " (read-only)" if bucket.get("read_only") else ""
        rows.append(("bucket", f"{bucket['mount_path']} <- {bucket['bucket_name']}{access}"))
    placement = [", ".join(member.get("regions") or []), member.get("cloud") or "",
                 "non-preemptible" if member.get("nonpreemptible") else ""]
    if any(placement):
        rows.append(("placement", ", ".join(p for p in placement if p)))
    flags = [name for key, name in (("memory_snapshot", "memory snapshot"), ("single_use_containers", "single use"),
                                    ("block_network", "no network")) if member.get(key)]
    if flags:
        rows.append(("options", ", ".join(flags)))
    if member.get("image"):
        rows.append(("image", member["image"]))
    header = f"{member.get('kind', 'function')} {member['name']}"
    return [header] + [f"  {label:<12}{value}" for label, value in rows]
