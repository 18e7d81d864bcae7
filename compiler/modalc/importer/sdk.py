"""Import a Modal app the way `modal deploy` does, offline, and record what it builds through Modal's public API.

Modal keeps most settings in closures and private objects, so rather than reading those back, the recorder
wraps, for the duration of the import, the public API the app calls and keeps what each call was given:

- `App(...)`, `App.function`, `App.cls`, `App.include`, `App.local_entrypoint`, `App.server`: what the app and
  each registration were given (typed `experimental_options`, `env`, `serialized`, ...), and where;
- Modal's decorators (`modal.method`, `modal.enter`, `modal.exit`, `modal.batched`, `modal.concurrent`,
  `modal.clustered`, the web decorators, `modal.experimental.http_server`) and `modal.parameter`;
- every `modal.Image` builder and constructor: one call per layer, so an image is read back as the method chain
  that made it rather than reverse-engineered from Dockerfile commands;
- the lookups by name (`Volume`, `Secret`, `Queue`, `Dict`, `NetworkFileSystem`, `Proxy`), `Secret.from_dict`
  and friends, and `Volume.with_mount_options`.

Every record keeps the line of the user's code that made it (the innermost frame in one of the project's
files), and objects are known by the public objects the app holds. No private API is used (modalc keeps those in
compat.py), and nothing here talks to Modal: the objects are lazy until deployed, and the import runs with an
unreachable server. The tests compare what this records with what the SDK itself registers (private
`_Function._from_local`), so the two cannot drift apart unseen.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

MODALC_PACKAGE = Path(__file__).resolve().parents[1]  # never "user code", even inside the project
OFFLINE_SERVER_URL = "http://127.0.0.1:9"  # nothing listens there: an import that tries to connect fails at once

# modal.Image's builder methods (one layer each) and constructors, as the manifest can or cannot say them.
IMAGE_METHODS = (
    "add_local_dir",
    "add_local_file",
    "add_local_python_source",
    "apt_install",
    "cmd",
    "dockerfile_commands",
    "entrypoint",
    "env",
    "micromamba_install",
    "pip_install",
    "pip_install_from_pyproject",
    "pip_install_from_requirements",
    "pip_install_private_repos",
    "poetry_install_from_file",
    "run_commands",
    "run_function",
    "shell",
    "uv_pip_install",
    "uv_sync",
    "workdir",
)
IMAGE_CONSTRUCTORS = (
    "debian_slim",
    "micromamba",
    "from_registry",
    "from_dockerfile",
    "from_aws_ecr",
    "from_gcp_artifact_registry",
    "from_id",
    "from_name",
    "from_scratch",
)
# (class name in modal, static method) -> the lookup's kind
LOOKUPS = (
    ("Volume", "from_name", "volume"),
    ("Secret", "from_name", "secret"),
    ("Secret", "from_dict", "secret_dict"),
    ("Secret", "from_dotenv", "secret_dotenv"),
    ("Secret", "from_local_environ", "secret_environ"),
    ("Queue", "from_name", "queue"),
    ("Dict", "from_name", "dict"),
    ("NetworkFileSystem", "from_name", "network_file_system"),
    ("Proxy", "from_name", "proxy"),
)
# Decorators (modal's attribute, or modal.experimental's) whose arguments the manifest can say.
DECORATORS = (
    ("modal", "method"),
    ("modal", "enter"),
    ("modal", "exit"),
    ("modal", "batched"),
    ("modal", "concurrent"),
    ("modal", "clustered"),
    ("modal", "fastapi_endpoint"),
    ("modal", "asgi_app"),
    ("modal", "wsgi_app"),
    ("modal", "web_server"),
    ("experimental", "http_server"),
    ("experimental", "clustered"),
)


@dataclass(frozen=True)
class Site:
    """Where the user's code made a call: a file of the project and a line."""

    file: Path
    line: int


@dataclass
class ImageCall:
    """One `modal.Image` call: a constructor (no parent) or a builder on `parent`."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    parent: Any  # the Image it was called on (None for a constructor)
    site: Site | None


@dataclass
class Lookup:
    kind: str  # see LOOKUPS
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    site: Site | None


@dataclass
class MountOptions:
    volume: Any  # the Volume it was made from
    read_only: bool | None
    sub_path: str | None
    site: Site | None


@dataclass
class AppRecord:
    app: Any
    name: str | None
    kwargs: dict[str, Any]
    site: Site | None


@dataclass(frozen=True)
class Decoration:
    """One of Modal's decorators, applied: `name` as modal spells it (`experimental.http_server` for that one)."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    site: Site | None


@dataclass(frozen=True)
class Parameter:
    """A `modal.parameter()` field."""

    default: Any
    has_default: bool
    init: bool


