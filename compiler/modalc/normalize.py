"""Normalize stage: a validated manifest -> one frozen `ir.App` per environment.

Here the manifest's meaning is settled: environment overlays are merged, defaults applied, references to
images, volumes, secrets and buckets resolved, GPU strings parsed, cron strings and time zones checked,
handlers resolved in the user's source, and every rule Modal would only enforce at deploy time (or not at
all) checked now, at the manifest's line.
"""

from __future__ import annotations

import ast
import copy
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import catalog, cron, handlers, ir, pyliteral
from .diagnostics import ERROR, WARNING, Diagnostic, KeyPath, did_you_mean, quote_choices
from .load import SourceMap
from .paths import module_stem

OVERLAY_KEYS = ("app", "images", "volumes", "secrets", "cloud_buckets", "functions", "classes", "entrypoints")
FORBIDDEN_MOUNT_PATHS = frozenset({"/", "/root", "/tmp"})
APP_ID_SHAPE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
DEFAULT_ENVIRONMENT = "default"
WEB_ROLES = {
    "asgi": "an ASGI app factory",
    "wsgi": "a WSGI app factory",
    "web_server": "a web server function",
}
CLASS_INSTANCE_ATTRIBUTE = "_user_instance"
# Names a member of the generated class cannot take: the class body's `modal.*` decorators and parameter
# defaults look `modal` up in the class namespace first, and `self` is the instance.
CLASS_MEMBER_RESERVED = frozenset({"modal", "self"})

# --- environments -----------------------------------------------------------------------------------


def declared_environments(data: Mapping[str, Any]) -> list[ir.Environment]:
    """The environments a manifest declares, in its order; one implicit environment if it declares none."""
    declared = data.get("environments") or {}
    if not isinstance(declared, dict) or not declared:
        return [ir.Environment(DEFAULT_ENVIRONMENT, "", False, declared=False)]
    out = []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        modal_environment = spec.get("modal_environment", name)
        out.append(ir.Environment(name, str(modal_environment), bool(spec.get("protected", False))))
    return out


@dataclass(frozen=True)
class Overlaid:
    """A manifest with one environment's overrides merged in, and where each merged value came from."""

    data: dict[str, Any]
    origins: dict[KeyPath, KeyPath]
    new_entries: frozenset[KeyPath] = frozenset()
    replaced: dict[KeyPath, Any] = field(default_factory=dict)  # base values an overlay replaced

    def source_path(self, path: KeyPath) -> KeyPath:
        for length in range(len(path), 0, -1):
            origin = self.origins.get(path[:length])
            if origin is not None:
                return origin + path[length:]
        return path


def _int(value: Any) -> Any:
    """An integral float where the schema wants an integer (TOML `300.0`) becomes the int it means."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_int(v) for v in value]
    return value


def apply_environment(data: Mapping[str, Any], environment: ir.Environment) -> Overlaid:
    """Deep-merge an environment's overrides: tables merge; lists, scalars and `false` replace."""
    base = {k: copy.deepcopy(v) for k, v in data.items() if k != "environments"}
    if not environment.declared:
        return Overlaid(base, {})
    environments = data.get("environments")
    spec = environments.get(environment.name) if isinstance(environments, dict) else None
    if not isinstance(spec, dict):
        spec = {}  # malformed: validation reports it
    origins: dict[KeyPath, KeyPath] = {}
    replaced: dict[KeyPath, Any] = {}
    new_entries: set[KeyPath] = set()
    prefix: KeyPath = ("environments", environment.name)
    for key in OVERLAY_KEYS:
        if key not in spec:
            continue
        existing = base.get(key)
        if key != "app" and isinstance(spec[key], dict):
            known = existing if isinstance(existing, dict) else {}
            new_entries.update((key, name) for name in spec[key] if name not in known)
        base[key] = _merge(existing, spec[key], (key,), prefix + (key,), origins, replaced)
    return Overlaid(base, origins, frozenset(new_entries), replaced)


def _merge(
    base: Any,
    overlay: Any,
    path: KeyPath,
    source: KeyPath,
    origins: dict[KeyPath, KeyPath],
    replaced: dict[KeyPath, Any],
) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base.get(key), value, path + (key,), source + (key,), origins, replaced)
        return merged
    origins[path] = source
    if base is not None:
        replaced[path] = base
    return copy.deepcopy(overlay)


# --- the normalizer ---------------------------------------------------------------------------------


@dataclass
class Project:
    """Where the manifest lives and where output goes; the only facts about disk that normalize reads."""

    manifest_path: Path  # resolved
    out_dir: Path  # resolved
    touched: set[Path] = field(default_factory=set)  # every path whose state the result depends on

    @property
    def directory(self) -> Path:
        return self.manifest_path.parent


@dataclass
class _Context:
    source_map: SourceMap
    path_map: Callable[[KeyPath], KeyPath]
    environment: ir.Environment
    project: Project
    manifest_format: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def report(
        self, path: KeyPath, message: str, *, hint: str | None = None, at_key: bool = False, severity: str = ERROR
    ) -> None:
        source = self.path_map(tuple(path))
        line, column = self.source_map.key_position(source) if at_key else self.source_map.value_position(source)
        self.diagnostics.append(Diagnostic(self.source_map.file, line, column, message, source, severity, hint))

    def warn(self, path: KeyPath, message: str, *, hint: str | None = None, at_key: bool = False) -> None:
        self.report(path, message, hint=hint, at_key=at_key, severity=WARNING)


def normalize_app(
    overlaid: Overlaid,
    *,
    source_map: SourceMap,
    environment: ir.Environment,
    project: Project,
    manifest_format: str,
    source_tree: handlers.SourceTree | None = None,
) -> tuple[ir.App | None, list[Diagnostic]]:
    """Build the IR for one environment; returns (None, diagnostics) if anything is an error."""
    context = _Context(source_map, overlaid.source_path, environment, project, manifest_format)
    normalizer = _Normalizer(overlaid.data, context, source_tree, overlaid.replaced)
    app = normalizer.run()
    errors = any(d.severity == ERROR for d in context.diagnostics)
    return (None if errors else app), context.diagnostics


