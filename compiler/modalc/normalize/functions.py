"""Functions, and the settings, GPUs, retries, schedules and web endpoints that functions and classes share."""

from __future__ import annotations

import sys
from typing import Any

from .. import catalog, cron, handlers, ir
from ..diagnostics import KeyPath, quote_choices
from ..paths import module_stem
from . import storage
from .session import Session, as_int

WEB_ROLES = {
    "asgi": "an ASGI app factory",
    "wsgi": "a WSGI app factory",
    "web_server": "a web server function",
}


def read_settings(
    s: Session,
    spec: dict[str, Any],
    path: KeyPath,
    default_image: str | None,
    default_mounts: tuple[ir.Mount, ...],
    kind: str,
) -> ir.Settings:
    image = spec.get("image")
    if image is not None:
        s.reference("images", image, (*path, "image"))
    elif default_image is None:
        s.report(
            path,
            f"{kind} has no image: set `image` here or a default `image` under "
            + (f"[apps.{spec['app']}]" if spec.get("app") else "[app]"),
            at_key=True,
            hint="without one Modal builds an image with the deployer's Python",
        )
    gpu = read_gpus(s, spec.get("gpu") or None, (*path, "gpu"))  # false (in an environment) switches it off
    if spec.get("nonpreemptible") and gpu:
        s.report(
            (*path, "nonpreemptible"),
            f"Modal refuses nonpreemptible on a {kind} with a GPU: GPU containers can always be preempted",
            hint="remove nonpreemptible, or the gpu",
        )
    cpu = spec.get("cpu")
    memory = spec.get("memory")
    for key, value in (("cpu", cpu), ("memory", memory)):
        if isinstance(value, list) and value[0] > value[1]:
            s.report((*path, key), f"request {value[0]} is above limit {value[1]}")
    if isinstance(cpu, list):
        cpu = (float(cpu[0]), float(cpu[1]))
    memory = tuple(as_int(memory)) if isinstance(memory, list) else as_int(memory)
    timeout = as_int(spec.get("timeout"))
    startup = as_int(spec.get("startup_timeout"))
    retries = read_retries(s, spec.get("retries"))
    low, high = as_int(spec.get("min_containers")), as_int(spec.get("max_containers"))
    if low is not None and high is not None and low > high:
        s.report((*path, "min_containers"), f"min_containers ({low}) is above max_containers ({high})")
    buffer = as_int(spec.get("buffer_containers"))
    if buffer is not None and high is not None and buffer > high:
        s.report((*path, "buffer_containers"), f"buffer_containers ({buffer}) is above max_containers ({high})")
    options = tuple(spec.get("experimental_options", {}).items())
    concurrency = _concurrency(s, spec, path, options)
    if dict(options).get("enable_gpu_snapshot") is True and not spec.get("memory_snapshot"):
        s.report(
            (*path, "experimental_options", "enable_gpu_snapshot"),
            "enable_gpu_snapshot snapshots the GPU's memory too: it needs memory_snapshot = true",
        )
    cluster = _cluster(s, spec, path, gpu, (low, high, buffer))
    if spec.get("single_use_containers") and concurrency is not None:
        s.report(
            (*path, "single_use_containers"),
            "single_use_containers serves one input per container; it cannot take concurrency",
        )
    mounts = storage.read_mounts(s, spec.get("volumes", {}), (*path, "volumes"))
    storage.check_effective_mounts(s, default_mounts, mounts, path)
    secrets = tuple(s.secret_refs(spec.get("secrets", []), (*path, "secrets")))
    region = spec.get("region")
    if isinstance(region, list):
        region = tuple(region)
    return ir.Settings(
        image=image,
        gpu=gpu,
        cpu=cpu,
        memory=memory,
        ephemeral_disk=as_int(spec.get("ephemeral_disk")),
        timeout=timeout,
        startup_timeout=startup,
        retries=retries,
        min_containers=low,
        max_containers=high,
        buffer_containers=buffer,
        scaledown_window=as_int(spec.get("scaledown_window")),
        region=region,
        cloud=spec.get("cloud"),
        nonpreemptible=spec.get("nonpreemptible"),
        memory_snapshot=spec.get("memory_snapshot"),
        single_use_containers=spec.get("single_use_containers"),
        block_network=spec.get("block_network"),
        restrict_modal_access=spec.get("restrict_modal_access"),
        routing_region=spec.get("routing_region"),
        concurrency=concurrency,
        mounts=mounts,
        secrets=secrets,
        env=tuple(spec.get("env", {}).items()),
        experimental_options=options,
        cluster=cluster,
    )


