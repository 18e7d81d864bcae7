"""Same infrastructure, fact by fact: what a module registers with the real `modal` SDK, normalized to compare.

`module_facts(path)` imports a module (a user's Modal app, or a generated module) with the SDK patched to
record what it builds (as tests/modal_introspection.py does: `_Function._from_local` and `_Image._from_args`),
and returns plain data: per app, its tags and functions; per function and class, every setting `_from_local`
received, normalized (images as their layers, secrets by name and environment, volumes by name, mount path and
options, schedules, webhooks and HTTP configs as their protos, GPUs as Modal parses them), plus the signatures,
the lifecycle hooks, the methods and the class parameters.

`compare(original, rebuilt)` lists every fact that differs. The differences that are expected when the rebuilt
module is modalc's output are named in KNOWN_DIFFERENCES with their reasons: `as_rebuilt` and `without_digests`
apply the first four (handler_mount, build_function_source, create_user_instance, rewritten_modules); the
others are what the facts leave out on purpose (a wrapper's module and code, a builder's code, annotations,
where a local file sits on disk). Nothing else is ignored. The importer's own recorder (modalc.importer.sdk,
public API only) is not used here, so a mistake in it cannot hide itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUILDER_VERSION = "2025.06"

# Differences between an app and modalc's build of its import that are expected, and why. `as_rebuilt` applies
# exactly these, by name; a test that needs one names it.
KNOWN_DIFFERENCES = {
    "handler_mount": "modalc ships the handler package (the user's rewritten module) as the last, mounted layer of "
    "each image that runs handlers; Modal ships the original app file as the function's own entrypoint mount, "
    "which is not an image layer. Both reach /root the same way at container start.",
    "build_function_source": "before a run_function layer, modalc copies the build function's package into the "
    "image (add_local_python_source(copy=True)), because its builder imports the function from the image; "
    "Modal mounts the module that defines the function into the builder instead.",
    "builder_code": "a run_function layer's builder is the generated wrapper that calls the user's function: the "
    "layer is compared by its builder's settings and arguments, not by the wrapper's code.",
    "wrapper_module": "a registered function is the generated module's wrapper, which calls the user's handler: "
    "its module and source differ; its name, signature and settings are compared.",
    "create_user_instance": "a generated class has one more enter hook, _create_user_instance, first, which "
    "constructs the user's class with its parameters.",
    "annotations": "the generated wrappers repeat a handler's annotations through the module alias and quoted "
    "(`'_app.Item'`): parameters are compared by name, kind and default.",
    "local_paths": "files the images take are compared by where they land in the container and by content, not by "
    "where they are on disk (an import may copy them into the new project).",
    "rewritten_modules": "a module of the user's that import rewrote into a handler module (Modal's decorators and "
    "registrations taken out) is shipped at the same container path with its new content: compared by path.",
}


# --- capture ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _recording() -> Iterator[dict[str, Any]]:
    from modal._functions import _Function
    from modal._image import _Image

    seen: dict[str, Any] = {"functions": [], "builders": {}, "images": {}}
    original_function = _Function._from_local
    original_image = _Image._from_args

    def record_function(info: Any, *args: Any, **kwargs: Any) -> Any:
        function = original_function(info, *args, **kwargs)
        if kwargs.get("is_builder_function"):
            seen["builders"][id(function)] = kwargs
        else:
            seen["functions"].append((info, kwargs, function))
        return function

    def record_image(**kwargs: Any) -> Any:
        image = original_image(**kwargs)
        seen["images"][id(image)] = kwargs
        return image

    _Function._from_local = staticmethod(record_function)
    _Image._from_args = staticmethod(record_image)
    try:
        yield seen
    finally:
        _Function._from_local = original_function
        _Image._from_args = original_image


def _import_user_app(path: Path) -> Any:
    """Import an app file as `modal deploy app.py` does: its directory on sys.path, named after its stem."""
    sys.path.insert(0, str(path.parent))
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _forget(directory: Path) -> None:
    directory = directory.resolve()
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if filename and Path(filename).resolve().is_relative_to(directory) and "site-packages" not in filename:
            del sys.modules[name]
    while str(directory) in sys.path:
        sys.path.remove(str(directory))


def module_facts(path: Path, *, modal_environment: str | None = None, project: Path | None = None) -> dict[str, Any]:
    """Import `path` with the real SDK and return its infrastructure as comparable data.

    A generated module is imported with its Modal environment selected; `project` is the directory whose
    modules are forgotten afterwards (default: the module's own directory)."""
    import os

    path = path.resolve()
    project = (project or path.parent).resolve()
    previous = os.environ.get("MODAL_ENVIRONMENT")
    if modal_environment is not None:
        os.environ["MODAL_ENVIRONMENT"] = modal_environment
    _forget(project)
    here = Path.cwd()
    os.chdir(path.parent)  # relative local paths resolve against the deployer's directory, as in `modal deploy`
    try:
        with _recording() as seen:
            module = _import_user_app(path)
            return _facts(module, seen)
    finally:
        os.chdir(here)
        _forget(project)
        if previous is None:
            os.environ.pop("MODAL_ENVIRONMENT", None)
        else:
            os.environ["MODAL_ENVIRONMENT"] = previous


def _underlying(obj: Any) -> Any:
    from modal._utils.async_utils import synchronizer

    try:
        return synchronizer._translate_in(obj)
    except Exception:
        return obj


def _facts(module: Any, seen: dict[str, Any]) -> dict[str, Any]:
    import modal

    apps: dict[str, Any] = {}
    for value in vars(module).values():
        if isinstance(value, modal.App):
            impl = _underlying(value)
            state = impl._local_state
            apps[impl._name or ""] = {
                "tags": dict(state.tags),
                "functions": sorted(state.functions),
                "classes": sorted(state.classes),
                "web_endpoints": sorted(state.web_endpoints),
            }
    registered: dict[str, Any] = {}
    for info, kwargs, _function in seen["functions"]:
        app = kwargs.get("app")
        owner = app._name if app is not None else ""
        name = info.user_cls.__name__ if info.user_cls is not None else info.function_name
        facts = _settings(kwargs, seen)
        facts["app"] = owner
        if info.user_cls is not None:
            facts.update(_class_facts(info.user_cls))
        else:
            facts["signature"] = _signature(info.raw_f)
        registered[f"{owner}/{name}"] = facts
    return {"apps": apps, "functions": registered}


# --- normalizing ---------------------------------------------------------------------------------------------------


def _proto(message: Any) -> Any:
    if message is None:
        return None
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True)


