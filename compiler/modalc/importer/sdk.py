"""Import a Modal app the way `modal deploy` does, offline, and record what it builds.

This is the importer's one use of the `modal` SDK's private API (like `compat.py` for the rest of modalc). Modal
keeps most settings of a Function in closures, so the recorder patches, for the duration of the import:

- `_Function._from_local`: every function and class service function with its final keyword arguments
  (defaults merged, `env` turned into a secret, decorators' settings collected);
- `App.__init__`, `App.function`, `App.cls`, `App.include`, `App.server`: what the decorators were given, before
  Modal processes it (typed `experimental_options`, `env`, `serialized`, ...), and where;
- every public `modal.Image` builder and constructor: one call per layer, with its arguments, so an image is
  read back as the method chain that made it rather than reverse-engineered from Dockerfile commands;
- the lookups by name (`Volume`, `Secret`, `Queue`, `Dict`, `NetworkFileSystem`, `Proxy`), `Secret.from_dict`
  and friends, and `Volume.with_mount_options`.

Every record keeps the line of the user's code that made it (the innermost frame in one of the project's files).
Nothing here talks to Modal: the objects are lazy until deployed, and the import runs with an unreachable server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
import threading
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
    parent: Any  # the underlying _Image it was called on (None for a constructor)
    site: Site | None


@dataclass
class Lookup:
    kind: str  # see LOOKUPS
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    site: Site | None


@dataclass
class MountOptions:
    volume: Any  # the underlying _Volume it was made from
    read_only: bool | None
    sub_path: str | None
    site: Site | None


@dataclass
class AppRecord:
    app: Any  # the underlying _App
    name: str | None
    kwargs: dict[str, Any]
    site: Site | None


@dataclass
class Registration:
    """A function or class as `_from_local` received it, with what its decorator was given."""

    info: Any  # FunctionSourceInfo
    kwargs: dict[str, Any]
    decorator: dict[str, Any]  # the App.function / App.cls keywords as written
    decorator_site: Site | None
    function: Any = None  # the _Function it made

    @property
    def is_class(self) -> bool:
        return self.info.user_cls is not None


@dataclass
class Include:
    app: Any
    other: Any
    inherit_tags: bool
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
    includes: list[Include] = field(default_factory=list)
    servers: list[Site | None] = field(default_factory=list)  # App.server uses (not imported)
    renames: list[Rename] = field(default_factory=list)
    keep: list[Any] = field(default_factory=list)  # every recorded object stays alive, so ids stay unique

    def image(self, image: Any) -> ImageCall | None:
        return self.images.get(id(underlying(image)))


def underlying(obj: Any) -> Any:
    """The SDK's implementation object behind a public (synchronized) one."""
    from modal._utils.async_utils import synchronizer

    try:
        return synchronizer._translate_in(obj)  # type: ignore[no-untyped-call]
    except Exception:  # not a synchronized object
        return obj


def public(obj: Any) -> Any:
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_out(obj)  # type: ignore[no-untyped-call]


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


_decorating = threading.local()  # the App.function/App.cls keywords of the decoration in progress