@dataclass
class Registration:
    """A function or class registered with App.function / App.cls."""

    kind: str  # "function" or "class"
    app: Any  # the App it was registered on
    raw: Any  # the user's function or class, under Modal's decorators
    decorations: list[Decoration]  # Modal's decorators on it, innermost first
    decorator: dict[str, Any]  # the App.function / App.cls keywords as written (deprecated ones renamed)
    decorator_site: Site | None
    result: Any = None  # the Function or Cls it made

    @property
    def is_class(self) -> bool:
        return self.kind == "class"

    @property
    def name(self) -> str:
        """The name Modal registers it under."""
        if self.is_class:
            return str(self.raw.__name__)
        return str(self.decorator.get("name") or self.raw.__qualname__)


@dataclass
class Include:
    app: Any
    other: Any
    inherit_tags: bool
    site: Site | None


@dataclass
class Entrypoint:
    app: Any
    name: str
    raw: Any
    site: Site | None


@dataclass(frozen=True)
class Rename:
    """A deprecated Modal parameter the app used, imported under today's name."""

    old: str
    new: str
    site: Site | None
    date: str  # when Modal deprecated it


@dataclass
class Recording:
    root: Path
    images: dict[int, ImageCall] = field(default_factory=dict)
    lookups: dict[int, Lookup] = field(default_factory=dict)
    mount_options: dict[int, MountOptions] = field(default_factory=dict)
    apps: dict[int, AppRecord] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)
    decorations: dict[int, list[Decoration]] = field(default_factory=dict)  # id of a decorated object -> its stack
    raw: dict[int, Any] = field(default_factory=dict)  # id of a decorated object -> the function or class under it
    parameters: dict[int, Parameter] = field(default_factory=dict)
    buckets: dict[int, dict[str, Any]] = field(default_factory=dict)  # CloudBucketMount arguments, by name
    includes: list[Include] = field(default_factory=list)
    entrypoints: list[Entrypoint] = field(default_factory=list)
    servers: list[Site | None] = field(default_factory=list)  # App.server uses (not imported)
    renames: list[Rename] = field(default_factory=list)
    keep: list[Any] = field(default_factory=list)  # every recorded object stays alive, so ids stay unique

    def image(self, image: Any) -> ImageCall | None:
        return self.images.get(id(image))

    def stack(self, obj: Any) -> tuple[Any, list[Decoration]]:
        """The function or class under Modal's decorators, and those decorators, innermost first."""
        return self.raw.get(id(obj), obj), list(self.decorations.get(id(obj), []))


# --- where user code made a call -------------------------------------------------------------------------


def _project_file(filename: str, root: Path, cache: dict[str, bool]) -> bool:
    known = cache.get(filename)
    if known is not None:
        return known
    if "site-packages" in filename or "dist-packages" in filename or not filename.endswith(".py"):
        cache[filename] = False  # the SDK, the standard library's neighbours: never the app's
        return False
    path = Path(filename)
    inside = False
    if not filename.startswith(str(root)) and os.path.realpath(os.path.dirname(filename)) == os.path.dirname(filename):
        cache[filename] = False  # not under the app's directory, and no symbolic link could put it there
        return False
    if path.is_absolute():
        try:
            resolved = path.resolve()
            inside = (
                resolved.is_relative_to(root)
                and not resolved.is_relative_to(MODALC_PACKAGE)
                and not any(
                    part in ("site-packages", "dist-packages") or part.startswith(".venv") for part in resolved.parts
                )
            )
        except OSError:
            inside = False
    cache[filename] = inside
    return inside


class _Sites:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, bool] = {}

    def here(self) -> Site | None:
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            if _project_file(filename, self.root, self._cache):
                return Site(Path(filename).resolve(), frame.f_lineno)
            frame = frame.f_back
        return None


# --- the recorder ------------------------------------------------------------------------------------------


class _Patches:
    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, inspect.getattr_static(owner, name)))
        setattr(owner, name, value)

    def restore(self) -> None:
        for owner, name, value in reversed(self._undo):
            setattr(owner, name, value)
        self._undo.clear()