def _concurrency(
    s: Session, spec: dict[str, Any], path: KeyPath, options: tuple[tuple[str, object], ...]
) -> ir.Concurrency | None:
    if "concurrency" not in spec:
        return None
    c = spec["concurrency"]
    where = (*path, "concurrency")
    most, target = as_int(c.get("max_inputs")), as_int(c.get("target_inputs"))
    # Modal's "Flash" services (http_server classes) scale on a target and refuse a maximum; others need one.
    flash = "http_server" in spec or bool(dict(options).get("flash"))
    if flash and most is not None:
        s.report(
            (*where, "max_inputs"), "an http_server class takes target_inputs only; Modal refuses max_inputs on it"
        )
    elif not flash and most is None:
        s.report(
            where, "target_inputs needs max_inputs (only an http_server class takes target_inputs alone)", at_key=True
        )
    elif most is not None and target is not None and target > most:
        s.report((*where, "target_inputs"), f"target_inputs ({target}) is above max_inputs ({most})")
    return ir.Concurrency(most, target)


def _cluster(
    s: Session, spec: dict[str, Any], path: KeyPath, gpu: tuple[str, ...], scaling: tuple[int | None, ...]
) -> ir.Cluster | None:
    if "clustered" not in spec:
        return None
    where = (*path, "clustered")
    size = as_int(spec["clustered"]["size"])
    for key, value in zip(("min_containers", "max_containers", "buffer_containers"), scaling, strict=True):
        if value is not None and value % size:
            s.report((*path, key), f"{key} ({value}) must be a multiple of the cluster size ({size})")
    if not gpu:
        s.report(where, "a clustered function needs a gpu: Modal clusters GPU hosts", at_key=True)
    if spec.get("web"):
        s.report(where, "a clustered function cannot be a web endpoint", at_key=True)
    if spec.get("batched"):
        s.report(where, "a clustered function cannot be batched", at_key=True)
    return ir.Cluster(size, spec["clustered"].get("rdma"))


def read_gpus(s: Session, value: str | list[str] | None, path: KeyPath) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    out: list[str] = []
    for index, text in enumerate(items):
        where = path if isinstance(value, str) else (*path, index)
        gpu, problem = catalog.parse_gpu(text)
        if problem or gpu is None:
            s.report(where, problem or f"{text!r} is not a GPU")
        elif gpu in out:
            s.report(where, f"{gpu!r} is already in the fallback list")
        else:
            out.append(gpu)
    return tuple(out)


def read_retries(s: Session, value: int | dict[str, Any] | None) -> ir.Retries | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return ir.Retries(as_int(value))
    return ir.Retries(
        as_int(value["max_retries"]),
        value.get("backoff_coefficient"),
        value.get("initial_delay"),
        value.get("max_delay"),
        is_policy=True,
    )


def resolve_handler(s: Session, spec: dict[str, Any], path: KeyPath, image: str | None) -> tuple[str, str, str] | None:
    if not s.source_ok:
        return None
    module, _, qualname = spec["handler"].partition(":")
    top = module.split(".")[0]
    if top == "modal" or top == module_stem(s.environment.name):
        shadowed = "the modal package" if top == "modal" else "the generated module"
        s.report((*path, "handler"), f"a package named {top!r} would shadow {shadowed}")
        return None
    if top in sys.stdlib_module_names and top not in s.user_packages:
        s.warn(
            (*path, "handler"),
            f"a package named {top!r} shadows the standard library's {top} module in the container, for every "
            "library that imports it",
            hint="rename the package",
        )
    return module, qualname, s.module_alias(module, image, (*path, "handler"))


def serves_only(s: Session, path: KeyPath, spec: dict[str, Any]) -> bool:
    """An ASGI/WSGI app or web server switched off here (`web = false`): nothing is left to deploy."""
    before = s.replaced.get((*path, "web"))
    return spec.get("web") is False and isinstance(before, dict) and before.get("type") in WEB_ROLES


def read_function(
    s: Session, name: str, spec: dict[str, Any], default_image: str | None, default_mounts: tuple[ir.Mount, ...]
) -> ir.Function | None:
    path: KeyPath = ("functions", name)
    if serves_only(s, path, spec):
        return None
    settings = read_settings(s, spec, path, default_image, default_mounts, "function")
    web = read_web(s, spec.get("web"), (*path, "web"))
    schedule = read_schedule(s, spec.get("schedule"), (*path, "schedule"))
    resolved = resolve_handler(s, spec, path, settings.image or default_image)
    if resolved is None:
        return None
    module, qualname, alias = resolved
    try:
        found_module, node = s.tree.find(module, qualname)
    except handlers.HandlerError as error:
        s.handler_error(path, error)
        return None
    if isinstance(node, handlers.ClassFacts):
        s.report(
            (*path, "handler"),
            f"{qualname!r} is a class; declare it under [classes.{name}]"
            if s.manifest_format == "toml"
            else f"{qualname!r} is a class; declare it under classes",
        )
        return None
    is_value = not isinstance(node, handlers.FunctionFacts)
    if is_value and (web is None or web.type not in ("asgi", "wsgi")):
        s.report(
            (*path, "handler"),
            f"{qualname!r} in {found_module.relative_path} is {handlers.describe(node)}, not a function",
        )
        return None
    signature = ir.Signature()
    if isinstance(node, handlers.FunctionFacts):
        try:
            signature = s.tree.signature(node, alias)
        except handlers.HandlerError as error:
            s.handler_error(path, error)
            return None
    handler = ir.Handler(module, qualname, alias, "value" if is_value else "function", signature)
    check_callable(s, path, name, handler, web, schedule, settings, batched=spec.get("batched"))
    batching = None
    if spec.get("batched"):
        batching = ir.Batching(as_int(spec["batched"]["max_batch_size"]), as_int(spec["batched"]["wait_ms"]))
    if batching is not None:
        check_batched(s, path, "function", signature, alias, settings)
    return ir.Function(name, handler, settings, schedule, web, batching, path)


