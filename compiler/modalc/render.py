"""Render stage: one `ir.App` -> the Python source of its module, in memory.

Expressions are built here as `PyCode` through `pyliteral`; the Jinja templates only lay the pieces out.
The template environment's `finalize` hook refuses any interpolated value that is not PyCode, so a raw
string cannot reach a module even through a template mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import compat, ir
from .pyliteral import (
    INDENT,
    PyCode,
    UnsafeValue,
    annotation,
    bracketed,
    call,
    comment,
    fitted_call,
    identifier,
    indent_continuation,
    literal,
    raw,
    scalar,
    subscript,
)

TEMPLATE = "app.py.jinja"

IMAGES = raw("IMAGES")
VOLUMES = raw("VOLUMES")
SECRETS = raw("SECRETS")
CLOUD_BUCKETS = raw("CLOUD_BUCKETS")
MANIFEST_DIR = raw("MANIFEST_DIR")
INSTANCE = raw("self._user_instance")
NONE = ir.Annotation("None")


# --- template environment ---------------------------------------------------------------------------


def _require_code(value: object) -> object:
    if isinstance(value, PyCode) or value is None or isinstance(value, bool):
        return value
    raise UnsafeValue(f"template interpolated a {type(value).__name__} that did not pass through pyliteral")


def _code_filter(value: object, levels: int = 0) -> PyCode:
    if not isinstance(value, PyCode):
        raise UnsafeValue(f"`code` filter got {type(value).__name__}, not PyCode")
    return PyCode(indent_continuation(value, levels)) if levels else value


@cache
def template_environment() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("modalc", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_require_code,
    )
    environment.filters["py"] = scalar
    environment.filters["ident"] = identifier
    environment.filters["code"] = _code_filter
    return environment


# --- values ----------------------------------------------------------------------------------------


def _local_path(path: str) -> PyCode:
    return PyCode(f"{MANIFEST_DIR} / {scalar(path)}") if path not in (".", "") else MANIFEST_DIR


def _secret_list(aliases: Iterable[str]) -> PyCode:
    return bracketed("[", [subscript(SECRETS, a) for a in aliases], "]")


def _kwargs(pairs: Iterable[tuple[str, object]]) -> list[tuple[str, PyCode]]:
    out = []
    for key, value in pairs:
        if isinstance(value, PyCode):
            out.append((key, value))
        else:
            out.append((key, literal(value)))
    return out


def image_expression(image: ir.Image) -> PyCode:
    positional: list[PyCode] = []
    if image.local_path is not None:
        positional.append(_local_path(image.local_path))
    positional += [literal(a) for a in image.args]
    keywords = _kwargs(image.kwargs)
    if image.registry_secret:
        keywords.insert(0, ("secret", subscript(SECRETS, image.registry_secret)))
    if image.context_dir is not None:
        keywords.insert(0, ("context_dir", _local_path(image.context_dir)))
    base = call(raw(f"modal.Image.{image.constructor}"), positional, keywords)
    if not image.steps:
        return base
    links = [base] + [PyCode("." + step_expression(step)) for step in image.steps]
    return method_chain(links)


def method_chain(links: Sequence[str]) -> PyCode:
    """A parenthesized chain, one link per line: the layout black keeps for fluent calls.

    Black splits before the dots only from two method calls on; a single call stays joined to its base.
    """
    if len(links) == 2:
        links = [links[0] + links[1]]
    inner = "".join(f"\n{INDENT}{indent_continuation(link)}" for link in links)
    return PyCode(f"({inner}\n)")


def step_expression(step: ir.Step) -> PyCode:
    positional: list[PyCode] = []
    if step.local_path is not None:
        positional.append(_local_path(step.local_path))
    positional += [literal(a) for a in step.args]
    keywords = _kwargs(step.kwargs)
    if step.secrets:
        keywords.append(("secrets", _secret_list(step.secrets)))
    return call(identifier(step.kind), positional, keywords)


def volume_expression(volume: ir.Volume) -> PyCode:
    keywords = [("create_if_missing", literal(True))] if volume.create_if_missing else []
    return call(raw("modal.Volume.from_name"), [scalar(volume.name)], keywords)


def secret_expression(secret: ir.Secret) -> PyCode:
    keywords = [("required_keys", literal(list(secret.required_keys)))] if secret.required_keys else []
    return call(raw("modal.Secret.from_name"), [scalar(secret.name)], keywords)


def bucket_expression(bucket: ir.CloudBucket) -> PyCode:
    keywords = _kwargs(bucket.options)
    if bucket.secret:
        keywords.append(("secret", subscript(SECRETS, bucket.secret)))
    return call(raw("modal.CloudBucketMount"), [scalar(bucket.bucket_name)], keywords)


def mounts_expression(mounts: Sequence[ir.Mount], volumes: dict[str, ir.Volume]) -> PyCode:
    items = []
    for mount in mounts:
        if mount.kind == "bucket":
            value = subscript(CLOUD_BUCKETS, mount.alias)
        else:
            value = subscript(VOLUMES, mount.alias)
            read_only = mount.read_only if mount.read_only is not None else volumes[mount.alias].read_only
            options = []
            if read_only:
                options.append(("read_only", literal(True)))
            if mount.sub_path is not None:
                options.append(("sub_path", scalar(mount.sub_path)))
            if options:
                value = call(PyCode(f"{value}.with_mount_options"), (), options)
        items.append(PyCode(f"{scalar(mount.path)}: {value}"))
    return bracketed("{", items, "}")


def gpu_expression(gpus: Sequence[str]) -> PyCode:
    return scalar(gpus[0]) if len(gpus) == 1 else literal(list(gpus))


def retries_expression(retries: ir.Retries) -> PyCode:
    if not retries.is_policy:
        return scalar(retries.max_retries)
    keywords = [("max_retries", scalar(retries.max_retries))]
    for name in ("backoff_coefficient", "initial_delay", "max_delay"):
        value = getattr(retries, name)
        if value is not None:
            keywords.append((name, scalar(value)))
    return call(raw("modal.Retries"), (), keywords)


def schedule_expression(schedule: ir.Schedule) -> PyCode:
    if schedule.cron is not None:
        keywords = [("timezone", scalar(schedule.timezone))] if schedule.timezone else []
        return call(raw("modal.Cron"), [scalar(schedule.cron)], keywords)
    return call(raw("modal.Period"), (), [(k, scalar(v)) for k, v in schedule.period])


def settings_arguments(settings: ir.Settings, volumes: dict[str, ir.Volume]) -> list[tuple[str, PyCode]]:
    """Keyword arguments of @app.function/@app.cls, in the order of Modal's signature."""
    out: list[tuple[str, PyCode]] = []
    if settings.image is not None:
        out.append(("image", subscript(IMAGES, settings.image)))
    return out + _settings_tail(settings, volumes)


