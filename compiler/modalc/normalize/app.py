"""The app: every noun of one environment normalized in order, and the checks that span them."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Sequence

from .. import handlers, ir, paths, pyliteral
from ..diagnostics import KeyPath, suggest
from . import classes, entrypoints, functions, images, sdk_rules, storage
from .session import Session

APP_ID_SHAPE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")


def build_app(s: Session) -> ir.App:
    """Every noun of the manifest, normalized in the order their dependencies need."""
    data = s.data
    app = data["app"]
    _check_environment(s)
    _check_source_dir(s)
    if APP_ID_SHAPE.match(app["name"]):
        s.report(("app", "name"), f"{app['name']!r} looks like a Modal app id, not a name")
    volumes = tuple(storage.read_volume(s, alias, spec) for alias, spec in data.get("volumes", {}).items())
    secrets = tuple(storage.read_secret(s, alias, spec) for alias, spec in data.get("secrets", {}).items())
    buckets = tuple(storage.read_bucket(s, alias, spec) for alias, spec in data.get("cloud_buckets", {}).items())
    stores = tuple(
        storage.read_store(s, kind, alias, spec)
        for section, kind in (("queues", "queue"), ("dicts", "dict"))
        for alias, spec in data.get(section, {}).items()
    )
    default_image = app.get("image")
    if default_image is not None:
        s.reference("images", default_image, ("app", "image"))
    default_secrets = tuple(s.secret_refs(app.get("secrets", []), ("app", "secrets")))
    default_mounts = storage.read_mounts(s, app.get("volumes", {}), ("app", "volumes"))
    other_apps = _other_apps(s)
    defaults: dict[str | None, tuple[str | None, tuple[ir.Mount, ...]]] = {
        None: (default_image, default_mounts),
        **{o.alias: (o.default_image, o.default_mounts) for o in other_apps},
    }
    include = tuple(a for i, a in enumerate(app.get("include", [])) if _app_reference(s, a, ("app", "include", i)))
    _check_names(s)
    declared_functions = tuple(
        f._replace(app=owner)
        for name, spec in data.get("functions", {}).items()
        if (owner := _owner(s, ("functions", name), spec)) != _NO_APP
        and (f := functions.read_function(s, name, spec, *defaults[owner])) is not None
    )
    declared_classes = tuple(
        c._replace(app=owner)
        for name, spec in data.get("classes", {}).items()
        if (owner := _owner(s, ("classes", name), spec)) != _NO_APP
        and (c := classes.read_class(s, name, spec, *defaults[owner])) is not None
    )
    declared_entrypoints = tuple(
        e
        for name, spec in data.get("entrypoints", {}).items()
        if (e := entrypoints.read_entrypoint(s, name, spec, declared_functions, declared_classes)) is not None
    )
    _check_entrypoint_apps(s, declared_entrypoints, declared_functions, declared_classes, include)
    _check_shadowed_builtins(s, declared_functions, declared_classes)
    _check_alias_shadowing(s, declared_functions)
    _check_entrypoint_targets(s, declared_entrypoints)
    # Images last: functions and classes have recorded which user packages each image must ship.
    declared_images = images.read_images(s, data.get("images", {}))
    sdk_rules.check_images(s, declared_images)
    _check_app_references(s)
    _check_unused(s)
    source = ir.SourceInfo(
        manifest_name=s.project.manifest_path.name,
        manifest_dir_depth=_output_depth(s),
        source_dir=s.source_dir,
        user_modules=_user_modules(s),
    )
    return ir.App(
        name=app["name"],
        environment=s.environment,
        source=source,
        tags=tuple(sorted(app.get("tags", {}).items())),
        default_image=default_image,
        default_secrets=default_secrets,
        default_mounts=default_mounts,
        images=declared_images,
        volumes=volumes,
        secrets=secrets,
        cloud_buckets=buckets,
        stores=stores,
        functions=declared_functions,
        classes=declared_classes,
        entrypoints=declared_entrypoints,
        other_apps=other_apps,
        include=include,
    )


def _other_apps(s: Session) -> tuple[ir.OtherApp, ...]:
    out = []
    for alias, spec in s.data.get("apps", {}).items():
        path: KeyPath = ("apps", alias)
        if spec["name"] == s.data["app"]["name"]:
            s.report((*path, "name"), f"app {alias!r} has the main app's name {spec['name']!r}; each app needs its own")
        image = spec.get("image")
        if image is not None:
            s.reference("images", image, (*path, "image"))
        out.append(
            ir.OtherApp(
                alias,
                spec["name"],
                tags=tuple(sorted(spec.get("tags", {}).items())),
                default_image=image,
                default_secrets=tuple(s.secret_refs(spec.get("secrets", []), (*path, "secrets"))),
                default_mounts=storage.read_mounts(s, spec.get("volumes", {}), (*path, "volumes")),
            )
        )
    return tuple(out)


def _app_reference(s: Session, alias: str, path: KeyPath) -> bool:
    declared = s.data.get("apps", {})
    if alias in declared:
        return True
    s.report(path, f"no app named {alias!r} under [apps]" + suggest(alias, declared))
    return False


_NO_APP = "\0"  # an `app` key naming no declared app; never a valid alias


def _owner(s: Session, path: KeyPath, spec: dict[str, object]) -> str | None:
    """The app a function or class belongs to: None for the main app, an alias, or _NO_APP when it names none."""
    alias = spec.get("app")
    if alias is None:
        return None
    return str(alias) if _app_reference(s, str(alias), (*path, "app")) else _NO_APP


def _check_entrypoint_apps(
    s: Session,
    declared: tuple[ir.Entrypoint, ...],
    functions: tuple[ir.Function, ...],
    classes: tuple[ir.Cls, ...],
    include: tuple[str, ...],
) -> None:
    """A local entrypoint runs the main app: what it calls must be in it, or in an app it includes."""
    owners = {f.name: f.app for f in functions} | {c.name: c.app for c in classes}
    for entrypoint in declared:
        owner = owners.get(entrypoint.function)
        if owner is not None and owner not in include and entrypoint.mode != "spawn":
            s.report(
                (*entrypoint.key_path, entrypoint.mode),
                f"{entrypoint.function} belongs to app {owner!r}, which the main app does not include; an "
                "entrypoint runs the main app",
                hint=f"add {owner!r} to [app] include",
            )


def _check_app_references(s: Session) -> None:
    """Handler code calls the app's other functions as `modalc_app.NAME` inside function bodies (the generated
    module registers itself under that name first thing): the names must exist, and nothing may read them while
    the generated module is still being imported."""
    declared = [*s.data.get("functions", {}), *s.data.get("classes", {}), *sorted(s.entries_elsewhere)]
    known = {*declared, *pyliteral.RESERVED_NAMES}
    for module, user in sorted(s.module_users.items()):
        try:
            parsed = s.tree.module(module)
        except handlers.HandlerError:
            continue  # reported where the handler is resolved
        for reference in parsed.app_references:
            where = f"{parsed.relative_path}:{reference.line}"
            if reference.from_import:
                s.report(
                    user,
                    f"{where}: `from modalc_app import {reference.name}` runs while the app's module is still being "
                    "imported, and fails in the container",
                    hint=f"write `import modalc_app` and call `modalc_app.{reference.name}` inside the function",
                )
            elif reference.name not in known:
                s.report(
                    user,
                    f"{where}: modalc_app.{reference.name} is not a function or class of this app"
                    + suggest(reference.name, declared),
                )
            elif reference.at_import_time:
                s.report(
                    user,
                    f"{where}: modalc_app.{reference.name} is read at import time, while the app's module is still "
                    "being imported",
                    hint="read it inside the function that calls it",
                )


def _check_environment(s: Session) -> None:
    env = s.environment
    if env.declared and env.modal_environment.startswith("en-"):
        path = ("environments", env.name, "modal_environment")
        s.report(path, f"{env.modal_environment!r}: Modal environment names cannot start with 'en-'")


def _check_source_dir(s: Session) -> None:
    project = s.project.directory
    try:
        resolved = paths.resolve(project / s.source_dir)
        s.dependencies.add(resolved)
        if not resolved.is_relative_to(project):
            s.report(("app", "source_dir"), f"{s.source_dir!r} is outside the manifest's directory")
        elif not resolved.is_dir():
            s.report(("app", "source_dir"), f"{s.source_dir!r} is not a directory")
        else:
            return
    except OSError as error:
        s.report(("app", "source_dir"), f"{s.source_dir!r} cannot be used as a directory: {error.strerror or error}")
    s.source_ok = False  # handlers cannot be resolved; saying so once is enough


def _output_depth(s: Session) -> int:
    project = s.project
    try:
        return len(project.out_dir.relative_to(project.directory).parts)
    except ValueError:
        return 0


def _check_names(s: Session) -> None:
    # Every other app is the module-level `app_ALIAS`: no function, class or entrypoint may take that name.
    seen: dict[str, KeyPath] = {f"app_{alias}": ("apps", alias) for alias in s.data.get("apps", {})}
    for section in ("functions", "classes", "entrypoints"):
        for name in s.data.get(section, {}):
            path = (section, name)
            if not pyliteral.is_identifier(name):
                s.report(path, f"{name!r} is a Python keyword and cannot name a {section[:-1]}", at_key=True)
            elif name in pyliteral.RESERVED_NAMES:
                s.report(path, f"{name!r} is a name the generated module defines; choose another", at_key=True)
            elif name in pyliteral.TEMPLATE_BUILTINS:
                s.report(
                    path, f"{name!r} is a Python builtin that the generated module calls; choose another", at_key=True
                )
            if name in seen:
                other = ".".join(map(str, seen[name]))
                s.report(
                    path,
                    f"{name!r} is already declared as {other}; names must be unique "
                    "across functions, classes and entrypoints",
                    at_key=True,
                )
            else:
                seen[name] = path


def _annotation_names(signatures: Iterable[ir.Signature]) -> set[str]:
    """The names the plain (unquoted) annotations of these signatures read when the module is imported."""
    names: set[str] = set()
    for signature in signatures:
        annotations = [p.annotation for p in signature.parameters] + [signature.returns]
        for annotation in annotations:
            if annotation is not None and not annotation.quoted:
                names |= _names_in(annotation.expression)
    return names


@functools.cache
def _names_in(expression: str) -> frozenset[str]:
    """The names an expression reads (annotations repeat: `str`, `int`, `list[str]`, so each is parsed once)."""
    return frozenset(n.id for n in ast.walk(ast.parse(expression, mode="eval")) if isinstance(n, ast.Name))


def _member_signatures(cls: ir.Cls) -> list[ir.Signature]:
    return [h.signature for h in cls.enter] + [h.signature for h in cls.exit] + [m.signature for m in cls.methods]


def _check_shadowed_builtins(s: Session, functions: Sequence[ir.Function], classes: Sequence[ir.Cls]) -> None:
    """A builtin the wrappers' annotations read (`-> bytes`, `x: list[str]`, a class parameter's `str`) must not
    be replaced by a function or class of the same name (module level) or a member (inside the class body)."""
    signatures = [f.handler.signature for f in functions]
    for cls in classes:
        signatures += _member_signatures(cls)
    used = (_annotation_names(signatures) | {p.type for c in classes for p in c.parameters}) & handlers.BUILTIN_NAMES
    used -= pyliteral.TEMPLATE_BUILTINS  # reported by _check_names
    for section, entries in (("functions", functions), ("classes", classes)):
        for entry in entries:
            if entry.name in used:
                s.report(
                    (section, entry.name),
                    f"{entry.name!r} would replace the builtin {entry.name} that the generated module's annotations "
                    "use; choose another name",
                    at_key=True,
                )
    for cls in classes:
        body = _annotation_names(_member_signatures(cls))
        body |= {p.type for p in cls.parameters}
        members = [("parameters", p.name) for p in cls.parameters]
        members += [("methods", m.name) for m in cls.methods] + [("enter", h.name) for h in cls.enter]
        members += [("exit", h.name) for h in cls.exit]
        for key, name in members:
            if name in body & handlers.BUILTIN_NAMES:
                where = ("classes", cls.name, "parameters", name) if key == "parameters" else ("classes", cls.name, key)
                s.report(
                    where,
                    f"{name!r} cannot name a member of class {cls.name}: the generated class body uses the builtin "
                    f"{name} (in an annotation or a parameter type); rename it",
                    at_key=key == "parameters",
                )


def _check_alias_shadowing(s: Session, functions: Sequence[ir.Function]) -> None:
    """A wrapper calls its handler as `alias.name(...)`: a parameter of that name would stand for the module. The
    alias avoids the parameter names of the module it imports; a handler re-exported from another module
    (`from .impl import f`) brings parameters from there."""
    for function in functions:
        alias = function.handler.module_alias
        if any(p.name == alias for p in function.handler.signature.parameters):
            s.report(
                ("functions", function.name, "handler"),
                f"{function.handler.qualname}() has a parameter named {alias!r}, the name the generated module "
                "imports its module as; rename the parameter",
            )


def _check_entrypoint_targets(s: Session, declared: Sequence[ir.Entrypoint]) -> None:
    for entrypoint in declared:
        if entrypoint.function in pyliteral.ENTRYPOINT_LOCALS:
            s.report(
                ("entrypoints", entrypoint.name, entrypoint.mode),
                f"an entrypoint cannot call a function named {entrypoint.function!r}: the generated entrypoint's "
                f"own `{entrypoint.function}` stands for it there; rename the function",
            )


def _check_unused(s: Session) -> None:
    for section, used in s.used.items():
        for alias in s.data.get(section, {}):
            if alias not in used:
                kind = section[:-1].replace("_", " ")
                s.warn((section, alias), f"{kind} {alias!r} is declared but never used", at_key=True)


def _user_modules(s: Session) -> tuple[tuple[str, str, str | None], ...]:
    rows = []
    for module, alias in sorted(s.module_aliases.items()):
        for image in sorted(s.module_images.get(module, set())):
            rows.append((module, alias, image))
    return tuple(rows)