def check_callable(
    s: Session,
    path: KeyPath,
    name: str,
    handler: ir.Handler,
    web: ir.WebEndpoint | None,
    schedule: ir.Schedule | None,
    settings: ir.Settings,
    batched: Any = None,
    where: KeyPath | None = None,
) -> None:
    signature = handler.signature
    where = where or (*path, "handler")
    if schedule is not None:
        if not signature.is_nullary:
            required = [
                p.name
                for p in signature.parameters
                if p.default is None and p.kind not in ("var_positional", "var_keyword")
            ]
            s.report(
                where,
                f"{name} runs on a schedule, so it is called with no arguments, but "
                f"{handler.qualname}() requires {quote_choices(required)}",
            )
        if web is not None:
            s.report((*path, "schedule"), "a web endpoint cannot also run on a schedule")
    if web is not None:
        if settings.retries is not None:
            s.report((*path, "retries"), "web endpoints cannot retry inputs (Modal refuses retries on web functions)")
        if batched:
            s.report((*path, "batched"), "a web endpoint cannot be batched")
        if web.type in ("asgi", "wsgi", "web_server"):
            role = WEB_ROLES[web.type]
            if handler.kind == "function":
                if signature.is_async:
                    s.report(where, f"{handler.qualname}() is async; {role} must be a plain function")
                elif signature.is_generator:
                    s.report(where, f"{handler.qualname}() is a generator; {role} must be a plain function")
                elif not signature.is_nullary:
                    s.report(where, f"{handler.qualname}() requires arguments; {role} is called with none")
        elif web.type == "fastapi" and signature.is_generator:
            s.report(
                where,
                f"{handler.qualname}() is a generator; a fastapi endpoint returns a "
                "response (stream with a StreamingResponse instead)",
            )
    elif settings.retries is not None and signature.is_generator:
        s.report((*path, "retries"), f"{handler.qualname}() is a generator; Modal cannot retry generator functions")


def check_batched(
    s: Session, path: KeyPath, what: str, signature: ir.Signature, alias: str, settings: ir.Settings | None
) -> None:
    where = (*path, "batched")
    if signature.is_generator:
        s.report(where, f"a batched {what} cannot be a generator")
    if any(p.default is not None for p in signature.parameters):
        s.report(where, f"a batched {what} cannot have default arguments")
    if not signature.parameters:
        s.report(where, f"a batched {what} takes at least one list argument")
    for parameter in signature.parameters:
        if parameter.kind in ("var_positional", "var_keyword"):
            s.report(where, f"a batched {what} cannot take *args or **kwargs")
        elif handlers.annotation_is_list(parameter.annotation) is False:
            shown = parameter.annotation.expression.replace(alias + ".", "") if parameter.annotation else ""
            s.report(
                where,
                f"a batched {what} receives lists, but {parameter.name!r} is annotated `{shown}`",
                hint="annotate it as list[...]",
            )
    if settings is not None and settings.concurrency is not None:
        s.report(where, "batching and concurrency cannot be combined; Modal batches inputs for one call at a time")


def read_web(s: Session, value: Any, path: KeyPath) -> ir.WebEndpoint | None:
    if not value:
        return None
    return ir.WebEndpoint(
        type=value["type"],
        method=value.get("method"),
        label=value.get("label"),
        docs=value.get("docs"),
        custom_domains=tuple(value.get("custom_domains", [])),
        requires_proxy_auth=value.get("requires_proxy_auth"),
        port=as_int(value.get("port")),
        startup_timeout=value.get("startup_timeout"),
    )


def read_schedule(s: Session, value: Any, path: KeyPath) -> ir.Schedule | None:
    if not value:
        return None
    if "cron" in value:
        problem = cron.check_cron(value["cron"])
        if problem:
            s.report((*path, "cron"), problem)
        timezone = value.get("timezone")
        if timezone is not None and (problem := cron.check_timezone(timezone)):
            s.report((*path, "timezone"), problem)
        return ir.Schedule(cron=value["cron"], timezone=timezone)
    period = tuple((k, v if k == "seconds" else as_int(v)) for k, v in value["period"].items())
    if not any(v for _, v in period):
        s.report((*path, "period"), "a period must be longer than zero")
    return ir.Schedule(period=period)
