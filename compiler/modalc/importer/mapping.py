"""What the recorder saw, as manifest data: apps, images, storage, functions, classes and entrypoints.

Each object the app built becomes the manifest key that compiles back to it. Objects are named by the variable
(or dict key) the app's module binds them to; values computed by module-level code are what they were at
import time, and `values.py` adds a comment saying where they came from. Whatever has no manifest key is a
`Problem` at its source line: the import fails (exit 1) unless `--partial`, and a partial import says in the
manifest what it left out.
"""

from __future__ import annotations

import ast
import datetime
import inspect
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from .. import catalog
from ..overlay import OVERLAY_KEYS
from .model import ERROR, NOTE, PYTHON_NAME, Aliases, Problem
from .sdk import RENAMED_KEY, Decoration, ImageCall, Recording, Registration, Site
from .source import SourceIndex

KeyPath = tuple[str | int, ...]

MODAL_DEFAULT_TIMEOUT = 300
RUN_FUNCTION_DEFAULT_TIMEOUT = 3600
WEB_SERVER_DEFAULT_STARTUP = 5.0
HTTP_SERVER_DEFAULT_STARTUP = 30
RETRY_DEFAULTS = {"backoff_coefficient": 2.0, "initial_delay": 1.0, "max_delay": 60.0}
PERIOD_FIELDS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
WEB_DECORATORS = ("fastapi_endpoint", "asgi_app", "wsgi_app", "web_server")
# Decorator keywords with no manifest key, and what to tell the user.
UNSUPPORTED_DECORATOR = {
    "serialized": "serialized=True ships the function pickled, not as code a manifest can name",
    "network_file_systems": "NetworkFileSystems have no manifest key (Modal deprecates them for Volumes)",
    "proxy": "Modal Proxies have no manifest key",
    "i6pn": "i6pn networking has no manifest key (clustered functions get it)",
    "_experimental_restrict_output": "_experimental_restrict_output has no manifest key",
}
# App.function / App.cls keywords -> the manifest key they set (for comments on values from code).
DECORATOR_KEYS = {
    "image": "image",
    "gpu": "gpu",
    "cpu": "cpu",
    "memory": "memory",
    "ephemeral_disk": "ephemeral_disk",
    "timeout": "timeout",
    "startup_timeout": "startup_timeout",
    "retries": "retries",
    "min_containers": "min_containers",
    "max_containers": "max_containers",
    "buffer_containers": "buffer_containers",
    "scaledown_window": "scaledown_window",
    "region": "region",
    "cloud": "cloud",
    "nonpreemptible": "nonpreemptible",
    "enable_memory_snapshot": "memory_snapshot",
    "single_use_containers": "single_use_containers",
    "block_network": "block_network",
    "restrict_modal_access": "restrict_modal_access",
    "routing_region": "routing_region",
    "volumes": "volumes",
    "secrets": "secrets",
    "env": "env",
    "experimental_options": "experimental_options",
    "schedule": "schedule",
}


@dataclass
class Mapped:
    manifest: dict[str, Any]
    comments: dict[KeyPath, list[str]]
    problems: list[Problem]
    local_files: dict[str, Path]  # path in the new project -> the file or directory to copy there
    python_sources: dict[str, Site | None]  # top-level modules an image ships: they must be in the new project
    handler_modules: set[str]  # dotted modules that handlers name
    build_functions: set[tuple[str, str]]  # (module, qualname) of run_function steps
    entrypoints_used: set[str] = field(default_factory=set)  # local entrypoints imported as manifest entrypoints
    local_entrypoints: set[str] = field(default_factory=set)  # those kept as the user's own code (`local`)


@dataclass
class AppInfo:
    impl: Any
    alias: str | None  # None: the main app
    variable: str
    defaults_secrets: list[Any]
    defaults_volumes: dict[Any, Any]
    default_image: Any


class Code:
    """How handlers are named: the user's own module (here), or a modalc-generated one (generated.py)."""

    values_from_code = True  # say in comments which values the app's code computed

    def __init__(self, root: Path, modules: list[ModuleType]):
        self.root = root
        self.modules = modules

    def module_name(self, obj: Any) -> str | None:
        """The dotted module, relative to the project, where a function or class of the user's is defined."""
        name = getattr(obj, "__module__", None)
        module = sys.modules.get(name or "")
        filename = getattr(module, "__file__", None)
        if not name or not filename:
            return None
        try:
            relative = Path(filename).resolve().relative_to(self.root)
        except ValueError:
            return None
        parts = list(relative.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts) if parts else None

    def function_handler(self, reg: Registration, problem: Callable[[str], None]) -> tuple[str, str] | None:
        return self.handler(reg.raw, problem)

    def class_handler(self, reg: Registration, problem: Callable[[str], None]) -> tuple[str, str] | None:
        return self.handler(reg.raw, problem)

    def handler(self, obj: Any, problem: Callable[[str], None]) -> tuple[str, str] | None:
        qualname = getattr(obj, "__qualname__", "")
        if "<locals>" in qualname or "." in qualname:
            problem(f"{qualname} is not defined at module level; a handler is `module:name`")
            return None
        module = self.module_name(obj)
        if module is None:
            problem(f"{qualname} is not defined in a file of the app's directory ({self.root})")
            return None
        return module, qualname

    def build_handler(self, raw_f: Any, problem: Callable[[str], None]) -> tuple[str, str] | None:
        return self.handler(raw_f, problem)

    def hidden_members(self) -> frozenset[str]:
        return frozenset()

    def strip_image_calls(self, calls: list[ImageCall], *, is_leaf: bool) -> list[ImageCall]:
        return calls

    def function_image(self, image: Any, record: Recording, named: dict[int, str]) -> Any:
        return image

    def image_names(self, names: dict[int, str], record: Recording) -> dict[int, str]:
        return names


