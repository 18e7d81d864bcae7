"""What a generated module registers with the real `modal` SDK, read back offline.

Modal keeps most settings of a Function in closures, so this is the one place that reads private
attributes: it records the keyword arguments that `@app.function`/`@app.cls` pass to
`modal._functions._Function._from_local`, and walks image objects back to their Dockerfile commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

BUILDER_VERSION = "2025.06"


@dataclass
class Registered:
    name: str  # function name, or "Class.*" for a class service function
    is_class: bool
    settings: dict[str, Any]


@dataclass
class Capture:
    registered: list[Registered] = field(default_factory=list)
    images: dict[int, dict[str, Any]] = field(default_factory=dict)

    def by_name(self) -> dict[str, Registered]:
        return {r.name.removesuffix(".*"): r for r in self.registered}

    def layers(self, image: Any) -> list[tuple[str, Any]]:
        """The image's layers, base first: ("dockerfile", [commands]) or ("mount", [module names or paths])."""
        out: list[tuple[str, Any]] = []
        while image is not None:
            recorded = self.images.get(id(image))
            if recorded is not None:
                function = recorded.get("dockerfile_function")
                commands = function(BUILDER_VERSION).commands if function else []
                out.append(("dockerfile", list(commands)))
                bases = recorded.get("base_images") or {}
                image = next(iter(bases.values()), None)
            elif image._deps is None:
                break  # a base Modal builds itself (a registry image's Python), below the first layer
            else:
                dependencies = image._deps()
                out.append(("mount", [_describe_mount(m) for m in dependencies[1:]]))
                image = dependencies[0] if dependencies else None
        return list(reversed(out))

    def layer_facts(self, image: Any) -> list[dict[str, Any]]:
        """Every layer with what Modal builds it from: commands, build secrets, GPU, volumes, force_build,
        build args, context file names, registry and build-function input; mount layers by their entries."""
        from google.protobuf.json_format import MessageToDict

        out: list[dict[str, Any]] = []
        while image is not None:
            recorded = self.images.get(id(image))
            if recorded is not None:
                function = recorded.get("dockerfile_function")
                spec = function(BUILDER_VERSION) if function else None
                function_input = recorded.get("build_function_input")
                registry = recorded.get("image_registry_config")
                out.append(
                    {
                        "commands": list(spec.commands) if spec else [],
                        "context_files": sorted(spec.context_files) if spec else [],
                        "secrets": sorted(getattr(s, "_name", None) or repr(s) for s in recorded.get("secrets") or []),
                        "gpu": MessageToDict(recorded["gpu_config"]) if recorded.get("gpu_config") else {},
                        "volumes": [(path, volume._name) for path, volume in recorded.get("validated_volumes") or []],
                        "force_build": recorded.get("force_build", False),
                        "build_args": dict(recorded.get("build_args") or {}),
                        "registry": (registry.registry_auth_type, getattr(registry.secret, "_name", None))
                        if registry
                        else None,
                        "build_function_input": function_input.SerializeToString(deterministic=True)
                        if function_input
                        else None,
                    }
                )
                image = next(iter((recorded.get("base_images") or {}).values()), None)
            elif image._deps is None:
                # A registry base: Modal picks its layers when it loads, by builder version.
                out.append({"base": repr(image), "force_build": getattr(image, "force_build", False)})
                break
            else:
                dependencies = image._deps()
                out.append({"mount": [_describe_mount(m) for m in dependencies[1:]]})
                image = dependencies[0] if dependencies else None
        return list(reversed(out))


def _describe_mount(mount: Any) -> list[str]:
    described = []
    for entry in getattr(mount, "_entries", None) or []:
        name = getattr(entry, "module_name", None)
        described.append(name if name else str(getattr(entry, "local_path", entry)))
    return described


@contextlib.contextmanager
def capture() -> Iterator[Capture]:
    from modal._functions import _Function
    from modal._image import _Image

    result = Capture()
    original_function = _Function._from_local
    original_image = _Image._from_args

    def record_function(info: Any, *args: Any, **kwargs: Any) -> Any:
        result.registered.append(Registered(info.function_name, info.user_cls is not None, kwargs))
        return original_function(info, *args, **kwargs)

    def record_image(**kwargs: Any) -> Any:
        image = original_image(**kwargs)
        result.images[id(image)] = kwargs
        return image

    _Function._from_local = staticmethod(record_function)
    _Image._from_args = staticmethod(record_image)
    try:
        yield result
    finally:
        _Function._from_local = original_function
        _Image._from_args = original_image


def volume_name(volume: Any) -> str:
    return volume._name


def volume_read_only(volume: Any) -> bool:
    options = getattr(volume, "_mount_options", None)
    if options is not None and getattr(options, "read_only", None) is not None:
        return bool(options.read_only)
    return bool(getattr(volume, "_read_only", False))


def secret_names(secrets: list[Any]) -> list[str]:
    """Names of the named secrets (the `env` dict becomes an unnamed Secret.from_dict)."""
    return [s._name for s in secrets if getattr(s, "_name", None)]


def env_secret_keys(secrets: list[Any]) -> list[str]:
    reprs = [repr(s) for s in secrets if not getattr(s, "_name", None)]
    keys: list[str] = []
    for text in reprs:
        inner = text[text.find("[") + 1 : text.rfind("]")]
        keys += [k.strip() for k in inner.split(",") if k.strip()]
    return keys


def schedule_fields(schedule: Any) -> dict[str, Any] | None:
    if schedule is None:
        return None
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(schedule.proto_message)


def webhook_fields(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(config, preserving_proto_field_name=True)


def import_with_capture(path: Path, modal_env: str, user_packages: list[str]) -> tuple[ModuleType, Capture]:
    from helpers import import_module_from

    with capture() as captured:
        module = import_module_from(path, modal_env, user_packages)
    return module, captured


def raw_function(function: Any) -> Any:
    """The Python function behind a registered modal.Function (the generated wrapper)."""
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(function)._raw_f