@contextlib.contextmanager
def recording(root: Path) -> Iterator[Recording]:
    """Record every registration, image layer and lookup made while the block runs."""
    import modal
    from modal._functions import _Function

    record = Recording(root)
    sites = _Sites(root)
    patches = _Patches()

    original_from_local = _Function._from_local

    def from_local(info: Any, *args: Any, **kwargs: Any) -> Any:
        function = original_from_local(info, *args, **kwargs)
        if kwargs.get("is_builder_function") or kwargs.get("app", args[0] if args else None) is None:
            return function  # an Image.run_function builder: recorded with its image
        decorator, site = getattr(_decorating, "current", ({}, None))
        record.registrations.append(Registration(info, dict(kwargs), dict(decorator), site, function))
        record.keep.append(function)
        return function

    patches.set(_Function, "_from_local", staticmethod(from_local))

    # -- App ----------------------------------------------------------------------------------------------
    app_init = modal.App.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        app_init(self, *args, **kwargs)
        name = args[0] if args else kwargs.get("name")
        impl = underlying(self)
        record.apps[id(impl)] = AppRecord(impl, name, dict(kwargs), sites.here())
        record.keep.append(impl)

    patches.set(modal.App, "__init__", init)

    def decorator_factory(method: str) -> Callable[..., Any]:
        original = getattr(modal.App, method)

        def factory(self: Any, *args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            renamed, concurrent = _modernize(kwargs, site, record)
            decorate = original(self, *args, **kwargs)

            def apply(target: Any) -> Any:
                if concurrent is not None:
                    target = modal.concurrent(max_inputs=concurrent)(target)
                previous = getattr(_decorating, "current", None)
                _decorating.current = ({**kwargs, **renamed}, site)
                try:
                    return decorate(target)
                finally:
                    _decorating.current = previous

            return apply

        return factory

    for method in ("function", "cls"):
        patches.set(modal.App, method, decorator_factory(method))

    original_include = modal.App.include

    def include(self: Any, other_app: Any, inherit_tags: bool = True) -> Any:
        record.includes.append(Include(underlying(self), underlying(other_app), inherit_tags, sites.here()))
        return original_include(self, other_app, inherit_tags=inherit_tags)

    patches.set(modal.App, "include", include)

    if hasattr(modal.App, "server"):
        original_server = modal.App.server

        def server(self: Any, *args: Any, **kwargs: Any) -> Any:
            record.servers.append(sites.here())
            return original_server(self, *args, **kwargs)

        patches.set(modal.App, "server", server)

    # -- images -------------------------------------------------------------------------------------------
    def image_builder(method: str) -> Callable[..., Any]:
        original = getattr(modal.Image, method)

        def build(self: Any, *args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            result = original(self, *args, **kwargs)
            impl = underlying(result)
            if id(impl) not in record.images:  # a builder that adds nothing returns its own image
                record.images[id(impl)] = ImageCall(method, args, dict(kwargs), underlying(self), site)
                record.keep.append(impl)
            return result

        return build

    def image_constructor(method: str) -> Callable[..., Any]:
        original = getattr(modal.Image, method)

        def construct(*args: Any, **kwargs: Any) -> Any:
            site = sites.here()
            result = original(*args, **kwargs)
            impl = underlying(result)
            record.images[id(impl)] = ImageCall(method, args, dict(kwargs), None, site)
            record.keep.append(impl)
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
            impl = underlying(result)
            record.lookups[id(impl)] = Lookup(kind, args, dict(kwargs), site)
            record.keep.append(impl)
            return result

        return look_up

    for class_name, method, kind in LOOKUPS:
        owner = getattr(modal, class_name, None)
        if owner is not None and hasattr(owner, method):
            patches.set(owner, method, staticmethod(lookup(kind, getattr(owner, method))))

    original_options = modal.Volume.with_mount_options

    def with_mount_options(self: Any, *, read_only: bool | None = None, sub_path: str | None = None) -> Any:
        site = sites.here()
        keywords: dict[str, Any] = {}
        if read_only is not None:
            keywords["read_only"] = read_only
        if sub_path is not None:
            keywords["sub_path"] = sub_path
        result = original_options(self, **keywords)
        impl = underlying(result)
        record.mount_options[id(impl)] = MountOptions(underlying(self), read_only, sub_path, site)
        record.keep.append(impl)
        return result

    patches.set(modal.Volume, "with_mount_options", with_mount_options)

    if hasattr(modal, "web_endpoint"):

        def web_endpoint(*args: Any, **kwargs: Any) -> Any:
            record.renames.append(Rename("web_endpoint", 'web = { type = "fastapi" }', sites.here(), "2025-03-05"))
            return modal.fastapi_endpoint(*args, **kwargs)

        patches.set(modal, "web_endpoint", web_endpoint)

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
