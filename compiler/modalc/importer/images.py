"""Images, read back from the `modal.Image` calls that built them: a base (or a named image it builds on) and one
manifest step per builder call, in order."""

from __future__ import annotations

import glob
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import catalog
from .sdk import ImageCall, Site

if TYPE_CHECKING:
    from .mapping import Mapper

# Builder keywords whose value, when it is the default, says nothing.
NEUTRAL: dict[str, Any] = {
    "force_build": False,
    "env": None,
    "secrets": None,
    "gpu": None,
    "find_links": None,
    "index_url": None,
    "extra_index_url": None,
    "pre": False,
    "extra_options": "",
    "copy": False,
    "build_args": {},
    "context_files": {},
    "context_dir": None,
    "channels": [],
    "optional_dependencies": [],
    "volumes": None,
    "network_file_systems": {},
    "include_source": True,
    "args": (),
    "kwargs": {},
    "timeout": 3600,
    "cpu": None,
    "memory": None,
    "cloud": None,
    "region": None,
    "spec_file": None,
    "requirements": None,
    "uv_version": None,
    "setup_dockerfile_commands": [],
    "add_python": None,
    "secret": None,
    "registry_secret": None,
}
PIP_OPTIONS = ("find_links", "index_url", "extra_index_url", "pre", "extra_options")
BUILD_OPTIONS = {"env", "secrets", "gpu", "force_build"}  # what most builder methods take besides their own
REGISTRY_BASES = {
    "from_registry": "registry",
    "from_aws_ecr": "aws_ecr",
    "from_gcp_artifact_registry": "gcp_artifact_registry",
}
NO_MANIFEST_KEY = {
    "pip_install_private_repos": "pip_install_private_repos has no manifest key (install from an index with "
    "index_url and a secret instead)",
    "poetry_install_from_file": "poetry_install_from_file has no manifest key (export a requirements.txt and use "
    "pip_requirements)",
    "uv_sync": "uv_sync has no manifest key (use uv_pip or pip_pyproject)",
    "from_id": "Image.from_id names a built image by id; a manifest declares how to build it",
    "from_name": "Image.from_name names a published image; a manifest declares how to build it",
    "from_scratch": "Image.from_scratch has no manifest key",
}


def _neutral(key: str, value: Any) -> bool:
    if key not in NEUTRAL:
        return False
    default = NEUTRAL[key]
    if value is None or value is default:
        return True
    try:
        return bool(value == default) or (isinstance(value, (list, tuple, dict)) and not value and not default)
    except Exception:
        return False


def packages(args: tuple[Any, ...]) -> list[str]:
    out: list[str] = []
    for arg in args:
        if isinstance(arg, (list, tuple)):
            out += [str(a) for a in arg]
        else:
            out.append(str(arg))
    return out