def _gpu(value: Any) -> Any:
    from modal._utils.function_utils import parse_gpu_config

    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    return [_proto(parse_gpu_config(v)) for v in values]


def _secret(secret: Any) -> Any:
    impl = _underlying(secret)
    if getattr(impl, "_name", None):
        closure = inspect.getclosurevars(impl._load).nonlocals
        overrides = getattr(impl, "_load_context_overrides", None)
        return {
            "name": impl._name,
            "environment": getattr(overrides, "_environment_name", None),
            "required_keys": sorted(closure.get("required_keys") or []),
        }
    load_env = getattr(impl, "_load_env_dict", None)
    if load_env is not None:
        return {"env": dict(inspect.getclosurevars(load_env).nonlocals.get("env_dict_filtered") or {})}
    return {"repr": repr(impl)}


def _volume(volume: Any) -> Any:
    impl = _underlying(volume)
    if hasattr(impl, "bucket_name"):
        fields = {k: getattr(impl, k) for k in impl.__dataclass_fields__ if k != "secret"}
        fields["secret"] = _secret(impl.secret) if impl.secret is not None else None
        return {"bucket": fields}
    options = getattr(impl, "_mount_options", None)
    base = impl
    while base._name is None and base._deps is not None:  # with_mount_options: a loader over the original
        base = base._deps()[0]
    closure = inspect.getclosurevars(base._load).nonlocals if base._load is not None else {}
    overrides = getattr(base, "_load_context_overrides", None)
    return {
        "name": impl._name or base._name,
        "environment": getattr(overrides, "_environment_name", None),
        "create_if_missing": closure.get("create_if_missing"),
        "read_only": bool(getattr(options, "read_only", None) or getattr(impl, "_read_only", False)),
        "sub_path": getattr(options, "sub_path", None),
    }


