"""`modalc plan`: what a deploy would send, computed offline by the real client, and what it would change."""

from __future__ import annotations

from typing import Any

from . import compat, deploy
from .changes import Baseline, Change, diff_plans, files_change, find_in_history, format_changes, git_show
from .cost_text import plan_member_row, plan_total_lines
from .cron import describe_cron
from .deploy import (
    DEPLOY_DIGEST_TAG,
    MODULE_HASH_TAG,
    NoAnswer,
    deployed_tags_within,
    has_credentials,
    tag_deployment,
)
from .prepare import Prepared, environment_phrase, import_module, user_packages
from .requirements import requirements


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
        where = requirement.where(environment)
        if requirement.kind == "secret":
            keys = list(requirement.required_keys)
            if not keys and any(user.startswith("image ") for user in requirement.used_by):
                # The client checks a registry secret's keys before building; assume the generic pair.
                keys = ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]
            state.add_secret(where, requirement.name, keys)
        elif requirement.kind == "volume" and not requirement.create_if_missing:
            state.add_volume(where, requirement.name)
        elif not requirement.create_if_missing:
            state.add_store(where, f"{requirement.kind}s", requirement.name)
    with serve(state) as handle, client_for(handle, environment=environment):
        module = import_module(prepared.module_path, user_packages(app), source)
        if source is None:
            tag_deployment(module, prepared)
        prepared.modal_app(module).deploy(name=app.name, environment_name=environment)
        # Only the images the deployed app uses were built (another app of the module may use the others).
        ids = {alias: compat.object_id(image) for alias, image in getattr(module, "IMAGES", {}).items()}
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
    where = environment_phrase(prepared.modal_environment)
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
        tags = deployed_tags_within(prepared.app.name, prepared.modal_environment, deploy.ANSWER_SECONDS)
    except NoAnswer as error:
        # A plan against a baseline it could not read would show everything as new: say so and stop.
        raise NoAnswer(
            f"{error}, so the plan cannot say what the deploy changes in {where}; "
            "plan with --offline (nothing is compared) or --base GIT_REF (compared with that commit's module)"
        ) from None
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
                **({"environment": r.environment} if r.environment is not None else {}),
            }
            for r in needed
        ],
        "deployment": record,
        "baseline": {"description": baseline.description, "known": baseline.known},
        "changes": [c.to_json() for c in changes],
        **plan_cost(prepared, baseline),
        "local_urls": True,  # web URLs are the local control plane's placeholders; Modal assigns the real ones
    }


def format_plan(plan_data: dict[str, Any]) -> str:
    """The plan as a short report: one block per function and class, then images and requirements."""
    environment = plan_data["environment"]
    where = environment_phrase(environment["modal_environment"])
    protected = ", protected" if environment["protected"] else ""
    lines = [
        f"Plan: deploy {plan_data['app']} to {where} (environment {environment['name']}{protected})",
        f"Module: {plan_data['module']} (sha256 {plan_data['module_sha256']})",
    ]
    record = plan_data["deployment"]
    costs, cost_changes = _member_costs(plan_data)
    for function in record["functions"]:
        key = (function.get("kind", "function"), function["name"])
        lines += ["", *_format_member(function)]
        if key in costs:
            lines.append(f"  {'cost':<12}{plan_member_row(costs[key], cost_changes.get(key))}")
    for key, image in record.get("images", {}).items():
        layers = image.get("layers", [])[1:]
        lines += ["", f"image {key}: {image.get('base_image') or 'custom'} + {len(layers)} layer(s)"]
        for number, layer in enumerate(layers, 1):
            commands = [c for c in layer.get("dockerfile_commands", []) if not c.startswith("FROM ")]
            empty = "(a build function: run_function)" if layer.get("build_function") else "(context files)"
            mounted = ", ".join(f"{v['mount_path']} <- {v.get('name')}" for v in layer.get("volumes", []))
            notes = [f"volumes {mounted}"] if mounted else []
            notes += ["always rebuilt (force_build)"] if layer.get("force_build") else []
            suffix = f" [{'; '.join(notes)}]" if notes else ""
            lines.append(f"  {number}. " + ("; ".join(commands) or empty) + suffix)
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
    if plan_data.get("cost"):
        lines += ["", *plan_total_lines(plan_data["cost"], plan_data.get("cost_change"))]
    text = "\n".join(lines) + "\n"
    return text + "\n" + format_changes(plan_data["changes"], plan_data["baseline"]["description"])