@contextlib.contextmanager
def recording(root: Path) -> Iterator[Recording]:
    """Record every registration, decorator, image layer and lookup made while the block runs."""
    import modal
    import modal.experimental

    record = Recording(root)
    sites = _Sites(root)
    patches = _Patches()

    def keep(obj: Any) -> Any:
        record.keep.append(obj)
        return obj

    # -- App ----------------------------------------------------------------------------------------------
    app_init = modal.App.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        app_init(self, *args, **kwargs)
        name = args[0] if args else kwargs.get("name")
        record.apps[id(self)] = AppRecord(keep(self), name, dict(kwargs), sites.here())

    patches.set(modal.App, "__init__", init)

    def registration(method: str, kind: str) -> Callable[..., Any]:
        original = getattr(modal.App, method)

        def factory(self: Any, *args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            renamed, concurrent = _modernize(kwargs, site, record)
            decorate = original(self, *args, **kwargs)
            written = {**kwargs, **renamed}

            def apply(target: Any) -> Any:
                if concurrent is not None:
                    target = modal.concurrent(max_inputs=concurrent)(target)
                raw, stack = record.stack(target)
                result = decorate(target)
                record.registrations.append(Registration(kind, self, keep(raw), stack, written, site, keep(result)))
                return result

            return apply

        return factory

    patches.set(modal.App, "function", registration("function", "function"))
    patches.set(modal.App, "cls", registration("cls", "class"))

    original_include = modal.App.include

    def include(self: Any, other_app: Any, inherit_tags: bool = True) -> Any:
        record.includes.append(Include(self, other_app, inherit_tags, sites.here()))
        return original_include(self, other_app, inherit_tags=inherit_tags)

    patches.set(modal.App, "include", include)

    original_entrypoint = modal.App.local_entrypoint

    def local_entrypoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        site = sites.here()
        decorate = original_entrypoint(self, *args, **kwargs)

        def apply(function: Any) -> Any:
            name = kwargs.get("name") or getattr(function, "__name__", "")
            record.entrypoints.append(Entrypoint(self, str(name), keep(function), site))
            return decorate(function)

        return apply

    patches.set(modal.App, "local_entrypoint", local_entrypoint)

    if hasattr(modal.App, "server"):
        original_server = modal.App.server

        def server(self: Any, *args: Any, **kwargs: Any) -> Any:
            record.servers.append(sites.here())
            return original_server(self, *args, **kwargs)

        patches.set(modal.App, "server", server)

    # -- decorators -----------------------------------------------------------------------------------------
    def decorator(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def factory(*args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            decorate = original(*args, **kwargs)
            if not callable(decorate) or (args and not isinstance(args[0], int) and callable(args[0])):
                return decorate  # used bare: Modal has already said what is wrong

            def apply(target: Any) -> Any:
                raw, stack = record.stack(target)
                result = decorate(target)
                record.raw[id(result)] = keep(raw)
                record.decorations[id(result)] = [*stack, Decoration(name, args, dict(kwargs), site)]
                keep(result)
                return result

            return apply

        return factory

    for owner_name, attribute in DECORATORS:
        owner = modal if owner_name == "modal" else modal.experimental
        original = getattr(owner, attribute, None)
        if original is not None:
            label = attribute if owner_name == "modal" else f"experimental.{attribute}"
            patches.set(owner, attribute, decorator(label, original))

    original_parameter = modal.parameter

    def parameter(**kwargs: Any) -> Any:
        result = original_parameter(**kwargs)
        record.parameters[id(result)] = Parameter(kwargs.get("default"), "default" in kwargs, kwargs.get("init", True))
        keep(result)
        return result

    patches.set(modal, "parameter", parameter)

    if hasattr(modal, "web_endpoint"):

        def web_endpoint(*args: Any, **kwargs: Any) -> Any:
            record.renames.append(Rename("web_endpoint", 'web = { type = "fastapi" }', sites.here(), "2025-03-05"))
            return modal.fastapi_endpoint(*args, **kwargs)

        patches.set(modal, "web_endpoint", web_endpoint)

    # -- images -------------------------------------------------------------------------------------------
    def image_builder(method: str) -> Callable[..., Any]:
        original = getattr(modal.Image, method)

        def build(self: Any, *args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            result = original(self, *args, **kwargs)
            if result is not self and id(result) not in record.images:  # a builder that adds nothing returns self
                record.images[id(result)] = ImageCall(method, args, dict(kwargs), self, site)
                keep(result)
            return result

        return build

    def image_constructor(method: str) -> Callable[..., Any]:
        original = getattr(modal.Image, method)

        def construct(*args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            result = original(*args, **kwargs)
            record.images[id(result)] = ImageCall(method, args, dict(kwargs), None, site)
            keep(result)
            return result

        return construct

    for method in IMAGE_METHODS:
        if hasattr(modal.Image, method):
            patches.set(modal.Image, method, image_builder(method))
    for method in IMAGE_CONSTRUCTORS:
        if hasattr(modal.Image, method):
            patches.set(modal.Image, method, staticmethod(image_constructor(method)))

    # -- lookups ------------------------------------------------------------------------------------------
    def lookup(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def look_up(*args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            result = original(*args, **kwargs)
            record.lookups[id(result)] = Lookup(kind, args, dict(kwargs), site)
            keep(result)
            return result

        return look_up

    for class_name, method, kind in LOOKUPS:
        looked_up: Any = getattr(modal, class_name, None)
        if looked_up is not None and hasattr(looked_up, method):
            patches.set(looked_up, method, staticmethod(lookup(kind, getattr(looked_up, method))))

    bucket_init = modal.CloudBucketMount.__init__
    bucket_signature = inspect.signature(bucket_init)

    def bucket(self: Any, *args: Any, **kwargs: Any) -> None:
        bucket_init(self, *args, **kwargs)
        bound = bucket_signature.bind(self, *args, **kwargs)
        record.buckets[id(self)] = {k: v for k, v in bound.arguments.items() if k != "self"}
        keep(self)

    patches.set(modal.CloudBucketMount, "__init__", bucket)

    original_options = modal.Volume.with_mount_options

    def with_mount_options(self: Any, *, read_only: bool | None = None, sub_path: str | None = None) -> Any:
        site = sites.here()
        keywords: dict[str, Any] = {}
        if read_only is not None:
            keywords["read_only"] = read_only
        if sub_path is not None:
            keywords["sub_path"] = sub_path
        result = original_options(self, **keywords)
        record.mount_options[id(result)] = MountOptions(self, read_only, sub_path, site)
        keep(result)
        return result

    patches.set(modal.Volume, "with_mount_options", with_mount_options)

    try:
        yield record
    finally:
        patches.restore()


# Parameters Modal renamed: Modal 1.6 refuses the old names at decoration time (DeprecationError), so an app that
# uses them cannot be imported as it is. They are translated before Modal sees them, with a note for each.
RENAMED_PARAMETERS = {
    "keep_warm": ("min_containers", "2025-02-24"),
    "concurrency_limit": ("max_containers", "2025-02-24"),
    "container_idle_timeout": ("scaledown_window", "2025-02-24"),
}
RENAMED_KEY = "__modalc_renamed__"  # in a Registration's decorator keywords: {new name: old name}


def _modernize(kwargs: dict[str, Any], site: Site | None, record: Recording) -> tuple[dict[str, Any], Any]:
    """Rewrite deprecated keywords of App.function/App.cls in place; the renames, and a concurrency to apply."""
    renamed: dict[str, str] = {}
    for old, (new, date) in RENAMED_PARAMETERS.items():
        if old in kwargs and new not in kwargs:
            kwargs[new] = kwargs.pop(old)
            renamed[new] = old
            record.renames.append(Rename(old, new, site, date))
    concurrent = None
    if "allow_concurrent_inputs" in kwargs:
        concurrent = kwargs.pop("allow_concurrent_inputs")
        renamed["concurrency"] = "allow_concurrent_inputs"
        record.renames.append(Rename("allow_concurrent_inputs", "concurrency.max_inputs", site, "2025-04-09"))
    if kwargs.get("max_inputs") == 1 and "single_use_containers" not in kwargs:
        kwargs.pop("max_inputs")
        kwargs["single_use_containers"] = True
        renamed["single_use_containers"] = "max_inputs"
        record.renames.append(Rename("max_inputs=1", "single_use_containers", site, "2025-12-16"))
    return ({RENAMED_KEY: renamed} if renamed else {}), concurrent


# --- importing the module ----------------------------------------------------------------------------------


class UserCodeError(Exception):
    """The app's own code raised while it was imported: `traceback_text` says where."""

    def __init__(self, error: BaseException, site: Site | None):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.site = site


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """No token and an unreachable server while the app is imported: nothing can reach Modal."""
    saved = {key: os.environ.get(key) for key in ("MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")}
    os.environ["MODAL_SERVER_URL"] = OFFLINE_SERVER_URL
    os.environ.pop("MODAL_TOKEN_ID", None)
    os.environ.pop("MODAL_TOKEN_SECRET", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_module(path: Path, source: str) -> ModuleType:
    """Import `path` as `modal deploy path` does (its directory first on sys.path, named after its stem), running
    `source` (the file, possibly with deprecated parameters rewritten) in its place."""
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = inspect.getmodulename(str(path)) or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    code = compile(source, str(path), "exec", dont_inherit=True)
    try:
        exec(code, module.__dict__)
    except BaseException as error:
        raise UserCodeError(error, _innermost_site(error, path.parent)) from error
    return module


def _innermost_site(error: BaseException, root: Path) -> Site | None:
    found = None
    traceback = error.__traceback__
    cache: dict[str, bool] = {}
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if _project_file(filename, root, cache):
            found = Site(Path(filename).resolve(), traceback.tb_lineno)
        traceback = traceback.tb_next
    return found


def forget_project_modules(root: Path) -> None:
    """Drop every module imported from the project, so that a later import in this process starts afresh."""
    cache: dict[str, bool] = {}
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if filename and _project_file(filename, root, cache):
            del sys.modules[name]
    if str(root) in sys.path:
        sys.path.remove(str(root))