def _retries(retries: Any) -> Any:
    if retries is None:
        return None
    import modal

    if isinstance(retries, int):
        retries = modal.Retries(max_retries=retries, backoff_coefficient=1.0, initial_delay=1.0)
    return {
        "max_retries": retries.max_retries,
        "backoff_coefficient": retries.backoff_coefficient,
        "initial_delay": retries.initial_delay.total_seconds(),
        "max_delay": retries.max_delay.total_seconds(),
    }


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _mount(mount: Any) -> list[tuple[str, str]]:
    """(container path, content digest) of every file a mount uploads."""
    out = []
    for entry in _underlying(mount)._entries or []:
        for local, remote in entry.get_files_to_upload():
            out.append((str(remote), _file_digest(Path(local))))
    return sorted(out)


def _modules(mount: Any) -> list[str]:
    return sorted(
        getattr(entry, "module_name", "")
        for entry in _underlying(mount)._entries or []
        if getattr(entry, "module_name", None)
    )


def _layers(image: Any, seen: dict[str, Any]) -> list[dict[str, Any]]:
    """The image's layers, base first."""
    import modal
    from modal.app import _default_image

    out: list[dict[str, Any]] = []
    image = _underlying(image)
    if image is _default_image:  # made when modal was imported, before any recording: build the same again
        with _recording() as fresh:
            return _layers(modal.Image.debian_slim(), fresh)
    while image is not None:
        recorded = seen["images"].get(id(image))
        if recorded is not None:
            layer: dict[str, Any] = {"kind": "build"}
            function = recorded.get("dockerfile_function")
            if function is not None:
                spec = function(BUILDER_VERSION)
                layer["commands"] = list(spec.commands)
                layer["context_files"] = {
                    name: _file_digest(Path(local)) for name, local in sorted(spec.context_files.items())
                }
            layer["secrets"] = [_secret(s) for s in recorded.get("secrets") or []]
            gpu = recorded.get("gpu_config")
            layer["gpu"] = _proto(gpu) if gpu is not None else None
            layer["build_args"] = dict(recorded.get("build_args") or {})
            layer["force_build"] = bool(recorded.get("force_build"))
            context = recorded.get("context_mount_function")
            mount = context(BUILDER_VERSION) if context is not None else None
            layer["context"] = _mount(mount) if mount is not None else []
            registry = recorded.get("image_registry_config")
            if registry is not None:
                layer["registry"] = {
                    "auth": registry.registry_auth_type,
                    "secret": _secret(registry.secret) if registry.secret is not None else None,
                }
            builder = recorded.get("build_function")
            if builder is not None:
                builder_settings = _settings(seen["builders"].get(id(_underlying(builder)), {}), seen)
                builder_settings.pop("image")  # the builder runs on this layer's base: its layers are the ones below
                layer["builder"] = builder_settings
                payload = recorded.get("build_function_input")
                layer["builder_input"] = hashlib.sha256(payload.args).hexdigest()[:16] if payload is not None else None
            out.append(layer)
            bases = recorded.get("base_images") or {}
            image = next(iter(bases.values()), None)
        elif getattr(image, "_deps", None) is None:
            break
        else:
            dependencies = image._deps()
            mounts = dependencies[1:]
            out.append(
                {
                    "kind": "mount",
                    "files": sorted(f for m in mounts for f in _mount(m)),
                    "modules": sorted(n for m in mounts for n in _modules(m)),
                }
            )
            image = dependencies[0] if dependencies else None
    return list(reversed(out))


SETTINGS = (
    "cpu",
    "memory",
    "ephemeral_disk",
    "timeout",
    "startup_timeout",
    "min_containers",
    "max_containers",
    "buffer_containers",
    "scaledown_window",
    "scaleup_window",
    "max_concurrent_inputs",
    "target_concurrent_inputs",
    "batch_max_size",
    "batch_wait_ms",
    "cloud",
    "routing_region",
    "nonpreemptible",
    "is_generator",
    "is_auto_snapshot",
    "is_server",
    "enable_memory_snapshot",
    "block_network",
    "restrict_modal_access",
    "i6pn_enabled",
    "cluster_size",
    "rdma",
    "fabric_size",
    "single_use_containers",
    "include_source",
    "restrict_output",
)