class Mapper:
    def __init__(
        self,
        *,
        record: Recording,
        app_module: ModuleType,
        app_path: Path,
        root: Path,
        out_dir: Path,
        copy_files: bool,
        index: SourceIndex,
        code: Code,
        cwd: Path,
    ):
        self.record = record
        self.app_module = app_module
        self.app_path = app_path
        self.root = root
        self.out_dir = out_dir
        self.copy_files = copy_files
        self.index = index
        self.code = code
        self.cwd = cwd
        self.problems: list[Problem] = []
        self.comments: dict[KeyPath, list[str]] = {}
        self.sections: dict[str, dict[str, Any]] = {name: {} for name in OVERLAY_KEYS if name != "app"}
        self.aliases = {
            name: Aliases() for name in ("images", "volumes", "secrets", "cloud_buckets", "queues", "dicts")
        }
        self.python_names = Aliases(PYTHON_NAME)
        self.declared: dict[tuple[str, int], str] = {}  # (section, id of the object) -> alias
        self.same_lookups: dict[tuple[str, str], str] = {}  # (section, a lookup's arguments) -> its alias
        self.local_files: dict[str, Path] = {}
        self.python_sources: dict[str, Site | None] = {}
        self.handler_modules: set[str] = set()
        self.build_functions: set[tuple[str, str]] = set()
        self.entrypoints_used: set[str] = set()
        self.local_entrypoints: set[str] = set()
        self.sites: dict[KeyPath, Site] = {}  # where each manifest entry came from, for the compiler's errors
        self.names = self._names()

    # -- reporting -------------------------------------------------------------------------------------------

    def problem(self, site: Site | None, message: str) -> None:
        self.problems.append(Problem(site, message, ERROR))

    def note(self, site: Site | None, message: str) -> None:
        self.problems.append(Problem(site, message, NOTE))

    def site(self, path: KeyPath, site: Site | None) -> None:
        if site is not None:
            self.sites.setdefault(path, site)

    def site_of(self, path: KeyPath) -> Site | None:
        """The source line of the longest prefix of a manifest key path that came from one."""
        for end in range(len(path), 0, -1):
            found = self.sites.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def comment(self, path: KeyPath, text: str) -> None:
        lines = self.comments.setdefault(path, [])
        if text not in lines:
            lines.append(text)

    # -- names -----------------------------------------------------------------------------------------------

    def _names(self) -> dict[int, str]:
        """What the app's modules call each object: a module-level variable, or a key of a module-level dict."""
        names: dict[int, str] = {}
        for module in self.code.modules:
            for name, value in list(vars(module).items()):
                if name.startswith("__"):
                    continue
                if isinstance(value, dict):
                    for key, item in value.items():
                        if isinstance(key, str) and _is_modal_object(item):
                            names.setdefault(id(item), key)
                elif _is_modal_object(value):
                    names.setdefault(id(value), name)
        return self.code.image_names(names, self.record)

    def alias_for(self, section: str, obj: Any, fallback: str) -> tuple[str, bool]:
        """(alias, new): the alias of an object in a section, allocated on first sight. Two lookups of the same
        secret or volume (`Secret.from_name("hf")` written twice) are one entry."""
        key = (section, id(obj))
        if key in self.declared:
            return self.declared[key], False
        lookup = self.record.lookups.get(id(obj))
        same = (section, repr((lookup.kind, lookup.args, sorted(lookup.kwargs.items())))) if lookup else None
        if same is not None and same in self.same_lookups and id(obj) not in self.names:
            self.declared[key] = self.same_lookups[same]
            return self.same_lookups[same], False
        alias = self.aliases[section].allocate(self.names.get(id(obj), ""), fallback)
        self.declared[key] = alias
        if same is not None:
            self.same_lookups.setdefault(same, alias)
        return alias, True

    # -- the whole app ---------------------------------------------------------------------------------------

    def run(self) -> Mapped:
        apps = self._apps()
        manifest: dict[str, Any] = {"version": 1}
        main = next((a for a in apps if a.alias is None), None)
        if main is None:
            self.problem(None, f"{self.app_path.name} defines no modal.App")
            return self._result(manifest)
        manifest["app"] = self._app_section(main, apps)
        for info in apps:
            if info.alias is not None:
                self.sections["apps"][info.alias] = self._other_app_section(info)
        for reg in self.record.registrations:
            owner = next((a for a in apps if a.impl is reg.app), None)
            if owner is None:
                continue  # an app the module does not expose: reported in _apps
            if reg.is_class:
                self._class(reg, owner)
            else:
                self._function(reg, owner)
        for info in apps:
            self._entrypoints(info)
        self._stores()
        for section, entries in self.sections.items():
            if entries:
                manifest[section] = entries
        return self._result(manifest)

    def _result(self, manifest: dict[str, Any]) -> Mapped:
        return Mapped(
            manifest,
            self.comments,
            self.problems,
            self.local_files,
            self.python_sources,
            self.handler_modules,
            self.build_functions,
            self.entrypoints_used,
            self.local_entrypoints,
        )

    def _apps(self) -> list[AppInfo]:
        """The module's apps: the one named `app` (what `modal deploy` deploys) and the others it defines."""
        import modal

        variables: dict[int, str] = {}
        for name, value in vars(self.app_module).items():
            if isinstance(value, modal.App):
                variables.setdefault(id(value), name)
        registered = {id(reg.app) for reg in self.record.registrations}
        main_id = next((i for i, n in variables.items() if n == "app"), None)
        if main_id is None and len(variables) == 1:
            main_id = next(iter(variables))
        out: list[AppInfo] = []
        for app_id, record in self.record.apps.items():
            variable = variables.get(app_id)
            if variable is None:
                if app_id in registered:
                    self.problem(
                        record.site,
                        f"an App ({record.name!r}) that {self.app_path.name} does not bind to a module-level "
                        "name has functions; `modal deploy` could not deploy it either",
                    )
                continue
            alias = None if app_id == main_id else self.python_names.allocate(variable.removeprefix("app_"), "other")
            if (
                alias is not None
                and app_id not in registered
                and not any(i.other is record.app for i in self.record.includes)
            ):
                continue  # an app nothing registers on: nothing to deploy
            given = record.kwargs
            default_image = self.code.function_image(given.get("image"), self.record, self.names)
            out.append(
                AppInfo(
                    record.app,
                    alias,
                    variable,
                    list(given.get("secrets") or []),
                    dict(given.get("volumes") or {}),
                    default_image,
                )
            )
        if main_id is None and variables:
            self.problem(
                None,
                f"{self.app_path.name} defines several apps ({', '.join(sorted(variables.values()))}) and none is "
                "named `app`, which is the one `modal deploy` deploys",
            )
        return out

    def _app_fields(self, info: AppInfo, path: KeyPath) -> dict[str, Any]:
        record = self.record.apps[id(info.impl)]
        out: dict[str, Any] = {}
        name = record.name
        if not name:
            name = self.app_path.stem.replace("_", "-")
            self.note(record.site, f"the app has no name (modal deploy would refuse it); imported as {name!r}")
        out["name"] = name
        tags = record.kwargs.get("tags") or {}
        if tags:
            out["tags"] = {str(k): str(v) for k, v in tags.items()}
        if info.default_image is not None:
            alias = self.image(info.default_image, (*path, "image"), record.site, f"{info.variable}-image")
            if alias is not None:
                out["image"] = alias
        if info.defaults_secrets:
            out["secrets"] = [
                a for s in info.defaults_secrets if (a := self.secret(s, record.site, (*path, "secrets"))) is not None
            ]
        if info.defaults_volumes:
            out["volumes"] = self.mounts(info.defaults_volumes, record.site, (*path, "volumes"))
        if record.kwargs.get("include_source") is False:
            self.problem(record.site, "include_source=False on the app has no manifest key (modalc ships handlers)")
        return out

    def _app_section(self, main: AppInfo, apps: list[AppInfo]) -> dict[str, Any]:
        out = self._app_fields(main, ("app",))
        includes = []
        for include in self.record.includes:
            other = next((a for a in apps if a.impl is include.other), None)
            if include.app is not main.impl:
                self.problem(include.site, "only the main app can include other apps ([app] include)")
            elif other is None or other.alias is None:
                self.problem(include.site, "the included app is not one the module defines")
            elif not include.inherit_tags and self.record.apps[id(other.impl)].kwargs.get("tags"):
                self.problem(include.site, "include(inherit_tags=False) has no manifest key")
            elif other.alias not in includes:
                includes.append(other.alias)
        if includes:
            out["include"] = includes
        return out

    def _other_app_section(self, info: AppInfo) -> dict[str, Any]:
        return self._app_fields(info, ("apps", str(info.alias)))

    # -- storage ---------------------------------------------------------------------------------------------

    def secret(self, obj: Any, site: Site | None, path: KeyPath) -> str | None:
        impl = obj
        lookup = self.record.lookups.get(id(impl))
        if lookup is None or lookup.kind != "secret":
            kind = lookup.kind if lookup is not None else ""
            reason = {
                "secret_dict": "Secret.from_dict puts the secret's values in code; a manifest names secrets and never "
                "holds their values (create a named secret: modal secret create)",
                "secret_dotenv": "Secret.from_dotenv reads a local .env file; a manifest names secrets (create a named "
                "secret from it: modal secret create NAME --from-dotenv .env)",
                "secret_environ": "Secret.from_local_environ copies local environment variables; a manifest names "
                "secrets and never holds their values",
            }.get(kind, f"a secret made without Secret.from_name ({impl!r})")
            self.problem(lookup.site if lookup is not None else site, reason)
            return None
        alias, new = self.alias_for("secrets", impl, str(lookup.args[0] if lookup.args else lookup.kwargs.get("name")))
        if new:
            name = lookup.args[0] if lookup.args else lookup.kwargs.get("name")
            entry: dict[str, Any] = {}
            if name != alias:
                entry["name"] = name
            if lookup.kwargs.get("environment_name"):
                entry["environment"] = lookup.kwargs["environment_name"]
            if lookup.kwargs.get("required_keys"):
                entry["required_keys"] = list(lookup.kwargs["required_keys"])
            self.sections["secrets"][alias] = entry
            self.site(("secrets", alias), lookup.site)
            self.lookup_comment(lookup.site, "from_name", ("secrets", alias))
        return alias

    def volume(self, obj: Any, site: Site | None) -> str | None:
        impl = obj
        lookup = self.record.lookups.get(id(impl))
        if lookup is None or lookup.kind != "volume":
            self.problem(site, f"a volume made without Volume.from_name ({impl!r})")
            return None
        name = lookup.args[0] if lookup.args else lookup.kwargs.get("name")
        alias, new = self.alias_for("volumes", impl, str(name))
        if new:
            entry: dict[str, Any] = {}
            if name != alias:
                entry["name"] = name
            if lookup.kwargs.get("environment_name"):
                entry["environment"] = lookup.kwargs["environment_name"]
            if lookup.kwargs.get("create_if_missing"):
                entry["create_if_missing"] = True
            version = lookup.kwargs.get("version")
            if version:  # 0: unspecified, Modal's default
                entry["version"] = int(version)
            if lookup.kwargs.get("create_options") is not None:
                self.problem(lookup.site, "Volume.from_name(create_options=...) has no manifest key")
            self.sections["volumes"][alias] = entry
            self.site(("volumes", alias), lookup.site)
            self.lookup_comment(lookup.site, "from_name", ("volumes", alias))
        return alias

    def bucket(self, obj: Any, site: Site | None) -> str | None:
        given = self.record.buckets.get(id(obj))
        if given is None:
            self.problem(site, "a CloudBucketMount made before the app was imported cannot be read back")
            return None
        alias, new = self.alias_for("cloud_buckets", obj, str(given.get("bucket_name")))
        if new:
            entry: dict[str, Any] = {"bucket_name": given.get("bucket_name")}
            for attribute, key in (
                ("bucket_endpoint_url", "endpoint_url"),
                ("key_prefix", "key_prefix"),
                ("oidc_auth_role_arn", "oidc_auth_role_arn"),
            ):
                if given.get(attribute):
                    entry[key] = given[attribute]
            for key in ("read_only", "requester_pays", "force_path_style"):
                if given.get(key):
                    entry[key] = True
            if given.get("secret") is not None:
                secret = self.secret(given["secret"], site, ("cloud_buckets", alias, "secret"))
                if secret is not None:
                    entry["secret"] = secret
            self.sections["cloud_buckets"][alias] = entry
        return alias

    def mounts(self, volumes: dict[Any, Any], site: Site | None, path: KeyPath) -> dict[str, Any]:
        import modal

        out: dict[str, Any] = {}
        for mount_path, obj in volumes.items():
            key = str(PurePosixPath(mount_path))
            impl = obj
            if isinstance(impl, modal.CloudBucketMount):
                bucket = self.bucket(impl, site)
                if bucket is not None:
                    out[key] = {"bucket": bucket}
                continue
            options = self.record.mount_options.get(id(impl))
            base = options.volume if options is not None else impl
            alias = self.volume(base, site)
            if alias is None:
                continue
            if options is None:
                out[key] = alias
                continue
            mount: dict[str, Any] = {"volume": alias}
            if options.read_only is not None:
                mount["read_only"] = options.read_only
            if options.sub_path is not None:
                mount["sub_path"] = options.sub_path
            out[key] = mount
        return out

    def _stores(self) -> None:
        """Queues and dicts the module looks up: declared, so plans and preflight know them (code reaches them as
        it always did)."""
        for impl_id, lookup in self.record.lookups.items():
            if lookup.kind not in ("queue", "dict"):
                continue
            section = "queues" if lookup.kind == "queue" else "dicts"
            name = lookup.args[0] if lookup.args else lookup.kwargs.get("name")
            alias = self.aliases[section].allocate(self.names.get(impl_id, ""), str(name))
            entry: dict[str, Any] = {}
            if name != alias:
                entry["name"] = name
            if lookup.kwargs.get("environment_name"):
                entry["environment"] = lookup.kwargs["environment_name"]
            if lookup.kwargs.get("create_if_missing"):
                entry["create_if_missing"] = True
            self.sections[section][alias] = entry
            self.lookup_comment(lookup.site, "from_name", (section, alias))
        for lookup in self.record.lookups.values():
            if lookup.kind in ("network_file_system", "proxy"):
                what = "NetworkFileSystem" if lookup.kind == "network_file_system" else "Proxy"
                if not any(
                    p.site == lookup.site and what in p.message for p in self.problems
                ):  # reported once, where it is looked up
                    self.problem(lookup.site, f"modal.{what} has no manifest key")

    # -- images ----------------------------------------------------------------------------------------------

    def image(self, obj: Any, path: KeyPath, site: Site | None, fallback: str) -> str | None:
        """The alias of an image, declaring it (and the named images it is built on) on first use."""
        impl = obj
        key = ("images", id(impl))
        if key in self.declared:
            return self.declared[key]
        from .images import ImageReader

        return ImageReader(self).declare(impl, site, fallback)

    # -- functions and classes -------------------------------------------------------------------------------

    def _settings(self, reg: Registration, owner: AppInfo, path: KeyPath, kind: str) -> dict[str, Any]:
        raw, site = reg.decorator, reg.decorator_site
        decorations = {d.name: d for d in reg.decorations}
        out: dict[str, Any] = {}
        if owner.alias is not None:
            out["app"] = owner.alias
        image = self.code.function_image(raw.get("image"), self.record, self.names)
        if image is not None and image is not owner.default_image:
            alias = self.image(image, (*path, "image"), site, f"{path[1]}-image")
            if alias is not None:
                out["image"] = alias
        gpu = raw.get("gpu")
        if gpu:
            parsed = []
            for text in [gpu] if isinstance(gpu, str) else list(gpu):
                name, problem = catalog.parse_gpu(str(text))
                if problem or name is None:
                    self.problem(site, f"gpu {text!r}: {problem}")
                else:
                    parsed.append(name)
            if parsed:
                out["gpu"] = parsed[0] if isinstance(gpu, str) else parsed
        for key in ("cpu", "memory"):
            value = raw.get(key)
            if value is not None:
                out[key] = list(value) if isinstance(value, (tuple, list)) else value
        if raw.get("ephemeral_disk") is not None:
            out["ephemeral_disk"] = raw["ephemeral_disk"]
        timeout = raw.get("timeout", MODAL_DEFAULT_TIMEOUT)
        if timeout != MODAL_DEFAULT_TIMEOUT:
            out["timeout"] = timeout
        if raw.get("startup_timeout") is not None:
            out["startup_timeout"] = raw["startup_timeout"]
        retries = raw.get("retries")
        if retries is not None:
            out["retries"] = _retries(retries, self.written_call(reg, "retries"))
        for key in ("min_containers", "max_containers", "buffer_containers", "scaledown_window"):
            if raw.get(key) is not None:
                out[key] = raw[key]
        region = raw.get("region")
        if region:
            out["region"] = region if isinstance(region, str) else list(region)
        if raw.get("cloud"):
            out["cloud"] = raw["cloud"]
        if raw.get("nonpreemptible"):
            out["nonpreemptible"] = True
        if raw.get("enable_memory_snapshot"):
            out["memory_snapshot"] = True
        concurrent = decorations.get("concurrent")
        if concurrent is not None:
            concurrency: dict[str, Any] = {}
            if concurrent.kwargs.get("max_inputs") is not None:
                concurrency["max_inputs"] = concurrent.kwargs["max_inputs"]
            target = concurrent.kwargs.get("target_inputs")
            if target is not None:
                if isinstance(target, float) and not target.is_integer():
                    self.problem(concurrent.site, f"target_inputs={target}: a manifest takes whole numbers")
                concurrency["target_inputs"] = int(target)
            out["concurrency"] = concurrency
        if raw.get("single_use_containers"):
            out["single_use_containers"] = True
        if raw.get("block_network"):
            out["block_network"] = True
        if raw.get("restrict_modal_access"):
            out["restrict_modal_access"] = True
        if raw.get("routing_region"):
            out["routing_region"] = str(raw["routing_region"])
        volumes = dict(raw.get("volumes") or {})
        if volumes:
            out["volumes"] = self.mounts(volumes, site, (*path, "volumes"))
        secrets = list(raw.get("secrets") or [])
        if secrets:
            out["secrets"] = [a for s in secrets if (a := self.secret(s, site, (*path, "secrets"))) is not None]
        env = raw.get("env")
        if env:
            unset = [k for k, v in env.items() if v is None]
            if unset:
                self.problem(site, f"env {unset[0]!r}: None (unset a variable) has no manifest form")
            out["env"] = {str(k): str(v) for k, v in env.items() if v is not None}
        options = raw.get("experimental_options")
        if options:
            good = {}
            for option, value in options.items():
                if isinstance(value, (str, int, float, bool)) and not (isinstance(value, float) and math.isnan(value)):
                    good[str(option)] = value
                else:
                    self.problem(site, f"experimental_options[{option!r}] = {value!r}: a manifest takes scalars")
            if good:
                out["experimental_options"] = good
        clustered = decorations.get("clustered") or decorations.get("experimental.clustered")
        if clustered is not None:
            size = clustered.kwargs.get("size", clustered.args[0] if clustered.args else None)
            cluster: dict[str, Any] = {"size": size}
            if clustered.kwargs.get("rdma") is not None:
                cluster["rdma"] = bool(clustered.kwargs["rdma"])
            out["clustered"] = cluster
            if clustered.name == "experimental.clustered":
                self.note(clustered.site, "modal.experimental.clustered is deprecated; imported as clustered")
                if clustered.kwargs.get("fabric_size") is not None:
                    self.problem(clustered.site, "fabric_size (modal.experimental.clustered) has no manifest key")
        for key, why in UNSUPPORTED_DECORATOR.items():
            value = raw.get(key)
            if value and not (key == "i6pn" and clustered is not None):
                self.problem(site, f"{key}=: {why}")
        if raw.get("include_source") is False:
            self.problem(site, "include_source=False has no manifest key (modalc ships the handler's package)")
        renamed = raw.get(RENAMED_KEY) or {}
        for new, old in renamed.items():
            if new in out or new == "concurrency":
                self.comment((*path, new), f"was {old} (a deprecated Modal parameter)")
        return out

    def _function(self, reg: Registration, owner: AppInfo) -> None:
        raw, site = reg.decorator, reg.decorator_site or self._def_site(reg.raw)
        name = reg.name
        if not self._python_name(name, site, "function"):
            return
        path: KeyPath = ("functions", name)

        def problem(message: str) -> None:
            self.problem(site, f"function {name}: {message}")

        handler = self.code.function_handler(reg, problem)
        if handler is None:
            return
        entry: dict[str, Any] = {"handler": f"{handler[0]}:{handler[1]}"}
        self.handler_modules.add(handler[0])
        entry.update(self._settings(reg, owner, path, "function"))
        schedule = raw.get("schedule")
        if schedule is not None:
            entry["schedule"] = _schedule(schedule)
        for decoration in reg.decorations:
            if decoration.name in WEB_DECORATORS:
                entry["web"] = _web(decoration)
            elif decoration.name == "batched":
                entry["batched"] = _batched(decoration)
            elif decoration.name == "experimental.http_server":
                problem("modal.experimental.http_server decorates classes; Modal ignores it on a function")
        self.sections["functions"][name] = _ordered(entry)
        self.site(path, site)
        self._default_image(reg, owner, path, site)
        from .values import decorator_comments

        decorator_comments(self, reg, path)

    def _class(self, reg: Registration, owner: AppInfo) -> None:
        user_cls = reg.raw
        name = reg.name
        site = reg.decorator_site or self._def_site(user_cls)
        if not self._python_name(name, site, "class"):
            return
        path: KeyPath = ("classes", name)

        def problem(message: str) -> None:
            self.problem(site, f"class {name}: {message}")

        handler = self.code.class_handler(reg, problem)
        if handler is None:
            return
        entry: dict[str, Any] = {"handler": f"{handler[0]}:{handler[1]}"}
        self.handler_modules.add(handler[0])
        entry.update(self._settings(reg, owner, path, "class"))
        server = next((d for d in reg.decorations if d.name == "experimental.http_server"), None)
        if server is not None:
            entry["http_server"] = _http_server(server)
        parameters = self._class_parameters(user_cls, problem)
        if parameters:
            entry["parameters"] = parameters
        hidden = self.code.hidden_members()
        enter: list[Any] = []
        exit_hooks: list[str] = []
        methods: dict[str, dict[str, Any]] = {}
        for member, value in user_cls.__dict__.items():
            stack = self.record.decorations.get(id(value))
            if not stack or member in hidden:
                continue
            options: dict[str, Any] = {}
            interface = False
            for decoration in stack:
                if decoration.name == "enter":
                    snap = bool(decoration.kwargs.get("snap"))
                    enter.append({"method": member, "snap": True} if snap else member)
                elif decoration.name == "exit":
                    exit_hooks.append(member)
                elif decoration.name == "method":
                    interface = True
                elif decoration.name == "batched":
                    interface = True
                    options["batched"] = _batched(decoration)
                elif decoration.name in WEB_DECORATORS:
                    interface = True
                    options["web"] = _web(decoration)
                elif decoration.name in ("clustered", "experimental.clustered"):
                    problem(f"@modal.clustered on method {member} is ignored by Modal; decorate the class")
            if interface:
                methods[member] = options
        for base in user_cls.__mro__[1:-1]:
            for member, value in base.__dict__.items():
                if id(value) in self.record.decorations and member not in user_cls.__dict__:
                    problem(f"{member} is a Modal method inherited from {base.__name__}; define it in {name}")
        if enter:
            entry["enter"] = enter
        if exit_hooks:
            entry["exit"] = exit_hooks
        if methods:
            entry["methods"] = list(methods) if not any(methods.values()) else methods
        self.sections["classes"][name] = _ordered(entry)
        self.site(path, site)
        self._default_image(reg, owner, path, site)
        from .values import class_parameter_comments, decorator_comments

        decorator_comments(self, reg, path)
        class_parameter_comments(self, user_cls, path)

    def _class_parameters(self, user_cls: Any, problem: Callable[[str], None]) -> dict[str, Any]:
        annotations = getattr(user_cls, "__annotations__", {})
        out: dict[str, Any] = {}
        for name, value in user_cls.__dict__.items():
            parameter = self.record.parameters.get(id(value))
            if parameter is None:
                continue
            if not parameter.init:
                problem(f"modal.parameter(init=False) {name} has no manifest key")
                continue
            annotation = annotations.get(name)
            kind = PARAMETER_TYPES.get(annotation) if isinstance(annotation, type) else None
            if kind is None:
                problem(f"parameter {name}: {annotation!r}; class parameters are str, int, bool or bytes")
                continue
            if not parameter.has_default:
                out[name] = kind
                continue
            default = parameter.default
            if kind == "bytes" and isinstance(default, bytes):
                try:
                    default = default.decode("utf-8")
                except UnicodeDecodeError:
                    problem(f"parameter {name}: its default is not UTF-8 text")
                    continue
            out[name] = {"type": kind, "default": default}
        return out

    def _default_image(self, reg: Registration, owner: AppInfo, path: KeyPath, site: Site | None) -> None:
        """A function with no image anywhere runs Modal's default image: debian_slim with the importing Python."""
        if reg.decorator.get("image") is not None or owner.default_image is not None:
            return
        entry = self.sections[str(path[0])][str(path[1])]
        key = ("images", 0)  # Modal's one default image
        alias = self.declared.get(key)
        if alias is None:
            alias = self.aliases["images"].allocate("default", "default")
            self.declared[key] = alias
            python = "{}.{}".format(*sys.version_info)
            self.sections["images"][alias] = {"base": "debian_slim", "python": python}
            self.comment(
                ("images", alias),
                f"Modal's default image (no image= anywhere): debian_slim with the Python that imported the app, "
                f"pinned to {python}",
            )
        entry["image"] = alias
        self.sections[str(path[0])][str(path[1])] = _ordered(entry)

    def _python_name(self, name: str, site: Site | None, kind: str) -> bool:
        from ..pyliteral import RESERVED_NAMES, is_identifier

        if not PYTHON_NAME.match(name) or not is_identifier(name):
            self.problem(site, f"{kind} {name!r}: manifest names are Python names (a letter, then letters, digits, _)")
            return False
        if name in RESERVED_NAMES:
            self.problem(site, f"{kind} {name!r}: the generated module defines that name; rename it")
            return False
        if name in self.sections["functions"] or name in self.sections["classes"]:
            self.problem(site, f"{kind} {name!r} is registered twice")
            return False
        return True

    def _def_site(self, obj: Any) -> Site | None:
        try:
            filename = inspect.getsourcefile(obj)
            _, line = inspect.getsourcelines(obj)
        except (OSError, TypeError):
            return None
        return Site(Path(filename).resolve(), line) if filename else None

    # -- what the code wrote --------------------------------------------------------------------------------

    def written_call(self, reg: Registration, keyword: str) -> dict[str, Any] | None:
        """The literal keywords of the call a decorator keyword was given (`retries=modal.Retries(...)`)."""
        site = reg.decorator_site
        if site is None:
            return None
        call = self.index.call_at(site.file, site.line, "cls" if reg.is_class else "function")
        if call is None:
            return None
        for item in call.keywords:
            if item.arg == keyword and isinstance(item.value, ast.Call):
                return _literal_keywords(item.value)
        return None

    # -- local files -----------------------------------------------------------------------------------------

    def local_path(self, given: Any, site: Site | None, what: str, *, directory: bool = False) -> str | None:
        """A local file or directory the app uses, as a path relative to the new project: referenced when it is
        inside it, copied into it with --copy-files, else reported."""
        path = Path(given)
        if not path.is_absolute():
            path = self.cwd / path
        path = Path(_normalized(path))
        if not path.exists():
            self.problem(site, f"{what} {str(given)!r} does not exist")
            return None
        try:
            return path.relative_to(self.out_dir).as_posix() or "."
        except ValueError:
            pass
        try:
            relative = path.relative_to(self.root).as_posix() or "."
        except ValueError:
            self.problem(
                site,
                f"{what} {str(given)!r} is outside both the new project and the app's directory; move it into "
                "the app's directory, or import into a directory that contains it",
            )
            return None
        if not self.copy_files:
            self.problem(
                site,
                f"{what} {relative!r} is outside {self.out_dir.name}/; pass --copy-files to copy it into the new "
                "project, or import into a directory that contains it",
            )
            return None
        if relative != ".":
            self.local_files[relative] = path
        return relative

    # -- entrypoints -----------------------------------------------------------------------------------------

    def _entrypoints(self, info: AppInfo) -> None:
        from .entrypoints import read_entrypoint

        for entrypoint in self.record.entrypoints:
            if entrypoint.app is not info.impl:
                continue
            name, raw_f = entrypoint.name, entrypoint.raw
            site = self._def_site(raw_f) or entrypoint.site
            if info.alias is not None:
                self.problem(site, f"local entrypoint {name}: an entrypoint runs the main app; this one is on another")
                continue
            spec = read_entrypoint(self, name, raw_f, site)
            if spec is None or not self._entrypoint_name(name, site):
                continue
            self.sections["entrypoints"][name] = spec
            self.site(("entrypoints", name), site)
            self.entrypoints_used.add(name)

    def _entrypoint_name(self, name: str, site: Site | None) -> bool:
        if name in self.sections["functions"] or name in self.sections["classes"]:
            self.problem(site, f"local entrypoint {name!r} has the name of a function or class; rename it")
            return False
        return self._python_name(name, site, "local entrypoint") if name not in self.sections["entrypoints"] else False

    # -- comments on values from code ------------------------------------------------------------------------

    def lookup_comment(self, site: Site | None, method: str, path: KeyPath) -> None:
        from .values import call_comment

        call_comment(self, site, method, path)