def _settings_tail(settings: ir.Settings, volumes: dict[str, ir.Volume]) -> list[tuple[str, PyCode]]:
    out: list[tuple[str, PyCode]] = []
    if settings.env:
        out.append(("env", literal(dict(settings.env))))
    if settings.secrets:
        out.append(("secrets", _secret_list(settings.secrets)))
    if settings.gpu:
        out.append(("gpu", gpu_expression(settings.gpu)))
    if settings.mounts:
        out.append(("volumes", mounts_expression(settings.mounts, volumes)))
    simple = [
        ("cpu", settings.cpu),
        ("memory", settings.memory),
        ("ephemeral_disk", settings.ephemeral_disk),
        ("min_containers", settings.min_containers),
        ("max_containers", settings.max_containers),
        ("buffer_containers", settings.buffer_containers),
        ("scaledown_window", settings.scaledown_window),
    ]
    out += [(k, literal(v)) for k, v in simple if v is not None]
    if settings.retries is not None:
        out.append(("retries", retries_expression(settings.retries)))
    for key, value in (
        ("timeout", settings.timeout),
        ("startup_timeout", settings.startup_timeout),
        ("cloud", settings.cloud),
        ("region", list(settings.region) if isinstance(settings.region, tuple) else settings.region),
        ("nonpreemptible", settings.nonpreemptible),
        ("enable_memory_snapshot", settings.memory_snapshot),
        ("block_network", settings.block_network),
        ("single_use_containers", settings.single_use_containers),
    ):
        if value is not None:
            out.append((key, literal(value)))
    return out


