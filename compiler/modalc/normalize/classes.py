"""Classes: the user's class wrapped by composition, its parameters, lifecycle hooks and methods."""

from __future__ import annotations

from typing import Any

from .. import handlers, ir, pyliteral
from ..diagnostics import KeyPath, quote_choices, suggest
from . import functions
from .session import Session, as_int

# Names a member of the generated class cannot take: the class body's `modal.*` decorators and parameter
# defaults look `modal` up in the class namespace first, and `self` is the instance.
CLASS_MEMBER_RESERVED = frozenset({"modal", "self"})


def read_class(
    s: Session, name: str, spec: dict[str, Any], default_image: str | None, default_mounts: tuple[ir.Mount, ...]
) -> ir.Cls | None:
    path: KeyPath = ("classes", name)
    settings = functions.read_settings(s, spec, path, default_image, default_mounts, "class")
    resolved = functions.resolve_handler(s, spec, path, settings.image or default_image)
    if resolved is None:
        return None
    module, qualname, alias = resolved
    try:
        info = s.tree.class_info(module, qualname)
    except handlers.HandlerError as error:
        s.handler_error(path, error)
        return None
    handler = ir.Handler(module, qualname, alias, "class")
    _check_modal_calls_on_self(s, path, name, spec, info)
    parameters = _parameters(s, spec.get("parameters", {}), (*path, "parameters"), info)
    enter = _hooks(s, spec.get("enter", []), (*path, "enter"), info, alias, "enter")
    exit_hooks = _hooks(s, spec.get("exit", []), (*path, "exit"), info, alias, "exit")
    methods = _methods(s, spec.get("methods", []), (*path, "methods"), info, alias, settings)
    if any(h.snap for h in enter) and not settings.memory_snapshot:
        index = next(i for i, h in enumerate(enter) if h.snap)
        s.report((*path, "enter", index), "snap = true needs memory_snapshot = true on the class")
    names: dict[str, str] = {}
    members: tuple[tuple[str, str, list[str]], ...] = (
        ("a parameter", "parameters", [p.name for p in parameters]),
        ("an enter hook", "enter", [h.name for h in enter]),
        ("an exit hook", "exit", [h.name for h in exit_hooks]),
        ("a method", "methods", [m.name for m in methods]),
    )
    for kind, key, member_names in members:
        for index, member in enumerate(member_names):
            where = (
                (*path, key, member)
                if key == "parameters" or (key == "methods" and isinstance(spec.get("methods"), dict))
                else (*path, key, index)
            )
            if member not in names:
                names[member] = kind
            elif names[member] == kind:
                s.report(where, f"{member!r} is listed twice")
            else:
                s.report(
                    where,
                    f"{member!r} is both {names[member]} and {kind}; the generated class needs one name per member",
                )
    server = _http_server(s, spec, path, methods)
    if not spec.get("methods") and server is None:
        s.report(
            path,
            f"class {name} exposes no methods; list them under `methods` (or serve HTTP with `http_server`)",
            at_key=True,
        )
    if settings.cluster is not None and len(methods) > 1:
        s.report((*path, "clustered"), "a clustered class has one method; Modal refuses more", at_key=True)
    if settings.cluster is not None and any(m.batched for m in methods):
        s.report((*path, "clustered"), "a clustered class cannot have a batched method", at_key=True)
    return ir.Cls(
        name,
        handler,
        settings,
        parameters,
        enter,
        exit_hooks,
        methods,
        create_snap=any(h.snap for h in enter),
        http_server=server,
        key_path=path,
    )


def _http_server(
    s: Session, spec: dict[str, Any], path: KeyPath, methods: tuple[ir.Method, ...]
) -> ir.HttpServer | None:
    """modal.experimental.http_server: the class's enter hooks start a server on `port`; no methods besides."""
    value = spec.get("http_server")
    if value is None:
        return None
    if spec.get("methods"):
        s.report(
            (*path, "methods"), "an http_server class serves HTTP only; Modal refuses methods beside it", at_key=True
        )
    if not spec.get("enter"):
        s.report(
            (*path, "http_server"),
            "an http_server class starts its server in an enter hook; list it under `enter`",
            at_key=True,
        )
    return ir.HttpServer(
        port=as_int(value["port"]),
        proxy_regions=tuple(value["proxy_regions"]),
        startup_timeout=as_int(value.get("startup_timeout")),
        exit_grace_period=as_int(value.get("exit_grace_period")),
        h2_enabled=value.get("h2_enabled"),
    )