# --- value conversions ---------------------------------------------------------------------------------------


def _literal_keywords(call: ast.Call) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        try:
            out[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            out[keyword.arg] = None  # written, but computed
    return out


def _is_modal_object(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("modal.") or module == "modal"


def _normalized(path: Path) -> str:
    import os

    return os.path.normpath(str(path))


def _seconds(value: Any) -> float:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _retries(retries: Any, written: dict[str, Any] | None = None) -> Any:
    """A count, or a policy: the keys the code wrote (as written, when they are literals) and any other that
    is not Modal's default."""
    if isinstance(retries, int):
        return retries
    out: dict[str, Any] = {"max_retries": retries.max_retries}
    written = written or {}
    for key, default in RETRY_DEFAULTS.items():
        value = getattr(retries, key, None)
        if value is None:
            continue
        seconds = _seconds(value) if key != "backoff_coefficient" else float(value)
        if key in written and isinstance(written[key], (int, float)) and float(written[key]) == seconds:
            out[key] = written[key]
        elif seconds != default:
            out[key] = _number(seconds)
    return out


def _schedule(schedule: Any) -> dict[str, Any]:
    proto = schedule.proto_message
    if proto.HasField("cron"):
        out: dict[str, Any] = {"cron": proto.cron.cron_string}
        if proto.cron.timezone and proto.cron.timezone != "UTC":
            out["timezone"] = proto.cron.timezone
        return out
    period = {}
    for name in PERIOD_FIELDS:
        value = getattr(proto.period, name)
        if value:
            period[name] = _number(value) if name == "seconds" else int(value)
    return {"period": period}


WEB_KINDS = {"fastapi_endpoint": "fastapi", "asgi_app": "asgi", "wsgi_app": "wsgi", "web_server": "web_server"}


def _web(decoration: Decoration) -> dict[str, Any]:
    """The endpoint's table: what its decorator was given (None is not given)."""
    kind = WEB_KINDS[decoration.name]
    given = {k: v for k, v in decoration.kwargs.items() if v is not None}
    out: dict[str, Any] = {"type": kind}
    if kind == "fastapi":
        if "method" in given:
            out["method"] = str(given["method"]).upper()
        if "docs" in given:
            out["docs"] = bool(given["docs"])
    if kind == "web_server":
        out["port"] = decoration.args[0] if decoration.args else given.get("port")
        if "startup_timeout" in given:
            out["startup_timeout"] = _number(float(given["startup_timeout"]))
    if "label" in given:
        out["label"] = given["label"]
    if given.get("custom_domains"):
        out["custom_domains"] = list(given["custom_domains"])
    if "requires_proxy_auth" in given:
        out["requires_proxy_auth"] = bool(given["requires_proxy_auth"])
    return out


def _batched(decoration: Decoration) -> dict[str, Any]:
    return {"max_batch_size": decoration.kwargs.get("max_batch_size"), "wait_ms": decoration.kwargs.get("wait_ms", 0)}


def _http_server(decoration: Decoration) -> dict[str, Any]:
    given = {k: v for k, v in decoration.kwargs.items() if v is not None}
    port = decoration.args[0] if decoration.args else given.get("port")
    out: dict[str, Any] = {"port": port, "proxy_regions": list(given.get("proxy_regions") or [])}
    for key in ("startup_timeout", "exit_grace_period", "h2_enabled"):
        if key in given:
            out[key] = given[key]
    return out


PARAMETER_TYPES = {str: "str", int: "int", bool: "bool", bytes: "bytes"}


KEY_ORDER = (
    "handler",
    "app",
    "image",
    "gpu",
    "cpu",
    "memory",
    "ephemeral_disk",
    "timeout",
    "startup_timeout",
    "retries",
    "min_containers",
    "max_containers",
    "buffer_containers",
    "scaledown_window",
    "region",
    "cloud",
    "nonpreemptible",
    "memory_snapshot",
    "experimental_options",
    "concurrency",
    "single_use_containers",
    "block_network",
    "restrict_modal_access",
    "routing_region",
    "clustered",
    "volumes",
    "secrets",
    "env",
    "schedule",
    "web",
    "batched",
    "http_server",
    "parameters",
    "enter",
    "exit",
    "methods",
)


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(KEY_ORDER)}
    return dict(sorted(entry.items(), key=lambda item: rank.get(item[0], len(rank))))


def literal_tree(value: Any) -> bool:
    """A value a manifest can hold: JSON-like scalars, lists and string-keyed tables."""
    if isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(literal_tree(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and literal_tree(v) for k, v in value.items())
    return False


def as_manifest_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [as_manifest_value(v) for v in value]
    if isinstance(value, list):
        return [as_manifest_value(v) for v in value]
    if isinstance(value, dict):
        return {k: as_manifest_value(v) for k, v in value.items()}
    return value


def names_in(nodes: Iterable[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}