def web_decorator(web: ir.WebEndpoint) -> PyCode:
    decorator = {"fastapi": "fastapi_endpoint", "asgi": "asgi_app", "wsgi": "wsgi_app", "web_server": "web_server"}
    positional = [scalar(web.port)] if web.type == "web_server" else []
    keywords: list[tuple[str, PyCode]] = []
    if web.method is not None:
        keywords.append(("method", scalar(web.method)))
    if web.startup_timeout is not None:
        keywords.append(("startup_timeout", scalar(float(web.startup_timeout))))
    if web.label is not None:
        keywords.append(("label", scalar(web.label)))
    if web.custom_domains:
        keywords.append(("custom_domains", literal(list(web.custom_domains))))
    if web.docs is not None:
        keywords.append(("docs", literal(web.docs)))
    if web.requires_proxy_auth is not None:
        keywords.append(("requires_proxy_auth", literal(web.requires_proxy_auth)))
    return call(raw(f"modal.{decorator[web.type]}"), positional, keywords)


def batched_decorator(batching: ir.Batching) -> PyCode:
    return call(
        raw("modal.batched"),
        (),
        [("max_batch_size", scalar(batching.max_batch_size)), ("wait_ms", scalar(batching.wait_ms))],
    )


def concurrent_decorator(concurrency: ir.Concurrency) -> PyCode:
    keywords = [("max_inputs", scalar(concurrency.max_inputs))]
    if concurrency.target_inputs is not None:
        keywords.append(("target_inputs", scalar(concurrency.target_inputs)))
    return call(raw("modal.concurrent"), (), keywords)


# --- signatures and bodies --------------------------------------------------------------------------


def _parameter_text(parameter: ir.Parameter) -> str:
    name = identifier(parameter.name)
    if parameter.kind == "var_positional":
        name = PyCode("*" + name)
    elif parameter.kind == "var_keyword":
        name = PyCode("**" + name)
    default = literal(parameter.default.value) if parameter.default is not None else None
    if parameter.annotation is not None:
        text = f"{name}: {annotation(*parameter.annotation)}"
        return f"{text} = {default}" if default is not None else text
    return f"{name}={default}" if default is not None else name


def signature_items(parameters: Sequence[ir.Parameter], *, self_name: str | None = None) -> list[str]:
    items: list[str] = [self_name] if self_name else []
    positional_only = [p for p in parameters if p.kind == "positional_only"]
    has_star = any(p.kind == "var_positional" for p in parameters)
    for index, parameter in enumerate(parameters):
        if (
            parameter.kind == "keyword_only"
            and not has_star
            and (index == 0 or parameters[index - 1].kind != "keyword_only")
        ):
            items.append("*")
        items.append(_parameter_text(parameter))
        if positional_only and parameter is positional_only[-1]:
            items.append("/")
    return items


def def_line(name: str, items: Sequence[str], returns: ir.Annotation | None, *, is_async: bool, indent: int) -> PyCode:
    prefix = "async def " if is_async else "def "
    suffix = f" -> {annotation(*returns)}:" if returns else ":"
    return fitted_call(prefix, identifier(name), items, indent, suffix)


def call_arguments(parameters: Sequence[ir.Parameter]) -> list[str]:
    """How a wrapper passes its own parameters on: positionally where it can, by keyword where it must."""
    out = []
    for parameter in parameters:
        name = identifier(parameter.name)
        if parameter.kind == "var_positional":
            out.append(f"*{name}")
        elif parameter.kind == "var_keyword":
            out.append(f"**{name}")
        elif parameter.kind == "keyword_only":
            out.append(f"{name}={name}")
        else:
            out.append(name)
    return out


def delegation(
    target: str,
    signature: ir.Signature,
    indent: int,
    arguments: Sequence[str] | None = None,
    *,
    returns_value: bool = True,
) -> list[PyCode]:
    """The body that hands a call to the user's code, keeping it sync/async and plain/generator as it is."""
    arguments = call_arguments(signature.parameters) if arguments is None else arguments
    if signature.is_generator and signature.is_async:
        loop = fitted_call("async for item in ", target, arguments, indent, ":")
        return [loop, PyCode(INDENT + "yield item")]
    if signature.is_generator:
        return [fitted_call("yield from ", target, arguments, indent)]
    prefix = "return " if returns_value else ""
    if signature.is_async:
        prefix += "await "
    return [fitted_call(prefix, target, arguments, indent)]


# --- the module model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A decorated def or class, as the template lays it out."""

    decorators: tuple[PyCode, ...]
    header: PyCode
    body: tuple[PyCode, ...]
    members: tuple[Block, ...] = ()
    attributes: tuple[PyCode, ...] = ()