# A method read as an attribute: `self.NAME` is what it returns, which may well be a Modal object.
_ACCESSORS = frozenset({"property", "cached_property", "getter", "setter", "deleter"})


def _check_modal_calls_on_self(
    s: Session, path: KeyPath, name: str, spec: dict[str, Any], info: handlers.ClassInfo
) -> None:
    """`self.embed.remote(...)` works in a Modal class; in the container a handler class is the user's plain class
    (the generated class holds an instance of it), where `self.embed` is a plain method without `.remote`."""
    declared = set(spec.get("methods", []))
    assigned = {n for m in info.methods.values() for n in m.node.self_assigned}
    for method in info.methods.values():
        for receiver, target, modal_call, line in method.node.self_calls:
            called = info.methods.get(target)
            if called is None or target in assigned or _ACCESSORS.intersection(called.node.decorators):
                continue  # an attribute, or a property: it may hold a Modal function
            hint = f"call {receiver}.{target}(...) to run it in this container"
            if target in declared and modal_call != "local":
                hint += f", or modalc_app.{name}(...).{target}.{modal_call}(...) to run it in another"
            s.warn(  # not an error: the attribute may be set where modalc does not look (a base, setattr)
                (*path, "handler"),
                f"{method.defined_at}:{line}: {receiver}.{target}.{modal_call}(...) fails in the container: the "
                f"handler class {info.name} stays a plain class there, so {receiver}.{target} is its own method, "
                "not a Modal one",
                hint=hint,
            )


def _parameters(
    s: Session, spec: dict[str, Any], path: KeyPath, info: handlers.ClassInfo
) -> tuple[ir.ClassParameter, ...]:
    out = []
    python_types = {"str": str, "int": int, "bool": bool, "bytes": str}
    for name, value in spec.items():
        value = {"type": value} if isinstance(value, str) else value
        kind = value["type"]
        has_default = "default" in value
        default = as_int(value.get("default")) if kind == "int" else value.get("default")
        if has_default:
            wanted = python_types[kind]
            ok = isinstance(default, wanted) and (kind == "bool" or not isinstance(default, bool))
            if not ok:
                expected = {"str": "a string", "bytes": "a string", "int": "an integer", "bool": "true or false"}
                s.report(
                    (*path, name, "default"),
                    f"the default of {'an' if kind == 'int' else 'a'} "
                    f"{kind} parameter must be {expected[kind]}, not {default!r}",
                )
            if kind == "bytes" and isinstance(default, str):
                default = default.encode("utf-8")
        if name in CLASS_MEMBER_RESERVED or not pyliteral.is_identifier(name):
            s.report(
                (*path, name),
                f"{name!r} cannot name a class parameter (it is reserved in the generated class)",
                at_key=True,
            )
        out.append(ir.ClassParameter(name, kind, default, has_default))
    _check_constructor(s, info, [p.name for p in out if p.name not in CLASS_MEMBER_RESERVED], path)
    # Modal turns parameters into a positional-or-keyword constructor signature, where a parameter
    # without a default cannot follow one with a default; callers pass them by name, so order is free.
    return tuple(sorted(out, key=lambda p: p.has_default))


def _check_constructor(s: Session, info: handlers.ClassInfo, names: list[str], path: KeyPath) -> None:
    init = info.methods.get("__init__")
    if init is None:
        if info.is_dataclass:
            accepted = set(info.dataclass_fields)
            for name in names:
                if name not in accepted:
                    s.report((*path, name), f"dataclass {info.name} has no field {name!r}", at_key=True)
        elif names and not info.unresolved_bases:
            s.report(
                path,
                f"{info.name} takes no constructor arguments, but the manifest declares "
                f"parameters {quote_choices(names)}",
                at_key=True,
                hint=f"define __init__(self, *, {', '.join(names)}) in {info.name}",
            )
        return
    signature = s.tree.signature(init.node, "_", drop_first=True)
    accepted = {p.name for p in signature.parameters if p.kind in ("positional_or_keyword", "keyword_only")}
    takes_kwargs = any(p.kind == "var_keyword" for p in signature.parameters)
    for name in names:
        if name not in accepted and not takes_kwargs:
            s.report((*path, name), f"{info.name}.__init__() takes no argument {name!r}", at_key=True)
    for parameter in signature.parameters:
        if (
            parameter.default is None
            and parameter.kind in ("positional_or_keyword", "keyword_only")
            and parameter.name not in names
        ):
            s.report(
                path,
                f"{info.name}.__init__() requires {parameter.name!r}; declare it under `parameters`",
                at_key=True,
            )