# --- cost lines (modalc cost) ----------------------------------------------------------------------


def plan_cost(prepared: Prepared, baseline: Baseline) -> dict[str, Any]:
    """The plan's `cost` (as `modalc cost --json` has it) and, when the baseline is known, `cost_change`:
    the baseline module's decorators priced alike, so the difference is the deploy's and not the prices'."""
    from .budget import manifest_prices
    from .cost import PriceError, change_json, compare, environment_json, members_of_module, price_app, price_members

    app = prepared.app
    prices = manifest_prices(prepared.project_dir / app.source.manifest_name, app.environment)
    cost = price_app(app, prices)
    change = None
    if baseline.known:
        try:
            old = members_of_module(baseline.source) if baseline.source is not None else ()
        except PriceError:
            old = None
        if old is not None:
            before = price_members(old, prices, app=app.name, environment=app.environment.name)
            change = change_json(compare(before, cost, baseline.description))
    return {"cost": environment_json(cost), "cost_change": change}


def _member_costs(plan_data: dict[str, Any]) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], Any]]:
    cost, change = plan_data.get("cost") or {}, plan_data.get("cost_change") or {}
    return (
        {(m["kind"], m["name"]): m for m in cost.get("functions", [])},
        {(m["kind"], m["name"]): m for m in change.get("functions", [])},
    )


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
        if concurrency.get("max_inputs"):
            target = f" (target {concurrency['target_inputs']})" if concurrency.get("target_inputs") else ""
            rows.append(("concurrency", f"{concurrency['max_inputs']} inputs per container{target}"))
        else:
            rows.append(("concurrency", f"target {concurrency['target_inputs']} inputs per container"))
    if member.get("cluster"):
        cluster = member["cluster"]
        rows.append(("cluster", f"{cluster['size']} containers per call" + (", RDMA" if cluster.get("rdma") else "")))
    if member.get("http_server"):
        server = member["http_server"]
        rows.append(("http server", f"port {server['port']}, proxied from {', '.join(server['proxy_regions'])}"))
    if member.get("batching"):
        rows.append(("batching", f"up to {member['batching']['max_size']} inputs, {member['batching']['wait_ms']} ms"))
    if member.get("retries"):
        rows.append(("retries", str(member["retries"].get("retries"))))
    if member.get("schedule"):
        schedule = member["schedule"]
        rows.append(
            (
                "schedule",
                f"cron {schedule['cron']}: {describe_cron(schedule['cron'])} ({schedule.get('timezone') or 'UTC'})"
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
        f"routed through {member['routing_region']}" if member.get("routing_region") else "",
        "non-preemptible" if member.get("nonpreemptible") else "",
    ]
    if any(placement):
        rows.append(("placement", ", ".join(p for p in placement if p)))
    flags = [
        name
        for key, name in (
            ("memory_snapshot", "memory snapshot"),
            ("gpu_snapshot", "GPU snapshot"),
            ("single_use_containers", "single use"),
            ("block_network", "no network"),
            ("restrict_modal_access", "no Modal access"),
        )
        if member.get(key)
    ]
    flags += [f"{key}={value}" for key, value in (member.get("experimental_options") or {}).items()]
    if flags:
        rows.append(("options", ", ".join(flags)))
    if member.get("image"):
        rows.append(("image", member["image"]))
    header = f"{member.get('kind', 'function')} {member['name']}"
    return [header] + [f"  {label:<12}{value}" for label, value in rows]
