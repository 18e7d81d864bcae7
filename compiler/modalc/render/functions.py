"""Functions and classes: decorators, the wrappers' signatures, and the bodies that delegate to the user's code."""

from __future__ import annotations

from collections.abc import Sequence

from .. import ir
from ..pyliteral import (
    INDENT,
    PyCode,
    annotation,
    call,
    fitted_call,
    identifier,
    literal,
    raw,
    scalar,
)
from .common import INSTANCE, NONE, Block, Context, app_variable
from .resources import schedule_expression, settings_arguments


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


def cluster_decorator(cluster: ir.Cluster) -> PyCode:
    keywords = [("size", scalar(cluster.size))]
    if cluster.rdma is not None:
        keywords.append(("rdma", literal(cluster.rdma)))
    return call(raw("modal.clustered"), (), keywords)


def http_server_decorator(server: ir.HttpServer) -> PyCode:
    keywords = [("port", scalar(server.port)), ("proxy_regions", literal(list(server.proxy_regions)))]
    for name in ("startup_timeout", "exit_grace_period", "h2_enabled"):
        value = getattr(server, name)
        if value is not None:
            keywords.append((name, literal(value)))
    return call(raw("modal.experimental.http_server"), (), keywords)


def concurrent_decorator(concurrency: ir.Concurrency) -> PyCode:
    keywords = []
    if concurrency.max_inputs is not None:
        keywords.append(("max_inputs", scalar(concurrency.max_inputs)))
    if concurrency.target_inputs is not None:
        keywords.append(("target_inputs", scalar(concurrency.target_inputs)))
    return call(raw("modal.concurrent"), (), keywords)


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


def handler_target(handler: ir.Handler, *names: str) -> str:
    return ".".join([identifier(handler.module_alias), *(identifier(n) for n in handler.qualname.split(".")), *names])


def function_block(function: ir.Function, context: Context) -> Block:
    settings = settings_arguments(function.settings, context)
    if function.schedule is not None:
        settings.insert(1 if function.settings.image else 0, ("schedule", schedule_expression(function.schedule)))
    decorators = [call(PyCode(f"{app_variable(function.app)}.function"), (), settings)]
    if function.settings.cluster is not None:
        decorators.append(cluster_decorator(function.settings.cluster))
    if function.settings.concurrency is not None:
        decorators.append(concurrent_decorator(function.settings.concurrency))
    if function.batched is not None:
        decorators.append(batched_decorator(function.batched))
    if function.web is not None:
        decorators.append(web_decorator(function.web))
    handler = function.handler
    signature = handler.signature
    target = handler_target(handler)
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


def class_block(cls: ir.Cls, context: Context) -> Block:
    decorators = [call(PyCode(f"{app_variable(cls.app)}.cls"), (), settings_arguments(cls.settings, context))]
    if cls.settings.cluster is not None:
        decorators.append(cluster_decorator(cls.settings.cluster))
    if cls.http_server is not None:
        decorators.append(http_server_decorator(cls.http_server))
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
        (fitted_call(f"{INSTANCE} = ", handler_target(handler), create_arguments, 2),),
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