def _member(
    s: Session, info: handlers.ClassInfo, name: str, path: KeyPath, what: str, at_key: bool = False
) -> handlers.MethodInfo | None:
    if name in CLASS_MEMBER_RESERVED or not pyliteral.is_identifier(name):
        role = {"enter": "an enter hook", "exit": "an exit hook"}.get(what, f"a {what}")
        s.report(
            path,
            f"{name!r} cannot name {role} of the generated class (its body uses `modal.*`); rename it in {info.name}",
            at_key=at_key,
        )
        return None
    method = info.methods.get(name)
    if method is None:
        message = f"{info.name} has no method {name!r}" + suggest(
            name, [m for m in info.methods if not m.startswith("__")]
        )
        hint = None
        if info.unresolved_bases:
            hint = (
                f"modalc reads only the project's code; if {name} comes from "
                f"{', '.join(info.unresolved_bases)}, define it in {info.name}"
            )
        s.report(path, message, hint=hint, at_key=at_key)
    return method


def _hooks(
    s: Session, spec: list[Any], path: KeyPath, info: handlers.ClassInfo, alias: str, kind: str
) -> tuple[ir.Hook, ...]:
    out = []
    for index, entry in enumerate(spec):
        entry = {"method": entry} if isinstance(entry, str) else entry
        where = (*path, index)
        method = _member(s, info, entry["method"], where, kind)
        if method is None:
            continue
        signature = s.tree.signature(method.node, alias, drop_first=not method.is_static)
        if not signature.is_nullary:
            s.report(where, f"{kind} hook {info.name}.{method.name}() must take no arguments besides self")
        if signature.is_generator:
            s.report(where, f"{kind} hook {info.name}.{method.name}() cannot be a generator")
        out.append(ir.Hook(method.name, signature, bool(entry.get("snap", False))))
    return tuple(out)


def _methods(
    s: Session,
    spec: list[str] | dict[str, Any],
    path: KeyPath,
    info: handlers.ClassInfo,
    alias: str,
    settings: ir.Settings,
) -> tuple[ir.Method, ...]:
    entries = {name: {} for name in spec} if isinstance(spec, list) else spec
    out = []
    batched_seen: str | None = None
    for index, (name, options) in enumerate(entries.items()):
        where = (*path, index) if isinstance(spec, list) else (*path, name)
        if not isinstance(spec, list) and functions.serves_only(s, where, options):
            continue
        method = _member(s, info, name, where, "method", at_key=not isinstance(spec, list))
        if method is None:
            continue
        try:
            signature = s.tree.signature(method.node, alias, drop_first=not method.is_static)
        except handlers.HandlerError as error:
            s.report(where, error.message, hint=error.hint)
            continue
        web = functions.read_web(s, options.get("web"), (*where, "web"))
        batching = None
        if options.get("batched"):
            batching = ir.Batching(as_int(options["batched"]["max_batch_size"]), as_int(options["batched"]["wait_ms"]))
            if batched_seen is not None:
                s.report(
                    (*where, "batched"), f"a class can have one batched method; {batched_seen!r} is batched already"
                )
            batched_seen = batched_seen or name
            functions.check_batched(s, where, "method", signature, alias, settings)
            if web is not None:
                s.report((*where, "web"), "a batched method cannot also be a web endpoint")
        if web is not None:
            pseudo = ir.Handler(info.module.name, f"{info.name}.{name}", alias, "function", signature)
            functions.check_callable(s, where, name, pseudo, web, None, ir.Settings(), where=(*where, "web"))
        out.append(ir.Method(name, signature, batching, web, method.is_static))
    if batched_seen is not None and len(entries) > 1:
        for index, name in enumerate(entries):
            if name != batched_seen and not (entries[name] or {}).get("batched"):
                where = (*path, index) if isinstance(spec, list) else (*path, name)
                s.report(
                    where,
                    f"{info.name} has a batched method ({batched_seen!r}), so it can have no "
                    f"other methods; Modal serves a batched class through that one method",
                    at_key=not isinstance(spec, list),
                )
    return tuple(out)