class ImageReader:
    def __init__(self, mapper: Mapper):
        self.m = mapper

    def declare(self, impl: Any, site: Site | None, fallback: str) -> str | None:
        m = self.m
        key = ("images", id(impl))
        if key in m.declared:
            return m.declared[key]
        calls: list[ImageCall] = []
        node = impl
        parent_alias: str | None = None
        while True:
            call = m.record.images.get(id(node))
            if call is None:
                m.problem(site, "an image made without modal.Image's constructors and builders cannot be read back")
                return None
            calls.append(call)
            if call.parent is None:
                break
            parent = call.parent
            if id(parent) in m.names or ("images", id(parent)) in m.declared:
                parent_alias = self.declare(parent, call.site, f"{fallback}-base")
                if parent_alias is None:
                    return None
                break
            node = parent
        calls.reverse()
        alias = m.aliases["images"].allocate(m.names.get(id(impl), ""), fallback)
        m.declared[key] = alias
        entry: dict[str, Any] = {}
        path = ("images", alias)
        if parent_alias is not None:
            entry["from"] = parent_alias
            step_calls = calls
        else:
            entry.update(self.base(calls[0], path))
            step_calls = calls[1:]
        step_calls = m.code.strip_image_calls(step_calls, is_leaf=True)
        steps: list[dict[str, Any]] = []
        m.site(path, calls[-1].site)
        for call in step_calls:
            step = self.step(call, (*path, "steps", len(steps)))
            if step is not None:
                m.site((*path, "steps", len(steps)), call.site)
                steps.append(step)
        if steps:
            entry["steps"] = steps
        m.sections["images"][alias] = entry
        return alias

    # -- helpers ----------------------------------------------------------------------------------------------

    def unexpected(self, call: ImageCall, allowed: set[str]) -> None:
        for key, value in call.kwargs.items():
            if key not in allowed and not _neutral(key, value):
                self.m.problem(call.site, f"{call.method}({key}=...) has no manifest key")

    def secrets(self, call: ImageCall, path: tuple[Any, ...]) -> list[str]:
        return [
            alias
            for s in (call.kwargs.get("secrets") or [])
            if (alias := self.m.secret(s, call.site, (*path, "secrets"))) is not None
        ]

    def gpu(self, call: ImageCall, value: Any) -> str | list[str] | None:
        values = [value] if isinstance(value, str) else list(value)
        out = []
        for text in values:
            name, problem = catalog.parse_gpu(str(text))
            if problem or name is None:
                self.m.problem(call.site, f"{call.method}(gpu={text!r}): {problem}")
                return None
            out.append(name)
        return out[0] if isinstance(value, str) else out

    def python(self, call: ImageCall, version: Any, path: tuple[Any, ...]) -> str:
        import sys

        if version is None:
            pinned = "{}.{}".format(*sys.version_info)
            self.m.comment(
                path,
                f"python: Modal takes the deploying machine's Python when none is given; pinned to {pinned}, the "
                "Python that imported the app",
            )
            return pinned
        supported, _ = catalog.python_versions()
        if str(version) not in supported:
            self.m.problem(
                call.site,
                f"python_version={version!r}: a manifest pins one of {', '.join(supported)} (Modal picks the patch "
                "release)",
            )
        return str(version)

    # -- the base ---------------------------------------------------------------------------------------------

    def base(self, call: ImageCall, path: tuple[Any, ...]) -> dict[str, Any]:
        m = self.m
        kwargs = dict(call.kwargs)
        args = list(call.args)
        method = call.method
        self.m.lookup_comment(call.site, method, path)
        if method in NO_MANIFEST_KEY:
            m.problem(call.site, NO_MANIFEST_KEY[method])
            return {"base": "debian_slim", "python": "3.12"}
        forced = {"force_build": True} if kwargs.get("force_build") else {}
        if method in ("debian_slim", "micromamba"):
            version = args[0] if args else kwargs.get("python_version")
            self.unexpected(call, {"python_version", "force_build"})
            return {"base": method, "python": self.python(call, version, path), **forced}
        if method in REGISTRY_BASES:
            tag = args[0] if args else kwargs.get("tag")
            entry: dict[str, Any] = {"base": REGISTRY_BASES[method], "tag": str(tag), **forced}
            secret = args[1] if len(args) > 1 else kwargs.get("secret")
            if secret is not None:
                alias = m.secret(secret, call.site, (*path, "registry_secret"))
                if alias is not None:
                    entry["registry_secret"] = alias
            if kwargs.get("add_python"):
                entry["add_python"] = self.python(call, kwargs["add_python"], path)
            self.unexpected(call, {"tag", "secret", "add_python", "force_build"})
            return entry
        # from_dockerfile
        dockerfile = args[0] if args else kwargs.get("path")
        entry = {"base": "dockerfile", **forced}
        local = m.local_path(dockerfile, call.site, "Dockerfile")
        if local is not None:
            entry["path"] = local
        context = kwargs.get("context_dir")
        context_dir = Path(context) if context is not None else m.cwd
        context_dir = context_dir if context_dir.is_absolute() else m.cwd / context_dir
        if local is not None:
            dockerfile_path = Path(str(dockerfile)) if Path(str(dockerfile)).is_absolute() else m.cwd / str(dockerfile)
            if self.dockerfile_context(call, dockerfile_path, context_dir):
                relative = m.local_path(context_dir, call.site, "Docker build context", directory=True)
                if relative not in (None, "."):
                    entry["context_dir"] = relative
        if kwargs.get("build_args"):
            entry["build_args"] = {str(k): str(v) for k, v in kwargs["build_args"].items()}
        if kwargs.get("add_python"):
            entry["add_python"] = self.python(call, kwargs["add_python"], path)
        self.unexpected(call, {"path", "context_dir", "build_args", "add_python", "force_build"})
        return entry

    def dockerfile_context(self, call: ImageCall, dockerfile: Path, context_dir: Path) -> bool:
        """Whether the Dockerfile's COPY lines take files from the build context (Modal's own selection); with
        --copy-files, those files come along."""
        from .. import compat

        try:
            files = list(compat.dockerfile_context_files(dockerfile, context_dir))
        except Exception as error:  # a Dockerfile Modal itself cannot read
            self.m.problem(call.site, f"the Dockerfile's build context cannot be read: {error}")
            return False
        if self.m.copy_files and not context_dir.resolve().is_relative_to(self.m.out_dir):
            for file in files:
                self.m.local_path(file, call.site, "a file the Dockerfile copies")
        return bool(files)

    # -- steps ------------------------------------------------------------------------------------------------

    def step(self, call: ImageCall, path: tuple[Any, ...]) -> dict[str, Any] | None:
        m = self.m
        method, args, kwargs = call.method, call.args, call.kwargs
        m.lookup_comment(call.site, method, path)
        if method in NO_MANIFEST_KEY:
            m.problem(call.site, NO_MANIFEST_KEY[method])
            return None
        if method == "apt_install":
            self.unexpected(call, BUILD_OPTIONS)
            return self.options(call, path, {"apt": packages(args)})
        if method in ("pip_install", "uv_pip_install", "pip_install_from_requirements", "pip_install_from_pyproject"):
            return self.pip_like(call, path)
        if method == "micromamba_install":
            self.unexpected(call, {"channels", *BUILD_OPTIONS})
            out: dict[str, Any] = {"micromamba": packages(args)}
            if kwargs.get("channels"):
                out["channels"] = list(kwargs["channels"])
            return self.options(call, path, out)
        if method == "run_commands":
            self.unexpected(call, {"volumes", *BUILD_OPTIONS})
            out = {"run": packages(args)}
            if kwargs.get("volumes"):
                out["volumes"] = m.mounts(kwargs["volumes"], call.site, (*path, "volumes"))
            return self.options(call, path, out)
        if method == "env":
            variables = args[0] if args else kwargs.get("vars", {})
            unset = [k for k, v in variables.items() if not isinstance(v, str)]
            if unset:
                m.problem(call.site, f"env({unset[0]!r}: {variables[unset[0]]!r}): a manifest's env values are strings")
            return {"env": {str(k): v for k, v in variables.items() if isinstance(v, str)}}
        if method == "workdir":
            return {"workdir": str(args[0] if args else kwargs.get("path"))}
        if method in ("entrypoint", "cmd", "shell"):
            value = args[0] if args else next(iter(kwargs.values()), [])
            return {method: [str(v) for v in value]}
        if method == "dockerfile_commands":
            return self.dockerfile_commands(call, path)
        if method == "run_function":
            return self.run_function(call, path)
        if method in ("add_local_file", "add_local_dir"):
            return self.local(call)
        if method == "add_local_python_source":
            return self.python_source(call)
        m.problem(call.site, f"Image.{method} has no manifest key")
        return None

    def pip_like(self, call: ImageCall, path: tuple[Any, ...]) -> dict[str, Any] | None:
        m, method, args, kwargs = self.m, call.method, call.args, dict(call.kwargs)
        out: dict[str, Any]
        allowed = {*PIP_OPTIONS, *BUILD_OPTIONS}
        if method in ("pip_install", "uv_pip_install"):
            out = {"pip" if method == "pip_install" else "uv_pip": packages(args)}
            if method == "uv_pip_install":
                allowed |= {"requirements", "uv_version"}
                files = [m.local_path(f, call.site, "requirements file") for f in kwargs.get("requirements") or []]
                if files:
                    out["requirements"] = [f for f in files if f is not None]
                if kwargs.get("uv_version"):
                    out["uv_version"] = str(kwargs["uv_version"])
        else:
            key = "pip_requirements" if method == "pip_install_from_requirements" else "pip_pyproject"
            given = (
                args[0] if args else kwargs.get("requirements_txt" if key == "pip_requirements" else "pyproject_toml")
            )
            local = m.local_path(
                given, call.site, "requirements file" if key == "pip_requirements" else "pyproject file"
            )
            if local is None:
                return None
            out = {key: local}
            if method == "pip_install_from_requirements" and len(args) > 1:
                kwargs["find_links"] = args[1]
            if method == "pip_install_from_pyproject":
                allowed.add("optional_dependencies")
                optional = args[1] if len(args) > 1 else kwargs.get("optional_dependencies")
                if optional:
                    out["optional_dependencies"] = list(optional)
        self.unexpected(ImageCall(method, (), kwargs, call.parent, call.site), allowed)
        for key in PIP_OPTIONS:
            value = kwargs.get(key)
            if value not in (None, False, ""):
                out[key] = value
        return self.options(ImageCall(method, (), kwargs, call.parent, call.site), path, out)

    def options(self, call: ImageCall, path: tuple[Any, ...], out: dict[str, Any]) -> dict[str, Any]:
        """`out` with the builder options the call gave: its build's env, secrets and GPU, force_build."""
        kwargs = call.kwargs
        if kwargs.get("env"):
            env = kwargs["env"]
            bad = [k for k, v in env.items() if not isinstance(v, str)]
            if bad:
                self.m.problem(call.site, f"{call.method}(env={{{bad[0]!r}: ...}}): env values are strings")
            out["env"] = {str(k): v for k, v in env.items() if isinstance(v, str)}
        if kwargs.get("gpu") and call.method != "run_function":
            gpu = self.gpu(call, kwargs["gpu"])
            if isinstance(gpu, str):
                out["gpu"] = gpu
        secrets = self.secrets(call, path)
        if secrets:
            out["secrets"] = secrets
        if kwargs.get("force_build"):
            out["force_build"] = True
        return out

    def dockerfile_commands(self, call: ImageCall, path: tuple[Any, ...]) -> dict[str, Any] | None:
        m, kwargs = self.m, call.kwargs
        self.unexpected(call, {"context_files", "context_dir", "build_args", "ignore", *BUILD_OPTIONS})
        out: dict[str, Any] = {"dockerfile_commands": packages(call.args)}
        files = {}
        for name, local in (kwargs.get("context_files") or {}).items():
            relative = m.local_path(local, call.site, "context file")
            if relative is not None:
                files[str(name)] = relative
        if files:
            out["context_files"] = files
        context = Path(kwargs["context_dir"]) if kwargs.get("context_dir") is not None else m.cwd
        context = context if context.is_absolute() else m.cwd / context
        sources = _copy_sources(out["dockerfile_commands"])
        named = {str(n).lstrip("/") for n in (kwargs.get("context_files") or {})}
        needed = [s for s in sources if s.lstrip("/") not in named]
        if needed:
            relative_context = m.local_path(context, call.site, "Docker build context", directory=True)
            if relative_context is None:
                return out
            if relative_context != ".":
                out["context_dir"] = relative_context
            if m.copy_files and not context.resolve().is_relative_to(m.out_dir):
                m.local_files.pop(relative_context, None)  # only what COPY takes comes along
                for source in needed:
                    for match in glob.glob(source.lstrip("/"), root_dir=context, recursive=True):
                        m.local_path(context / match, call.site, "a file a COPY line takes")
        if kwargs.get("build_args"):
            out["build_args"] = {str(k): str(v) for k, v in kwargs["build_args"].items()}
        ignore = self.ignore_patterns(call)
        if ignore is not None:
            out["ignore"] = ignore
        return self.options(call, path, out)

    def ignore_patterns(self, call: ImageCall, default: Any = None) -> list[str] | None:
        """A builder's `ignore=` as the manifest's list of patterns; None when not given, or given as Modal's
        default."""
        ignore = call.kwargs.get("ignore")
        if ignore is None or ignore is default:
            return None
        if isinstance(ignore, (list, tuple)) and all(isinstance(i, str) for i in ignore):
            return list(ignore)
        self.m.problem(call.site, f"{call.method}(ignore=...) with a function: a manifest takes a list of patterns")
        return None

    def run_function(self, call: ImageCall, path: tuple[Any, ...]) -> dict[str, Any] | None:
        from .mapping import as_manifest_value, literal_tree

        m, kwargs = self.m, call.kwargs
        raw_f = call.args[0] if call.args else kwargs.get("raw_f")
        allowed = {"volumes", "cpu", "memory", "timeout", "cloud", "region", "args", "kwargs", *BUILD_OPTIONS}
        self.unexpected(call, allowed)
        handler = m.code.build_handler(raw_f, lambda message: m.problem(call.site, f"run_function: {message}"))
        if handler is None:
            return None
        m.build_functions.add(handler)
        m.handler_modules.add(handler[0])
        out: dict[str, Any] = {"run_function": f"{handler[0]}:{handler[1]}"}
        for key in ("args", "kwargs"):
            value = kwargs.get(key)
            if value:
                if not literal_tree(value):
                    m.problem(call.site, f"run_function({key}=...): a manifest takes JSON-like values only")
                    continue
                out[key] = as_manifest_value(value)
        if kwargs.get("gpu"):
            gpu = self.gpu(call, kwargs["gpu"])
            if gpu is not None:
                out["gpu"] = gpu
        for key in ("cpu", "memory", "cloud"):
            if kwargs.get(key) is not None:
                out[key] = kwargs[key]
        if kwargs.get("timeout") not in (None, 3600):
            out["timeout"] = kwargs["timeout"]
        if kwargs.get("region"):
            region = kwargs["region"]
            out["region"] = region if isinstance(region, str) else list(region)
        if kwargs.get("volumes"):
            out["volumes"] = m.mounts(kwargs["volumes"], call.site, (*path, "volumes"))
        return self.options(call, path, out)

    def local(self, call: ImageCall) -> dict[str, Any] | None:
        m, args, kwargs = self.m, call.args, call.kwargs
        kind = "local_file" if call.method == "add_local_file" else "local_dir"
        local = args[0] if args else kwargs.get("local_path")
        remote = args[1] if len(args) > 1 else kwargs.get("remote_path")
        relative = m.local_path(local, call.site, "a local file" if kind == "local_file" else "a local directory")
        if relative is None:
            return None
        out: dict[str, Any] = {kind: relative, "remote": str(remote)}
        if kwargs.get("copy"):
            out["copy"] = True
        ignore = self.ignore_patterns(call)
        if ignore:
            out["ignore"] = ignore
        self.unexpected(call, {"copy", "ignore", "local_path", "remote_path"})
        return out

    def python_source(self, call: ImageCall) -> dict[str, Any] | None:
        from modal.file_pattern_matcher import NON_PYTHON_FILES

        m = self.m
        modules = [str(a) for a in call.args]
        for module in modules:
            m.python_sources.setdefault(module.split(".")[0], call.site)
        out: dict[str, Any] = {"python_source": modules}
        if call.kwargs.get("copy"):
            out["copy"] = True
        ignore = self.ignore_patterns(call, NON_PYTHON_FILES)
        if ignore is not None:
            out["ignore"] = ignore
        return out


def _copy_sources(commands: list[str]) -> list[str]:
    """The build-context sources of a Dockerfile's COPY lines (not `COPY --from=`)."""
    found = []
    for command in commands:
        words = command.strip().split(None, 1)
        if len(words) < 2 or words[0].upper() != "COPY":
            continue
        try:
            parts = shlex.split(words[1])
        except ValueError:
            continue
        if any(p.startswith("--from=") for p in parts):
            continue
        parts = [p for p in parts if not p.startswith("--")]
        found += parts[:-1]
    return found