def _target(handler: ir.Handler, *names: str) -> str:
    return ".".join([identifier(handler.module_alias), *(identifier(n) for n in handler.qualname.split(".")), *names])


def function_block(function: ir.Function, app: ir.App, volumes: dict[str, ir.Volume]) -> Block:
    settings = settings_arguments(function.settings, volumes)
    if function.schedule is not None:
        settings.insert(1 if function.settings.image else 0, ("schedule", schedule_expression(function.schedule)))
    decorators = [call(raw("app.function"), (), settings)]
    if function.settings.concurrency is not None:
        decorators.append(concurrent_decorator(function.settings.concurrency))
    if function.batched is not None:
        decorators.append(batched_decorator(function.batched))
    if function.web is not None:
        decorators.append(web_decorator(function.web))
    handler = function.handler
    signature = handler.signature
    target = _target(handler)
    if function.web is not None and function.web.type in ("asgi", "wsgi", "web_server"):
        header = def_line(function.name, [], signature.returns, is_async=False, indent=0)
        if handler.kind == "value":
            body = [PyCode(f"return {target}")]
        else:
            body = [fitted_call("return " if function.web.type != "web_server" else "", target, [], 1)]
        return Block(tuple(decorators), header, tuple(body))
    header = def_line(
        function.name, signature_items(signature.parameters), signature.returns, is_async=signature.is_async, indent=0
    )
    return Block(tuple(decorators), header, tuple(delegation(target, signature, 1)))


def class_block(cls: ir.Cls, volumes: dict[str, ir.Volume]) -> Block:
    decorators = [call(raw("app.cls"), (), settings_arguments(cls.settings, volumes))]
    if cls.settings.concurrency is not None:
        decorators.append(concurrent_decorator(cls.settings.concurrency))
    attributes = []
    for parameter in cls.parameters:
        default = [f"default={literal(parameter.default)}"] if parameter.has_default else []
        attributes.append(
            fitted_call(f"{identifier(parameter.name)}: {parameter.type} = ", "modal.parameter", default, 1)
        )
    handler = cls.handler
    create_arguments = [f"{identifier(p.name)}=self.{identifier(p.name)}" for p in cls.parameters]
    create = Block(
        (call(raw("modal.enter"), (), [("snap", literal(True))]) if cls.create_snap else raw("modal.enter()"),),
        def_line("_create_user_instance", ["self"], NONE, is_async=False, indent=1),
        (fitted_call(f"{INSTANCE} = ", _target(handler), create_arguments, 2),),
    )
    members = [create]
    for hook in cls.enter:
        decorator = call(raw("modal.enter"), (), [("snap", literal(True))]) if hook.snap else raw("modal.enter()")
        members.append(_hook_block(decorator, hook))
    for hook in cls.exit:
        members.append(_hook_block(raw("modal.exit()"), hook))
    for method in cls.methods:
        members.append(_method_block(method))
    header = PyCode(f"class {identifier(cls.name)}:")
    return Block(tuple(decorators), header, (), tuple(members), tuple(attributes))


def _hook_block(decorator: PyCode, hook: ir.Hook) -> Block:
    signature = hook.signature
    header = def_line(hook.name, ["self"], signature.returns, is_async=signature.is_async, indent=1)
    body = delegation(f"{INSTANCE}.{identifier(hook.name)}", signature, 2, [], returns_value=False)
    return Block((decorator,), header, tuple(body))


def _method_block(method: ir.Method) -> Block:
    signature = method.signature
    decorators: list[PyCode] = []
    if method.batched is not None:
        decorators.append(batched_decorator(method.batched))
    elif method.web is not None:
        decorators.append(web_decorator(method.web))
    else:
        decorators.append(raw("modal.method()"))
    target = f"{INSTANCE}.{identifier(method.name)}"
    if method.web is not None and method.web.type in ("asgi", "wsgi", "web_server"):
        header = def_line(method.name, ["self"], signature.returns, is_async=False, indent=1)
        prefix = "return " if method.web.type != "web_server" else ""
        return Block(tuple(decorators), header, (fitted_call(prefix, target, [], 2),))
    header = def_line(
        method.name,
        signature_items(signature.parameters, self_name="self"),
        signature.returns,
        is_async=signature.is_async,
        indent=1,
    )
    return Block(tuple(decorators), header, tuple(delegation(target, signature, 2)))