class _Normalizer:
    def __init__(
        self,
        data: dict[str, Any],
        context: _Context,
        source_tree: handlers.SourceTree | None,
        replaced: dict[KeyPath, Any] | None = None,
    ):
        self.data = data
        self.ctx = context
        self.replaced = replaced or {}
        app = data.get("app", {})
        self.source_dir = app.get("source_dir", ".")
        root = (context.project.directory / self.source_dir).resolve()
        self.tree = source_tree or handlers.SourceTree(root, context.project.directory, context.project.touched)
        self.module_aliases: dict[str, str] = {}
        self.module_images: dict[str, set[str]] = {}
        self.source_ok = True
        self.used: dict[str, set[str]] = {"images": set(), "volumes": set(), "secrets": set(), "cloud_buckets": set()}

    # -- entry ----------------------------------------------------------------------------------------

    def run(self) -> ir.App:
        data = self.data
        app = data["app"]
        self._check_environment()
        self._check_source_dir()
        if APP_ID_SHAPE.match(app["name"]):
            self.ctx.report(("app", "name"), f"{app['name']!r} looks like a Modal app id, not a name")
        volumes = tuple(self._volume(alias, spec) for alias, spec in data.get("volumes", {}).items())
        secrets = tuple(self._secret(alias, spec) for alias, spec in data.get("secrets", {}).items())
        buckets = tuple(self._bucket(alias, spec) for alias, spec in data.get("cloud_buckets", {}).items())
        default_image = app.get("image")
        if default_image is not None:
            self._reference("images", default_image, ("app", "image"))
        default_secrets = tuple(self._secret_refs(app.get("secrets", []), ("app", "secrets")))
        default_mounts = self._mounts(app.get("volumes", {}), ("app", "volumes"))
        self._check_names()
        functions = tuple(
            f
            for name, spec in data.get("functions", {}).items()
            if (f := self._function(name, spec, default_image, default_mounts)) is not None
        )
        classes = tuple(
            c
            for name, spec in data.get("classes", {}).items()
            if (c := self._class(name, spec, default_image, default_mounts)) is not None
        )
        entrypoints = tuple(
            e
            for name, spec in data.get("entrypoints", {}).items()
            if (e := self._entrypoint(name, spec, functions)) is not None
        )
        images = tuple(self._image(alias, spec) for alias, spec in data.get("images", {}).items())
        self._check_unused()
        source = ir.SourceInfo(
            manifest_name=self.ctx.project.manifest_path.name,
            manifest_dir_depth=self._output_depth(),
            source_dir=self.source_dir,
            user_modules=self._user_modules(),
        )
        return ir.App(
            name=app["name"],
            environment=self.ctx.environment,
            source=source,
            tags=tuple(sorted(app.get("tags", {}).items())),
            default_image=default_image,
            default_secrets=default_secrets,
            default_mounts=default_mounts,
            images=images,
            volumes=volumes,
            secrets=secrets,
            cloud_buckets=buckets,
            functions=functions,
            classes=classes,
            entrypoints=entrypoints,
        )

    def _check_environment(self) -> None:
        env = self.ctx.environment
        if env.declared and env.modal_environment.startswith("en-"):
            path = ("environments", env.name, "modal_environment")
            self.ctx.report(path, f"{env.modal_environment!r}: Modal environment names cannot start with 'en-'")

    def _check_source_dir(self) -> None:
        project = self.ctx.project.directory
        resolved = (project / self.source_dir).resolve()
        self.ctx.project.touched.add(resolved)
        if not resolved.is_relative_to(project):
            self.ctx.report(("app", "source_dir"), f"{self.source_dir!r} is outside the manifest's directory")
        elif not resolved.is_dir():
            self.ctx.report(("app", "source_dir"), f"{self.source_dir!r} is not a directory")
        else:
            return
        self.source_ok = False  # handlers cannot be resolved; saying so once is enough

    def _output_depth(self) -> int:
        project = self.ctx.project
        try:
            return len(project.out_dir.relative_to(project.directory).parts)
        except ValueError:
            return 0

    # -- names ----------------------------------------------------------------------------------------

    def _check_names(self) -> None:
        seen: dict[str, KeyPath] = {}
        for section in ("functions", "classes", "entrypoints"):
            for name in self.data.get(section, {}):
                path = (section, name)
                if not pyliteral.is_identifier(name):
                    self.ctx.report(path, f"{name!r} is a Python keyword and cannot name a {section[:-1]}", at_key=True)
                elif name in pyliteral.RESERVED_NAMES:
                    self.ctx.report(
                        path, f"{name!r} is a name the generated module defines; choose another", at_key=True
                    )
                if name in seen:
                    other = ".".join(map(str, seen[name]))
                    self.ctx.report(
                        path,
                        f"{name!r} is already declared as {other}; names must be unique "
                        "across functions, classes and entrypoints",
                        at_key=True,
                    )
                else:
                    seen[name] = path

    # -- references -----------------------------------------------------------------------------------

    def _reference(self, section: str, alias: str, path: KeyPath) -> bool:
        declared = self.data.get(section, {})
        if alias in declared:
            self.used[section].add(alias)
            return True
        kind = {"images": "image", "volumes": "volume", "secrets": "secret", "cloud_buckets": "cloud bucket"}[section]
        message = f"no {kind} named {alias!r}"
        suggestion = did_you_mean(alias, declared)
        if suggestion:
            message += f"; did you mean {suggestion!r}?"
        elif declared:
            message += f" (declared: {quote_choices(declared)})"
        else:
            message += (
                f"; declare it under [{section}.{alias}]"
                if self.ctx.manifest_format == "toml"
                else f"; declare it under {section}.{alias}"
            )
        self.ctx.report(path, message)
        return False

    def _secret_refs(self, aliases: list[str], path: KeyPath) -> list[str]:
        return [a for i, a in enumerate(aliases) if self._reference("secrets", a, (*path, i))]

    def _check_unused(self) -> None:
        for section, used in self.used.items():
            for alias in self.data.get(section, {}):
                if alias not in used:
                    kind = section[:-1].replace("_", " ")
                    self.ctx.warn((section, alias), f"{kind} {alias!r} is declared but never used", at_key=True)

    # -- storage and secrets --------------------------------------------------------------------------

    def _volume(self, alias: str, spec: dict[str, Any]) -> ir.Volume:
        return ir.Volume(
            alias, spec.get("name", alias), spec.get("create_if_missing", False), spec.get("read_only", False)
        )

    def _secret(self, alias: str, spec: dict[str, Any]) -> ir.Secret:
        return ir.Secret(alias, spec.get("name", alias), tuple(spec.get("required_keys", [])))

    def _bucket(self, alias: str, spec: dict[str, Any]) -> ir.CloudBucket:
        secret = spec.get("secret")
        if secret is not None:
            self._reference("secrets", secret, ("cloud_buckets", alias, "secret"))
        options = tuple(
            (key, spec[key])
            for key in (
                "endpoint_url",
                "key_prefix",
                "oidc_auth_role_arn",
                "read_only",
                "requester_pays",
                "force_path_style",
            )
            if key in spec
        )
        return ir.CloudBucket(alias, spec["bucket_name"], options, secret)

    def _mounts(self, spec: dict[str, Any], path: KeyPath) -> tuple[ir.Mount, ...]:
        mounts = []
        for mount_path, value in spec.items():
            where = (*path, mount_path)
            canonical = posixpath.normpath(mount_path)
            if canonical.startswith("//"):
                canonical = canonical[1:]
            if canonical != mount_path:
                self.ctx.report(where, f"mount path {mount_path!r} is not canonical; write {canonical!r}", at_key=True)
            elif mount_path in FORBIDDEN_MOUNT_PATHS:
                self.ctx.report(where, f"cannot mount at {mount_path!r}: Modal reserves /, /root and /tmp", at_key=True)
            if isinstance(value, str):
                value = {"volume": value}
                value_path = where
            else:
                value_path = (*where, "volume") if "volume" in value else (*where, "bucket")
            if "volume" in value:
                if self._reference("volumes", value["volume"], value_path):
                    mounts.append(
                        ir.Mount(mount_path, "volume", value["volume"], value.get("read_only"), value.get("sub_path"))
                    )
            elif self._reference("cloud_buckets", value["bucket"], value_path):
                mounts.append(ir.Mount(mount_path, "bucket", value["bucket"]))
        return tuple(mounts)

    def _effective_mounts(self, defaults: tuple[ir.Mount, ...], own: tuple[ir.Mount, ...], path: KeyPath) -> None:
        """Modal refuses one volume mounted at two paths of a function; say so at the manifest's line."""
        merged = {m.path: m for m in (*defaults, *own)}
        by_volume: dict[str, str] = {}
        for mount in merged.values():
            if mount.kind != "volume":
                continue
            if mount.alias in by_volume:
                self.ctx.report(
                    (*path, "volumes"),
                    f"volume {mount.alias!r} is mounted at both "
                    f"{by_volume[mount.alias]!r} and {mount.path!r}; Modal allows one path per volume",
                )
            by_volume[mount.alias] = mount.path

    # -- images ---------------------------------------------------------------------------------------

    def _image(self, alias: str, spec: dict[str, Any]) -> ir.Image:
        path: KeyPath = ("images", alias)
        base = spec["base"]
        allowed = {
            "debian_slim": {"python"},
            "micromamba": {"python"},
            "registry": {"tag", "add_python", "registry_secret"},
            "dockerfile": {"path", "context_dir", "build_args", "add_python"},
        }[base]
        for key in ("python", "tag", "add_python", "registry_secret", "path", "context_dir", "build_args"):
            if key in spec and key not in allowed:
                self.ctx.report((*path, key), f"{key!r} does not apply to base {base!r}", at_key=True)
        python = spec.get("python") if base in ("debian_slim", "micromamba") else spec.get("add_python")
        python_key = "python" if base in ("debian_slim", "micromamba") else "add_python"
        if python is not None:
            self._check_python(python, (*path, python_key))
        elif base in ("debian_slim", "micromamba"):
            self.ctx.report(
                path,
                f"missing required key 'python' for base {base!r}",
                at_key=True,
                hint='pin the version (e.g. python = "3.12"); otherwise Modal copies the deployer\'s',
            )
        kwargs: list[tuple[str, object]] = []
        args: list[object] = []
        local_path = context_dir = registry_secret = None
        if base in ("debian_slim", "micromamba"):
            constructor = base
            kwargs.append(("python_version", python))
        elif base == "registry":
            constructor = "from_registry"
            if "tag" not in spec:
                self.ctx.report(path, "missing required key 'tag' for base 'registry'", at_key=True)
            args.append(spec.get("tag", ""))
            registry_secret = spec.get("registry_secret")
            if registry_secret is not None:
                self._reference("secrets", registry_secret, (*path, "registry_secret"))
            if python is not None:
                kwargs.append(("add_python", python))
        else:
            constructor = "from_dockerfile"
            if "path" not in spec:
                self.ctx.report(path, "missing required key 'path' for base 'dockerfile'", at_key=True)
            else:
                local_path = self._local_path(spec["path"], (*path, "path"), want="file")
            if "context_dir" in spec:
                context_dir = self._local_path(spec["context_dir"], (*path, "context_dir"), want="dir")
            if spec.get("build_args"):
                kwargs.append(("build_args", dict(spec["build_args"])))
            if python is not None:
                kwargs.append(("add_python", python))
        steps = self._steps(spec.get("steps", []), path)
        shipped = {str(arg).split(".")[0] for s in steps if s.kind == "add_local_python_source" for arg in s.args}
        missing = sorted(p for p in self._packages_for_image(alias) if p not in shipped)
        if missing:
            steps = (*steps, ir.Step("add_local_python_source", tuple(missing), deferred=True))
        return ir.Image(
            alias,
            constructor,
            tuple(args),
            tuple(kwargs),
            local_path,
            context_dir,
            registry_secret,
            python,
            steps,
            path,
        )

    def _packages_for_image(self, alias: str) -> set[str]:
        return {module.split(".")[0] for module, images in self.module_images.items() if alias in images}

    def _check_python(self, version: Any, path: KeyPath) -> None:
        supported, deprecated = catalog.python_versions()
        if version not in supported:
            suggestion = did_you_mean(str(version), supported)
            hint = f"did you mean {suggestion!r}?" if suggestion else None
            self.ctx.report(
                path,
                f"Python {version!r} is not available on Modal; choose one of {quote_choices(supported)}",
                hint=hint,
            )
        elif version in deprecated:
            self.ctx.warn(path, deprecated[version])

    STEP_KINDS = (
        "apt",
        "pip",
        "uv_pip",
        "pip_requirements",
        "pip_pyproject",
        "micromamba",
        "run",
        "env",
        "workdir",
        "local_file",
        "local_dir",
        "python_source",
    )

    def _steps(self, steps: list[dict[str, Any]], image_path: KeyPath) -> tuple[ir.Step, ...]:
        out: list[ir.Step] = []
        deferred_at: int | None = None
        for index, step in enumerate(steps):
            path = (*image_path, "steps", index)
            kind = next(k for k in self.STEP_KINDS if k in step)
            built = self._step(kind, step, path)
            if built is None:
                continue
            if built.deferred:
                deferred_at = deferred_at if deferred_at is not None else index
            elif deferred_at is not None:
                self.ctx.report(
                    path,
                    f"this step builds a layer after step {deferred_at}, which mounts local files "
                    "at deploy time; Modal refuses to build on top of a mount",
                    hint=f"set copy = true on step {deferred_at}, or move it after every build step",
                )
            out.append(built)
        return tuple(out)

    def _step(self, kind: str, step: dict[str, Any], path: KeyPath) -> ir.Step | None:
        common: list[tuple[str, object]] = []
        for key in ("index_url", "extra_index_url", "find_links", "pre", "extra_options"):
            if key in step:
                common.append((key, step[key]))
        secrets: tuple[str, ...] = tuple(self._secret_refs(step.get("secrets", []), (*path, "secrets")))
        if "gpu" in step:
            gpu, problem = catalog.parse_gpu(step["gpu"])
            if problem:
                self.ctx.report((*path, "gpu"), problem)
            else:
                common.append(("gpu", gpu))
        if kind == "apt":
            return ir.Step("apt_install", tuple(step["apt"]), key_path=path)
        if kind == "pip":
            return ir.Step("pip_install", tuple(step["pip"]), tuple(common), secrets=secrets, key_path=path)
        if kind == "uv_pip":
            return ir.Step("uv_pip_install", tuple(step["uv_pip"]), tuple(common), secrets=secrets, key_path=path)
        if kind == "pip_requirements":
            local = self._local_path(step["pip_requirements"], (*path, "pip_requirements"), want="file")
            return ir.Step("pip_install_from_requirements", (), tuple(common), local, secrets, key_path=path)
        if kind == "pip_pyproject":
            local = self._local_path(step["pip_pyproject"], (*path, "pip_pyproject"), want="file")
            extra = (
                [("optional_dependencies", list(step["optional_dependencies"]))]
                if "optional_dependencies" in step
                else []
            )
            return ir.Step("pip_install_from_pyproject", (), tuple(extra + common), local, secrets, key_path=path)
        if kind == "micromamba":
            extra = [("channels", list(step["channels"]))] if "channels" in step else []
            return ir.Step("micromamba_install", tuple(step["micromamba"]), tuple(extra), key_path=path)
        if kind == "run":
            return ir.Step("run_commands", tuple(step["run"]), tuple(common), secrets=secrets, key_path=path)
        if kind == "env":
            return ir.Step("env", (dict(step["env"]),), key_path=path)
        if kind == "workdir":
            return ir.Step("workdir", (step["workdir"],), key_path=path)
        if kind in ("local_file", "local_dir"):
            if "remote" not in step:
                self.ctx.report(path, f"missing required key 'remote' (the container path for {kind})", at_key=True)
                return None
            local = self._local_path(step[kind], (*path, kind), want="file" if kind == "local_file" else "dir")
            copy_files = step.get("copy", False)
            kwargs: list[tuple[str, object]] = [("copy", True)] if copy_files else []
            if kind == "local_dir" and step.get("ignore"):
                kwargs.append(("ignore", list(step["ignore"])))
            method = "add_local_file" if kind == "local_file" else "add_local_dir"
            return ir.Step(method, (step["remote"],), tuple(kwargs), local, deferred=not copy_files, key_path=path)
        # python_source
        copy_files = step.get("copy", False)
        modules = step["python_source"]
        for i, module in enumerate(modules):
            top = module.split(".")[0]
            root = self.tree.root
            self.ctx.project.touched.update((root / top, root / f"{top}.py"))
            if not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
                self.ctx.report((*path, "python_source", i), f"no package or module {top!r} in the source directory")
        return ir.Step(
            "add_local_python_source",
            tuple(modules),
            (("copy", True),) if copy_files else (),
            deferred=not copy_files,
            key_path=path,
        )

    def _local_path(self, relative: str, path: KeyPath, *, want: str) -> str | None:
        """A project-relative path that must exist and stay inside the manifest's directory."""
        project = self.ctx.project.directory
        if Path(relative).is_absolute() or relative.startswith("~"):
            self.ctx.report(path, f"{relative!r} must be relative to the manifest's directory")
            return None
        try:
            resolved = (project / relative).resolve()
            self.ctx.project.touched.add(resolved)
            if not resolved.is_relative_to(project):
                self.ctx.report(path, f"{relative!r} points outside the manifest's directory")
                return None
            if want == "file" and not resolved.is_file():
                self.ctx.report(
                    path, f"{relative!r} does not exist" if not resolved.exists() else f"{relative!r} is not a file"
                )
                return None
            if want == "dir" and not resolved.is_dir():
                self.ctx.report(
                    path,
                    f"{relative!r} does not exist" if not resolved.exists() else f"{relative!r} is not a directory",
                )
                return None
        except (OSError, ValueError) as error:
            self.ctx.report(path, f"{relative!r} cannot be used as a path: {getattr(error, 'strerror', None) or error}")
            return None
        return Path(posixpath.normpath(Path(relative).as_posix())).as_posix()

    # -- functions and classes ------------------------------------------------------------------------

    def _settings(
        self,
        spec: dict[str, Any],
        path: KeyPath,
        default_image: str | None,
        default_mounts: tuple[ir.Mount, ...],
        kind: str,
    ) -> ir.Settings:
        image = spec.get("image")
        if image is not None:
            self._reference("images", image, (*path, "image"))
        elif default_image is None:
            self.ctx.report(
                path,
                f"{kind} has no image: set `image` here or a default `image` under [app]",
                at_key=True,
                hint="without one Modal builds an image with the deployer's Python",
            )
        gpu = self._gpus(spec.get("gpu"), (*path, "gpu"))
        cpu = spec.get("cpu")
        memory = spec.get("memory")
        for key, value in (("cpu", cpu), ("memory", memory)):
            if isinstance(value, list) and value[0] > value[1]:
                self.ctx.report((*path, key), f"request {value[0]} is above limit {value[1]}")
        if isinstance(cpu, list):
            cpu = (float(cpu[0]), float(cpu[1]))
        memory = tuple(_int(memory)) if isinstance(memory, list) else _int(memory)
        timeout = _int(spec.get("timeout"))
        startup = _int(spec.get("startup_timeout"))
        retries = self._retries(spec.get("retries"))
        low, high = _int(spec.get("min_containers")), _int(spec.get("max_containers"))
        if low is not None and high is not None and low > high:
            self.ctx.report((*path, "min_containers"), f"min_containers ({low}) is above max_containers ({high})")
        buffer = _int(spec.get("buffer_containers"))
        if buffer is not None and high is not None and buffer > high:
            self.ctx.report(
                (*path, "buffer_containers"), f"buffer_containers ({buffer}) is above max_containers ({high})"
            )
        concurrency = None
        if "concurrency" in spec:
            c = spec["concurrency"]
            target = c.get("target_inputs")
            if target is not None and target > c["max_inputs"]:
                self.ctx.report(
                    (*path, "concurrency", "target_inputs"),
                    f"target_inputs ({target}) is above max_inputs ({c['max_inputs']})",
                )
            concurrency = ir.Concurrency(_int(c["max_inputs"]), _int(target))
        if spec.get("single_use_containers") and concurrency is not None:
            self.ctx.report(
                (*path, "single_use_containers"),
                "single_use_containers serves one input per container; it cannot take concurrency",
            )
        mounts = self._mounts(spec.get("volumes", {}), (*path, "volumes"))
        self._effective_mounts(default_mounts, mounts, path)
        secrets = tuple(self._secret_refs(spec.get("secrets", []), (*path, "secrets")))
        region = spec.get("region")
        if isinstance(region, list):
            region = tuple(region)
        return ir.Settings(
            image=image,
            gpu=gpu,
            cpu=cpu,
            memory=memory,
            ephemeral_disk=_int(spec.get("ephemeral_disk")),
            timeout=timeout,
            startup_timeout=startup,
            retries=retries,
            min_containers=low,
            max_containers=high,
            buffer_containers=buffer,
            scaledown_window=_int(spec.get("scaledown_window")),
            region=region,
            cloud=spec.get("cloud"),
            nonpreemptible=spec.get("nonpreemptible"),
            memory_snapshot=spec.get("memory_snapshot"),
            single_use_containers=spec.get("single_use_containers"),
            block_network=spec.get("block_network"),
            concurrency=concurrency,
            mounts=mounts,
            secrets=secrets,
            env=tuple(spec.get("env", {}).items()),
        )

    def _gpus(self, value: str | list[str] | None, path: KeyPath) -> tuple[str, ...]:
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        out: list[str] = []
        for index, text in enumerate(items):
            where = path if isinstance(value, str) else (*path, index)
            gpu, problem = catalog.parse_gpu(text)
            if problem or gpu is None:
                self.ctx.report(where, problem or f"{text!r} is not a GPU")
            elif gpu in out:
                self.ctx.report(where, f"{gpu!r} is already in the fallback list")
            else:
                out.append(gpu)
        return tuple(out)

    def _retries(self, value: int | dict[str, Any] | None) -> ir.Retries | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            return ir.Retries(_int(value))
        return ir.Retries(
            _int(value["max_retries"]),
            value.get("backoff_coefficient"),
            value.get("initial_delay"),
            value.get("max_delay"),
            is_policy=True,
        )

    def _module_alias(self, module: str, image: str | None) -> str:
        if module not in self.module_aliases:
            alias = "_" + module.replace(".", "_")
            taken = set(self.module_aliases.values())
            base, n = alias, 2
            while alias in taken:
                alias, n = f"{base}_{n}", n + 1
            self.module_aliases[module] = alias
        if image is not None:
            self.module_images.setdefault(module, set()).add(image)
        return self.module_aliases[module]

    def _resolve(self, spec: dict[str, Any], path: KeyPath, image: str | None) -> tuple[str, str, str] | None:
        if not self.source_ok:
            return None
        module, _, qualname = spec["handler"].partition(":")
        top = module.split(".")[0]
        if top == "modal" or top == module_stem(self.ctx.environment.name):
            shadowed = "the modal package" if top == "modal" else "the generated module"
            self.ctx.report((*path, "handler"), f"a package named {top!r} would shadow {shadowed}")
            return None
        return module, qualname, self._module_alias(module, image)

    def _handler_error(self, path: KeyPath, error: handlers.HandlerError) -> None:
        self.ctx.report((*path, "handler"), error.message, hint=error.hint)

    def _serves_only(self, path: KeyPath, spec: dict[str, Any]) -> bool:
        """An ASGI/WSGI app or web server switched off here (`web = false`): nothing is left to deploy."""
        before = self.replaced.get((*path, "web"))
        return spec.get("web") is False and isinstance(before, dict) and before.get("type") in WEB_ROLES

    def _function(
        self, name: str, spec: dict[str, Any], default_image: str | None, default_mounts: tuple[ir.Mount, ...]
    ) -> ir.Function | None:
        path: KeyPath = ("functions", name)
        if self._serves_only(path, spec):
            return None
        settings = self._settings(spec, path, default_image, default_mounts, "function")
        web = self._web(spec.get("web"), (*path, "web"))
        schedule = self._schedule(spec.get("schedule"), (*path, "schedule"))
        resolved = self._resolve(spec, path, settings.image or default_image)
        if resolved is None:
            return None
        module, qualname, alias = resolved
        try:
            found_module, node = self.tree.find(module, qualname)
        except handlers.HandlerError as error:
            self._handler_error(path, error)
            return None
        if isinstance(node, ast.ClassDef):
            self.ctx.report(
                (*path, "handler"),
                f"{qualname!r} is a class; declare it under [classes.{name}]"
                if self.ctx.manifest_format == "toml"
                else f"{qualname!r} is a class; declare it under classes",
            )
            return None
        is_value = not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if is_value and (web is None or web.type not in ("asgi", "wsgi")):
            self.ctx.report(
                (*path, "handler"),
                f"{qualname!r} in {found_module.relative_path} is {handlers.describe(node)}, not a function",
            )
            return None
        signature = ir.Signature()
        if not is_value:
            try:
                signature = self.tree.signature(node, alias)  # type: ignore[arg-type]
            except handlers.HandlerError as error:
                self._handler_error(path, error)
                return None
        handler = ir.Handler(module, qualname, alias, "value" if is_value else "function", signature)
        self._check_callable(path, name, handler, web, schedule, settings, batched=spec.get("batched"))
        batching = None
        if spec.get("batched"):
            batching = ir.Batching(_int(spec["batched"]["max_batch_size"]), _int(spec["batched"]["wait_ms"]))
        if batching is not None:
            self._check_batched(path, "function", signature, alias, settings)
        return ir.Function(name, handler, settings, schedule, web, batching, path)

    def _check_callable(
        self,
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
                self.ctx.report(
                    where,
                    f"{name} runs on a schedule, so it is called with no arguments, but "
                    f"{handler.qualname}() requires {quote_choices(required)}",
                )
            if web is not None:
                self.ctx.report((*path, "schedule"), "a web endpoint cannot also run on a schedule")
        if web is not None:
            if settings.retries is not None:
                self.ctx.report(
                    (*path, "retries"), "web endpoints cannot retry inputs (Modal refuses retries on web functions)"
                )
            if batched:
                self.ctx.report((*path, "batched"), "a web endpoint cannot be batched")
            if web.type in ("asgi", "wsgi", "web_server"):
                role = WEB_ROLES[web.type]
                if handler.kind == "function":
                    if signature.is_async:
                        self.ctx.report(where, f"{handler.qualname}() is async; {role} must be a plain function")
                    elif signature.is_generator:
                        self.ctx.report(where, f"{handler.qualname}() is a generator; {role} must be a plain function")
                    elif not signature.is_nullary:
                        self.ctx.report(where, f"{handler.qualname}() requires arguments; {role} is called with none")
            elif web.type == "fastapi" and signature.is_generator:
                self.ctx.report(
                    where,
                    f"{handler.qualname}() is a generator; a fastapi endpoint returns a "
                    "response (stream with a StreamingResponse instead)",
                )
        elif settings.retries is not None and signature.is_generator:
            self.ctx.report(
                (*path, "retries"), f"{handler.qualname}() is a generator; Modal cannot retry generator functions"
            )

    def _check_batched(
        self, path: KeyPath, what: str, signature: ir.Signature, alias: str, settings: ir.Settings | None
    ) -> None:
        where = (*path, "batched")
        if signature.is_generator:
            self.ctx.report(where, f"a batched {what} cannot be a generator")
        if any(p.default is not None for p in signature.parameters):
            self.ctx.report(where, f"a batched {what} cannot have default arguments")
        if not signature.parameters:
            self.ctx.report(where, f"a batched {what} takes at least one list argument")
        for parameter in signature.parameters:
            if parameter.kind in ("var_positional", "var_keyword"):
                self.ctx.report(where, f"a batched {what} cannot take *args or **kwargs")
            elif handlers.annotation_is_list(parameter.annotation) is False:
                shown = (parameter.annotation or "").strip("\"'").replace(alias + ".", "")
                self.ctx.report(
                    where,
                    f"a batched {what} receives lists, but {parameter.name!r} is annotated `{shown}`",
                    hint="annotate it as list[...]",
                )
        if settings is not None and settings.concurrency is not None:
            self.ctx.report(
                where, "batching and concurrency cannot be combined; Modal batches inputs for one call at a time"
            )

    def _web(self, value: Any, path: KeyPath) -> ir.WebEndpoint | None:
        if not value:
            return None
        return ir.WebEndpoint(
            type=value["type"],
            method=value.get("method"),
            label=value.get("label"),
            docs=value.get("docs"),
            custom_domains=tuple(value.get("custom_domains", [])),
            requires_proxy_auth=value.get("requires_proxy_auth"),
            port=_int(value.get("port")),
            startup_timeout=value.get("startup_timeout"),
        )

    def _schedule(self, value: Any, path: KeyPath) -> ir.Schedule | None:
        if not value:
            return None
        if "cron" in value:
            problem = cron.check_cron(value["cron"])
            if problem:
                self.ctx.report((*path, "cron"), problem)
            timezone = value.get("timezone")
            if timezone is not None and (problem := cron.check_timezone(timezone)):
                self.ctx.report((*path, "timezone"), problem)
            return ir.Schedule(cron=value["cron"], timezone=timezone)
        period = tuple((k, v if k == "seconds" else _int(v)) for k, v in value["period"].items())
        if not any(v for _, v in period):
            self.ctx.report((*path, "period"), "a period must be longer than zero")
        return ir.Schedule(period=period)

    def _class(
        self, name: str, spec: dict[str, Any], default_image: str | None, default_mounts: tuple[ir.Mount, ...]
    ) -> ir.Cls | None:
        path: KeyPath = ("classes", name)
        settings = self._settings(spec, path, default_image, default_mounts, "class")
        resolved = self._resolve(spec, path, settings.image or default_image)
        if resolved is None:
            return None
        module, qualname, alias = resolved
        try:
            info = self.tree.class_info(module, qualname)
        except handlers.HandlerError as error:
            self._handler_error(path, error)
            return None
        handler = ir.Handler(module, qualname, alias, "class")
        parameters = self._parameters(spec.get("parameters", {}), (*path, "parameters"), info)
        enter = self._hooks(spec.get("enter", []), (*path, "enter"), info, alias, "enter")
        exit_hooks = self._hooks(spec.get("exit", []), (*path, "exit"), info, alias, "exit")
        methods = self._methods(spec.get("methods", []), (*path, "methods"), info, alias, settings)
        if any(h.snap for h in enter) and not settings.memory_snapshot:
            index = next(i for i, h in enumerate(enter) if h.snap)
            self.ctx.report((*path, "enter", index), "snap = true needs memory_snapshot = true on the class")
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
                    self.ctx.report(where, f"{member!r} is listed twice")
                else:
                    self.ctx.report(
                        where,
                        f"{member!r} is both {names[member]} and {kind}; the generated class needs one name per member",
                    )
        if not spec.get("methods"):
            self.ctx.report(path, f"class {name} exposes no methods; list them under `methods`", at_key=True)
        return ir.Cls(
            name,
            handler,
            settings,
            parameters,
            enter,
            exit_hooks,
            methods,
            create_snap=any(h.snap for h in enter),
            key_path=path,
        )

    def _parameters(
        self, spec: dict[str, Any], path: KeyPath, info: handlers.ClassInfo
    ) -> tuple[ir.ClassParameter, ...]:
        out = []
        python_types = {"str": str, "int": int, "bool": bool, "bytes": str}
        for name, value in spec.items():
            value = {"type": value} if isinstance(value, str) else value
            kind = value["type"]
            has_default = "default" in value
            default = _int(value.get("default")) if kind == "int" else value.get("default")
            if has_default:
                wanted = python_types[kind]
                ok = isinstance(default, wanted) and (kind == "bool" or not isinstance(default, bool))
                if not ok:
                    expected = {"str": "a string", "bytes": "a string", "int": "an integer", "bool": "true or false"}
                    self.ctx.report(
                        (*path, name, "default"),
                        f"the default of {'an' if kind == 'int' else 'a'} "
                        f"{kind} parameter must be {expected[kind]}, not {default!r}",
                    )
                if kind == "bytes" and isinstance(default, str):
                    default = default.encode("utf-8")
            if name in CLASS_MEMBER_RESERVED or not pyliteral.is_identifier(name):
                self.ctx.report(
                    (*path, name),
                    f"{name!r} cannot name a class parameter (it is reserved in the generated class)",
                    at_key=True,
                )
            out.append(ir.ClassParameter(name, kind, default, has_default))
        self._check_constructor(info, [p.name for p in out if p.name not in CLASS_MEMBER_RESERVED], path)
        # Modal turns parameters into a positional-or-keyword constructor signature, where a parameter
        # without a default cannot follow one with a default; callers pass them by name, so order is free.
        return tuple(sorted(out, key=lambda p: p.has_default))

    def _check_constructor(self, info: handlers.ClassInfo, names: list[str], path: KeyPath) -> None:
        init = info.methods.get("__init__")
        if init is None:
            if info.is_dataclass:
                accepted = set(info.dataclass_fields)
                for name in names:
                    if name not in accepted:
                        self.ctx.report((*path, name), f"dataclass {info.name} has no field {name!r}", at_key=True)
            elif names and not info.unresolved_bases:
                self.ctx.report(
                    path,
                    f"{info.name} takes no constructor arguments, but the manifest declares "
                    f"parameters {quote_choices(names)}",
                    at_key=True,
                    hint=f"define __init__(self, *, {', '.join(names)}) in {info.name}",
                )
            return
        signature = self.tree.signature(init.node, "_", drop_first=True)
        accepted = {p.name for p in signature.parameters if p.kind in ("positional_or_keyword", "keyword_only")}
        takes_kwargs = any(p.kind == "var_keyword" for p in signature.parameters)
        for name in names:
            if name not in accepted and not takes_kwargs:
                self.ctx.report((*path, name), f"{info.name}.__init__() takes no argument {name!r}", at_key=True)
        for parameter in signature.parameters:
            if (
                parameter.default is None
                and parameter.kind in ("positional_or_keyword", "keyword_only")
                and parameter.name not in names
            ):
                self.ctx.report(
                    path,
                    f"{info.name}.__init__() requires {parameter.name!r}; declare it under `parameters`",
                    at_key=True,
                )

    def _member(
        self, info: handlers.ClassInfo, name: str, path: KeyPath, what: str, at_key: bool = False
    ) -> handlers.MethodInfo | None:
        if name in CLASS_MEMBER_RESERVED or not pyliteral.is_identifier(name):
            role = {"enter": "an enter hook", "exit": "an exit hook"}.get(what, f"a {what}")
            self.ctx.report(
                path,
                f"{name!r} cannot name {role} of the generated class (its body uses "
                f"`modal.*`); rename it in {info.name}",
                at_key=at_key,
            )
            return None
        method = info.methods.get(name)
        if method is None:
            message = f"{info.name} has no method {name!r}"
            suggestion = did_you_mean(name, [m for m in info.methods if not m.startswith("__")])
            if suggestion:
                message += f"; did you mean {suggestion!r}?"
            hint = None
            if info.unresolved_bases:
                hint = (
                    f"modalc reads only the project's code; if {name} comes from "
                    f"{', '.join(info.unresolved_bases)}, define it in {info.name}"
                )
            self.ctx.report(path, message, hint=hint, at_key=at_key)
        return method

    def _hooks(
        self, spec: list[Any], path: KeyPath, info: handlers.ClassInfo, alias: str, kind: str
    ) -> tuple[ir.Hook, ...]:
        out = []
        for index, entry in enumerate(spec):
            entry = {"method": entry} if isinstance(entry, str) else entry
            where = (*path, index)
            method = self._member(info, entry["method"], where, kind)
            if method is None:
                continue
            signature = self.tree.signature(method.node, alias, drop_first=not method.is_static)
            if not signature.is_nullary:
                self.ctx.report(where, f"{kind} hook {info.name}.{method.name}() must take no arguments besides self")
            if signature.is_generator:
                self.ctx.report(where, f"{kind} hook {info.name}.{method.name}() cannot be a generator")
            out.append(ir.Hook(method.name, signature, bool(entry.get("snap", False))))
        return tuple(out)

    def _methods(
        self,
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
            if not isinstance(spec, list) and self._serves_only(where, options):
                continue
            method = self._member(info, name, where, "method", at_key=not isinstance(spec, list))
            if method is None:
                continue
            try:
                signature = self.tree.signature(method.node, alias, drop_first=not method.is_static)
            except handlers.HandlerError as error:
                self.ctx.report(where, error.message, hint=error.hint)
                continue
            web = self._web(options.get("web"), (*where, "web"))
            batching = None
            if options.get("batched"):
                batching = ir.Batching(_int(options["batched"]["max_batch_size"]), _int(options["batched"]["wait_ms"]))
                if batched_seen is not None:
                    self.ctx.report(
                        (*where, "batched"), f"a class can have one batched method; {batched_seen!r} is batched already"
                    )
                batched_seen = batched_seen or name
                self._check_batched(where, "method", signature, alias, settings)
                if web is not None:
                    self.ctx.report((*where, "web"), "a batched method cannot also be a web endpoint")
            if web is not None:
                pseudo = ir.Handler(info.module.name, f"{info.name}.{name}", alias, "function", signature)
                self._check_callable(where, name, pseudo, web, None, ir.Settings(), where=(*where, "web"))
            out.append(ir.Method(name, signature, batching, web, method.is_static))
        if batched_seen is not None and len(entries) > 1:
            for index, name in enumerate(entries):
                if name != batched_seen and not (entries[name] or {}).get("batched"):
                    where = (*path, index) if isinstance(spec, list) else (*path, name)
                    self.ctx.report(
                        where,
                        f"{info.name} has a batched method ({batched_seen!r}), so it can have no "
                        f"other methods; Modal serves a batched class through that one method",
                        at_key=not isinstance(spec, list),
                    )
        return tuple(out)

    # -- entrypoints ----------------------------------------------------------------------------------

    def _entrypoint(self, name: str, spec: dict[str, Any], functions: tuple[ir.Function, ...]) -> ir.Entrypoint | None:
        path: KeyPath = ("entrypoints", name)
        mode: Literal["map", "starmap"] = "map" if "map" in spec else "starmap"
        target = spec[mode]
        by_name = {f.name: f for f in functions}
        declared = self.data.get("functions", {})
        if target not in declared:
            message = f"no function named {target!r}"
            if target in self.data.get("classes", {}):
                message = f"{target!r} is a class; entrypoints map over functions"
            elif suggestion := did_you_mean(target, declared):
                message += f"; did you mean {suggestion!r}?"
            self.ctx.report((*path, mode), message)
            return None
        function = by_name.get(target)
        if function is None:
            return None  # its own errors were reported
        signature = function.handler.signature
        if function.web is not None or function.schedule is not None:
            self.ctx.report(
                (*path, mode),
                f"{target} is a {'web endpoint' if function.web else 'scheduled function'}; map over a plain function",
            )
        if signature.is_generator:
            self.ctx.report((*path, mode), f"{target}() is a generator; Modal cannot .{mode}() generator functions")
        positional = [p for p in signature.parameters if p.kind in ("positional_only", "positional_or_keyword")]
        required = [p for p in positional if p.default is None]
        keyword_only = [p.name for p in signature.parameters if p.kind == "keyword_only" and p.default is None]
        if keyword_only:
            self.ctx.report(
                (*path, mode),
                f"{target}() requires keyword-only {quote_choices(keyword_only)}, which "
                f"{mode} cannot pass; give them defaults",
            )
        elif mode == "map" and (not positional or len(required) > 1):
            self.ctx.report(
                (*path, mode),
                f"map calls {target}() with one argument per input, but it takes {len(required)} required arguments",
                hint="use starmap, with a list of arguments per input" if len(required) > 1 else None,
            )
        inputs = spec.get("inputs")
        if inputs is not None and not inputs.endswith((".jsonl", ".ndjson", ".csv")):
            self.ctx.report((*path, "inputs"), f"{inputs!r}: inputs are read from a .jsonl or .csv file")
        if inputs is not None and not self._inside_project(inputs):
            self.ctx.report((*path, "inputs"), f"{inputs!r} must stay inside the manifest's directory")
        elif inputs is not None:
            resolved = self.ctx.project.directory / inputs
            self.ctx.project.touched.add(resolved)
            if not resolved.is_file():
                self.ctx.report(
                    (*path, "inputs"),
                    f"{inputs!r} does not exist" if not resolved.exists() else f"{inputs!r} is not a file",
                )
        output = spec.get("output", "-")
        if output != "-" and not output.endswith((".jsonl", ".ndjson")):
            self.ctx.report(
                (*path, "output"), f"{output!r}: results are written as JSON lines (.jsonl), or '-' for standard output"
            )
        elif output != "-" and not self._inside_project(output):
            self.ctx.report((*path, "output"), f"{output!r} must stay inside the manifest's directory")
        return ir.Entrypoint(name, target, mode, inputs, output, tuple(p.name for p in positional), path)

    def _inside_project(self, relative: str) -> bool:
        project = self.ctx.project.directory
        if Path(relative).is_absolute() or relative.startswith("~"):
            return False
        try:
            return (project / relative).resolve().is_relative_to(project)
        except (OSError, ValueError):
            return False

    # -- user code ------------------------------------------------------------------------------------

    def _user_modules(self) -> tuple[tuple[str, str, str | None], ...]:
        rows = []
        for module, alias in sorted(self.module_aliases.items()):
            for image in sorted(self.module_images.get(module, set())):
                rows.append((module, alias, image))
        return tuple(rows)