def _settings(kwargs: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {key: kwargs.get(key) for key in SETTINGS}
    for key in ("cpu", "memory"):
        if isinstance(facts[key], list):
            facts[key] = tuple(facts[key])
    region = kwargs.get("region")
    facts["region"] = [region] if isinstance(region, str) else list(region) if region else None
    facts["gpu"] = _gpu(kwargs.get("gpu"))
    facts["retries"] = _retries(kwargs.get("retries"))
    schedule = kwargs.get("schedule")
    facts["schedule"] = _proto(schedule.proto_message) if schedule is not None else None
    facts["webhook"] = _proto(kwargs.get("webhook_config"))
    facts["http_config"] = _proto(kwargs.get("http_config"))
    facts["experimental_options"] = dict(kwargs.get("experimental_options") or {})
    facts["secrets"] = [_secret(s) for s in kwargs.get("secrets") or []]
    facts["volumes"] = {str(path): _volume(v) for path, v in sorted((kwargs.get("volumes") or {}).items())}
    facts["network_file_systems"] = sorted(str(p) for p in (kwargs.get("network_file_systems") or {}))
    facts["proxy"] = repr(kwargs.get("proxy")) if kwargs.get("proxy") is not None else None
    image = kwargs.get("image")
    facts["image"] = _layers(image, seen) if image is not None else None
    if "env" in kwargs and kwargs["env"]:
        facts["env"] = dict(kwargs["env"])
    return facts


def _signature(function: Any) -> list[tuple[str, str, str]]:
    out = []
    for parameter in inspect.signature(function).parameters.values():
        default = "" if parameter.default is inspect.Parameter.empty else repr(parameter.default)
        out.append((parameter.name, parameter.kind.name, default))
    return out


def _class_facts(user_cls: Any) -> dict[str, Any]:
    from modal._partial_function import _PartialFunction, _PartialFunctionFlags
    from modal.cls import _Parameter

    hooks: dict[str, list[str]] = {"enter_pre_snapshot": [], "enter_post_snapshot": [], "exit": []}
    methods: dict[str, Any] = {}
    for name, value in user_cls.__dict__.items():
        partial = _underlying(value)
        if not isinstance(partial, _PartialFunction):
            continue
        flags = partial.flags
        if flags & _PartialFunctionFlags.ENTER_PRE_SNAPSHOT:
            hooks["enter_pre_snapshot"].append(name)
        if flags & _PartialFunctionFlags.ENTER_POST_SNAPSHOT:
            hooks["enter_post_snapshot"].append(name)
        if flags & _PartialFunctionFlags.EXIT:
            hooks["exit"].append(name)
        if flags & _PartialFunctionFlags.interface_flags():
            params = partial.params
            methods[name] = {
                "flags": int(flags & ~_PartialFunctionFlags.lifecycle_flags()),
                "webhook": _proto(params.webhook_config),
                "batch": (params.batch_max_size, params.batch_wait_ms),
                "is_generator": params.is_generator,
                "signature": _signature(partial.raw_f)[1:],
            }
    annotations = getattr(user_cls, "__annotations__", {})
    parameters = {
        name: (getattr(annotations.get(name), "__name__", repr(annotations.get(name))), repr(value.default))
        for name, value in user_cls.__dict__.items()
        if isinstance(value, _Parameter)
    }
    return {"hooks": hooks, "methods": methods, "parameters": parameters}


# --- comparing ---------------------------------------------------------------------------------------------------


def _is_handler_mount(layer: dict[str, Any], packages: set[str]) -> bool:
    return layer["kind"] == "mount" and bool(layer["modules"]) and set(layer["modules"]) <= packages


def _is_builder_source(layer: dict[str, Any], packages: set[str]) -> bool:
    if layer["kind"] != "build" or layer.get("commands") != ["FROM base", "COPY . /"]:
        return False
    tops = {path.strip("/").split("/")[1].removesuffix(".py") for path, _ in layer["context"] if path.count("/") > 1}
    return bool(tops) and tops <= packages


def _strip_layers(layers: list[dict[str, Any]] | None, packages: set[str]) -> list[dict[str, Any]] | None:
    if layers is None:
        return None
    out = []
    for index, layer in enumerate(layers):
        following = layers[index + 1] if index + 1 < len(layers) else None
        if _is_handler_mount(layer, packages):
            continue  # handler_mount
        if following is not None and "builder" in following and _is_builder_source(layer, packages):
            continue  # build_function_source
        out.append(layer)
    return out


def without_digests(facts: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    """The facts with the content of files at these container paths left out (rewritten_modules)."""
    import copy

    facts = copy.deepcopy(facts)
    for function in facts["functions"].values():
        for layer in function.get("image") or []:
            for key in ("files", "context"):
                if key in layer:
                    layer[key] = [(p, "rewritten" if p in paths else d) for p, d in layer[key]]
    return facts


def as_rebuilt(facts: dict[str, Any], packages: set[str]) -> dict[str, Any]:
    """The facts of an app with modalc's expected differences applied (KNOWN_DIFFERENCES), for comparing it with
    modalc's build of its import. `packages` are the handler packages of the new project."""
    import copy

    facts = copy.deepcopy(facts)
    for function in facts["functions"].values():
        function["image"] = _strip_layers(function["image"], packages)
        hooks = function.get("hooks")
        if hooks:
            for phase in ("enter_pre_snapshot", "enter_post_snapshot"):
                hooks[phase] = [h for h in hooks[phase] if h != "_create_user_instance"]  # create_user_instance
    return facts


def compare(original: dict[str, Any], rebuilt: dict[str, Any], path: str = "") -> list[str]:
    """Every fact that differs, as `path: original != rebuilt`."""
    if isinstance(original, dict) and isinstance(rebuilt, dict):
        out = []
        for key in sorted(set(original) | set(rebuilt), key=str):
            here = f"{path}.{key}" if path else str(key)
            if key not in original:
                out.append(f"{here}: only in the rebuilt module: {rebuilt[key]!r}")
            elif key not in rebuilt:
                out.append(f"{here}: only in the original: {original[key]!r}")
            else:
                out += compare(original[key], rebuilt[key], here)
        return out
    if isinstance(original, list) and isinstance(rebuilt, list) and len(original) == len(rebuilt):
        out = []
        for index, (a, b) in enumerate(zip(original, rebuilt, strict=True)):
            out += compare(a, b, f"{path}[{index}]")
        return out
    return [] if original == rebuilt else [f"{path}: {original!r} != {rebuilt!r}"]


def assert_same_infrastructure(
    original: dict[str, Any], rebuilt: dict[str, Any], packages: set[str], rewritten: set[str] = frozenset()
) -> None:
    """`packages`: the new project's handler packages; `rewritten`: container paths of rewritten modules."""
    rebuilt = without_digests(as_rebuilt(rebuilt, packages), set(rewritten))
    original = without_digests(original, set(rewritten))
    differences = compare(original, rebuilt)
    assert not differences, "the rebuilt module's infrastructure differs:\n" + "\n".join(differences)


def count_facts(facts: Any) -> int:
    """How many leaf facts a comparison checked (for the test's own report)."""
    if isinstance(facts, dict):
        return sum(count_facts(v) for v in facts.values())
    if isinstance(facts, list):
        return sum(count_facts(v) for v in facts) or 1
    return 1


# --- the helper finds what it should --------------------------------------------------------------------------


HELPER_APP = """
import modal

image = modal.Image.debian_slim(python_version="3.12").pip_install("requests==2.32.3")
app = modal.App("helper-check", image=image)


@app.function(gpu="{gpu}", timeout=120, secrets=[modal.Secret.from_name("keys", environment_name="shared")])
def work(x: int, scale: float = 2.0) -> float:
    return x * scale
"""


def test_the_helper_sees_a_changed_gpu_and_nothing_else(tmp_path: Path) -> None:
    first, second = tmp_path / "one" / "app.py", tmp_path / "two" / "app.py"
    for path, gpu in ((first, "T4"), (second, "L4")):
        path.parent.mkdir()
        path.write_text(HELPER_APP.format(gpu=gpu))
    differences = compare(module_facts(first), module_facts(second))
    assert len(differences) == 1 and differences[0].startswith("functions.helper-check/work.gpu[0].gpu_type"), (
        differences
    )


def test_the_helper_normalizes_what_is_the_same_on_the_wire(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text(HELPER_APP.format(gpu="h100"))
    facts = module_facts(path)
    work = facts["functions"]["helper-check/work"]
    assert work["gpu"][0]["gpu_type"] == "H100"
    assert work["secrets"] == [{"name": "keys", "environment": "shared", "required_keys": []}]
    assert work["image"][-1]["commands"][-1].startswith("RUN python -m pip install requests==2.32.3")
    assert work["signature"] == [("x", "POSITIONAL_OR_KEYWORD", ""), ("scale", "POSITIONAL_OR_KEYWORD", "2.0")]
    assert count_facts(facts) > 40


@pytest.mark.parametrize("difference", sorted(KNOWN_DIFFERENCES))
def test_every_known_difference_has_a_reason(difference: str) -> None:
    assert len(KNOWN_DIFFERENCES[difference]) > 60