def entrypoint_block(entrypoint: ir.Entrypoint) -> Block:
    default_inputs = _local_path(entrypoint.inputs) if entrypoint.inputs else scalar("")
    items = [
        f"inputs: str = str({default_inputs})" if entrypoint.inputs else 'inputs: str = ""',
        f"output: str = {scalar(entrypoint.output)}",
        'items: str = ""',
    ]
    header = def_line(entrypoint.name, items, NONE, is_async=False, indent=0)
    body = (
        fitted_call(
            "arguments = ",
            "_load_inputs",
            ["inputs", "items", scalar(entrypoint.mode), literal(entrypoint.function_parameters)],
            1,
        ),
        fitted_call(
            "results = ",
            f"{identifier(entrypoint.function)}.{entrypoint.mode}",
            ["arguments", "return_exceptions=True"],
            1,
        ),
        fitted_call("", "_write_results", [scalar(entrypoint.name), "arguments", "results", "output"], 1),
    )
    return Block((raw("app.local_entrypoint()"),), header, body)


def app_expression(app: ir.App) -> PyCode:
    keywords: list[tuple[str, PyCode]] = []
    if app.tags:
        keywords.append(("tags", literal(dict(app.tags))))
    if app.default_image is not None:
        keywords.append(("image", subscript(IMAGES, app.default_image)))
    if app.default_secrets:
        keywords.append(("secrets", _secret_list(app.default_secrets)))
    if app.default_mounts:
        volumes = {v.alias: v for v in app.volumes}
        keywords.append(("volumes", mounts_expression(app.default_mounts, volumes)))
    return call(raw("modal.App"), [scalar(app.name)], keywords)


def module_model(app: ir.App, module_path: str) -> dict[str, Any]:
    volumes = {v.alias: v for v in app.volumes}
    environment = app.environment
    source = app.source
    header = [
        comment(f"Generated by modalc from {source.manifest_name} for environment {environment.name}."),
        comment("Do not edit: change the manifest, then run `modalc build`."),
    ]
    if environment.declared:
        header.append(
            comment(
                f"Deploy with `modalc deploy --env {environment.name}` "
                f"(or `modal deploy --env {environment.modal_environment} {module_path}`)."
            )
        )
    else:
        header.append(comment(f"Deploy with `modalc deploy` (or `modal deploy {module_path}`)."))
    manifest_dir = "pathlib.Path(__file__).resolve().parent" + ".parent" * source.manifest_dir_depth
    source_dir = MANIFEST_DIR if source.source_dir in (".", "") else _local_path(source.source_dir)
    imports_by_image: dict[str, list[tuple[str, str]]] = {}
    for module, alias, image in source.user_modules:
        imports_by_image.setdefault(image or "", []).append((module, alias))
    user_imports = [
        (subscript(IMAGES, image), [PyCode(f"import {_dotted(m)} as {identifier(a)}") for m, a in modules])
        for image, modules in imports_by_image.items()
    ]
    return {
        "header": header,
        "guard_environment": environment.declared,
        "selected_environment": raw(compat.SELECTED_ENVIRONMENT_EXPRESSION),
        "environment_name": scalar(environment.name),
        "modal_environment": scalar(environment.modal_environment),
        "manifest_dir": raw(manifest_dir),
        "source_dir": source_dir,
        "images": [(scalar(i.alias), image_expression(i)) for i in app.images],
        "volumes": [(scalar(v.alias), volume_expression(v)) for v in app.volumes],
        "secrets": [(scalar(s.alias), secret_expression(s)) for s in app.secrets],
        "cloud_buckets": [(scalar(b.alias), bucket_expression(b)) for b in app.cloud_buckets],
        "app": app_expression(app),
        "user_imports": user_imports,
        "blocks": [function_block(f, app, volumes) for f in app.functions]
        + [class_block(c, volumes) for c in app.classes],
        "entrypoints": [entrypoint_block(e) for e in app.entrypoints],
    }


def _dotted(module: str) -> str:
    return ".".join(identifier(part) for part in module.split("."))


def render_app(app: ir.App, module_path: str) -> str:
    """The generated module for one environment, as text (black-stable by construction)."""
    template = template_environment().get_template(TEMPLATE)
    return str(template.render(**module_model(app, module_path)))
