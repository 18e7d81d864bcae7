"""Turn what the client sent during one deploy into a deterministic, plain-JSON record.

Ids never appear in a record: secrets and volumes are named, mounts are listed by file,
images get keys ("image-1", ...) in order of first use by the functions sorted by name.
Lists whose order carries no meaning (mounts, volume and bucket mounts, files) are sorted;
lists whose order matters (secrets, GPU fallbacks, image layers) keep the client's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from modal_proto import api_pb2

CLASS_SERVICE_SUFFIX = ".*"

_WEBHOOK_KINDS = {
    api_pb2.WEBHOOK_TYPE_FUNCTION: "fastapi_endpoint",
    api_pb2.WEBHOOK_TYPE_ASGI_APP: "asgi_app",
    api_pb2.WEBHOOK_TYPE_WSGI_APP: "wsgi_app",
    api_pb2.WEBHOOK_TYPE_WEB_SERVER: "web_server",
}
_PYTHON_VERSION_PATTERNS = (
    re.compile(r"python(?:_version)?[=:]\s*['\"]?(\d+\.\d+(?:\.\d+)?)"),
    re.compile(r"\bpython(\d+\.\d+)\b"),
)


@dataclass
class Registry:
    """In-memory objects of the running server that records refer to by id."""

    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    mounts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    images: dict[str, tuple[api_pb2.Image, str]] = field(default_factory=dict)
    forced_images: set[str] = field(default_factory=set)  # built with force_build
    mount_names: dict[str, str] = field(default_factory=dict)

    def secret(self, secret_id: str) -> dict[str, Any]:
        """Secret reference: {"name", "environment"} or {"inline_keys"} for from_dict ones."""
        return dict(self.secrets.get(secret_id, {"unknown_id": True}))

    def mount(self, mount_id: str) -> dict[str, Any]:
        """Mount reference: its files sorted by path, or the name of a Modal-provided mount."""
        if mount_id in self.mount_names:
            return {"modal_mount": self.mount_names[mount_id]}
        files = self.mounts.get(mount_id)
        return {"files": files} if files is not None else {"files": None, "unknown_id": True}


def _enum_suffix(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def _optional(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def _pair(low: float, high: float) -> float | list[float] | None:
    if high:
        return [low, high]
    return low or None


def _gpu(config: api_pb2.GPUConfig) -> dict[str, Any] | None:
    if config.count == 0:
        return None
    return {"type": config.gpu_type, "count": config.count}


def _webhook(config: api_pb2.WebhookConfig, url: str) -> dict[str, Any] | None:
    if config.type == api_pb2.WEBHOOK_TYPE_UNSPECIFIED:
        return None
    record: dict[str, Any] = {
        "type": _WEBHOOK_KINDS.get(config.type, str(config.type)),
        "method": config.method or None,
        "label": config.requested_suffix or None,
        "docs": config.web_endpoint_docs,
        "requires_proxy_auth": config.requires_proxy_auth,
        "custom_domains": sorted(d.name for d in config.custom_domains),
        "url": url,
    }
    if config.type == api_pb2.WEBHOOK_TYPE_WEB_SERVER:
        record["port"] = config.web_server_port
        record["startup_timeout"] = config.web_server_startup_timeout
    return record


def _schedule(fn: api_pb2.Function) -> dict[str, Any] | None:
    if not fn.HasField("schedule"):
        return None
    if fn.schedule.HasField("cron"):
        return {
            "cron": fn.schedule.cron.cron_string,
            "timezone": fn.schedule.cron.timezone,
        }
    period = MessageToDict(fn.schedule.period, preserving_proto_field_name=True)
    return {"period": period}


def _retries(fn: api_pb2.Function) -> dict[str, Any] | None:
    if not fn.HasField("retry_policy"):
        return None
    p = fn.retry_policy
    return {
        "retries": p.retries,
        "backoff_coefficient": p.backoff_coefficient,
        "initial_delay_ms": p.initial_delay_ms,
        "max_delay_ms": p.max_delay_ms,
    }


def _autoscaling(fn: api_pb2.Function) -> dict[str, Any]:
    s = fn.autoscaler_settings
    return {
        "min_containers": _optional(s, "min_containers"),
        "max_containers": _optional(s, "max_containers"),
        "buffer_containers": _optional(s, "buffer_containers"),
        "scaledown_window": _optional(s, "scaledown_window"),
    }


def _parameters(info: api_pb2.ClassParameterInfo) -> list[dict[str, Any]]:
    params = []
    for spec in info.schema:
        default_field = spec.WhichOneof("default_oneof")
        default = getattr(spec, default_field) if default_field else None
        if isinstance(default, bytes):
            default = default.hex()
        params.append(
            {
                "name": spec.name,
                "type": _enum_suffix(api_pb2.ParameterType, spec.type, "PARAM_TYPE_"),
                "has_default": spec.has_default,
                "default": default,
            }
        )
    return params


def _methods(fn: api_pb2.Function) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "function_type": _enum_suffix(api_pb2.Function.FunctionType, method.function_type, "FUNCTION_TYPE_"),
            "webhook": _webhook(method.webhook_config, method.web_url),
        }
        for name, method in sorted(fn.method_definitions.items())
    ]


def _volumes(fn: api_pb2.Function, reg: Registry) -> list[dict[str, Any]]:
    mounts = []
    for vm in fn.volume_mounts:
        ref = dict(reg.volumes.get(vm.volume_id, {"unknown_id": True}))
        ref.update(mount_path=vm.mount_path, read_only=vm.read_only)
        ref["sub_path"] = vm.sub_path if vm.HasField("sub_path") else None
        mounts.append(ref)
    return sorted(mounts, key=lambda m: m["mount_path"])


def _bucket_mounts(fn: api_pb2.Function, reg: Registry) -> list[dict[str, Any]]:
    mounts = []
    for cbm in fn.cloud_bucket_mounts:
        data = MessageToDict(cbm, preserving_proto_field_name=True)
        secret_id = data.pop("credentials_secret_id", None)
        data["secret"] = reg.secret(secret_id) if secret_id else None
        data["bucket_type"] = _enum_suffix(api_pb2.CloudBucketMount.BucketType, cbm.bucket_type, "")
        mounts.append(data)
    return sorted(mounts, key=lambda m: m.get("mount_path", ""))


def _python_version(layers: list[dict[str, Any]]) -> str | None:
    for layer in layers:
        mount = layer.get("context_mount") or {}
        # `add_python=` copies in a Modal-provided standalone Python build.
        if m := re.match(
            r"python-build-standalone\.\d+\.(\d+\.\d+(?:\.\d+)?)",
            mount.get("modal_mount", ""),
        ):
            return m.group(1)
        for command in layer["dockerfile_commands"]:
            for pattern in _PYTHON_VERSION_PATTERNS:
                if m := pattern.search(command):
                    return m.group(1)
    return None


def _base_image(layers: list[dict[str, Any]]) -> str | None:
    """The image reference of the first layer's `FROM` (e.g. python:3.12-slim-bookworm)."""
    for command in layers[0]["dockerfile_commands"] if layers else []:
        if command.upper().startswith("FROM "):
            return str(command.split()[1])
    return None


class _ImageKeys:
    """Assign stable keys to images in order of first use and describe their layers."""

    def __init__(self, reg: Registry) -> None:
        self._reg = reg
        self._keys: dict[str, str] = {}
        self.images: dict[str, dict[str, Any]] = {}

    def key(self, image_id: str) -> str | None:
        if not image_id:
            return None
        if image_id not in self._keys:
            key = f"image-{len(self._keys) + 1}"
            self._keys[image_id] = key
            layers = self._layers(image_id)
            self.images[key] = {
                "base_image": _base_image(layers),
                "python_version": _python_version(layers),
                "layers": layers,
            }
        return self._keys[image_id]

    def _layers(self, image_id: str) -> list[dict[str, Any]]:
        found = self._reg.images.get(image_id)
        if found is None:
            return [{"unknown_id": True, "dockerfile_commands": []}]
        image, builder_version = found
        layers: list[dict[str, Any]] = []
        for base in image.base_images:
            layers.extend(self._layers(base.image_id))
        registry = None
        if image.HasField("image_registry_config") and (
            image.image_registry_config.registry_auth_type or image.image_registry_config.secret_id
        ):
            cfg = image.image_registry_config
            registry = {
                "auth_type": api_pb2.RegistryAuthType.Name(cfg.registry_auth_type),
                "secret": self._reg.secret(cfg.secret_id) if cfg.secret_id else None,
            }
        layers.append(
            {
                "base_images": [b.docker_tag for b in image.base_images],
                "dockerfile_commands": list(image.dockerfile_commands),
                "context_files": sorted(
                    ({"filename": f.filename, "size": len(f.data)} for f in image.context_files),
                    key=lambda f: f["filename"],
                ),
                "context_mount": (self._reg.mount(image.context_mount_id) if image.context_mount_id else None),
                "secrets": [self._reg.secret(s) for s in image.secret_ids],
                "gpu": _gpu(image.gpu_config),
                "build_function": bool(image.HasField("build_function")),
                "volumes": sorted(
                    (
                        {**self._reg.volumes.get(v.volume_id, {"unknown_id": True}), "mount_path": v.mount_path}
                        for v in image.volume_mounts
                    ),
                    key=lambda v: v["mount_path"],
                ),
                "force_build": image_id in self._reg.forced_images,
                "registry": registry,
                "builder_version": builder_version,
            }
        )
        return layers


def _function_record(tag: str, data: api_pb2.FunctionData, reg: Registry, images: _ImageKeys) -> dict[str, Any]:
    ranked = sorted(data.ranked_functions, key=lambda r: r.rank)
    fn = ranked[0].function
    res = fn.resources
    placement = fn.scheduler_placement
    mounts = sorted((reg.mount(m) for m in fn.mount_ids), key=repr)
    is_class = fn.is_class
    record: dict[str, Any] = {
        "name": tag.removesuffix(CLASS_SERVICE_SUFFIX) if is_class else tag,
        "kind": "class" if is_class else "function",
        "function_type": _enum_suffix(api_pb2.Function.FunctionType, fn.function_type, "FUNCTION_TYPE_"),
        "gpus": [g for g in (_gpu(r.function.resources.gpu_config) for r in ranked) if g],
        "cpu": _pair(res.milli_cpu / 1000, res.milli_cpu_max / 1000),
        "memory_mb": _pair(res.memory_mb, res.memory_mb_max),
        "ephemeral_disk_mb": res.ephemeral_disk_mb or None,
        "timeout_secs": fn.timeout_secs,
        "startup_timeout_secs": fn.startup_timeout_secs,
        "retries": _retries(fn),
        "schedule": _schedule(fn),
        "autoscaling": _autoscaling(fn),
        "concurrency": (
            {
                "max_inputs": fn.max_concurrent_inputs or None,
                "target_inputs": fn.target_concurrent_inputs or None,
            }
            if fn.max_concurrent_inputs or fn.target_concurrent_inputs
            else None
        ),
        "batching": ({"max_size": fn.batch_max_size, "wait_ms": fn.batch_linger_ms} if fn.batch_max_size else None),
        "webhook": _webhook(fn.webhook_config, fn.web_url),
        "secrets": [reg.secret(s) for s in fn.secret_ids],
        "volumes": _volumes(fn, reg),
        "cloud_bucket_mounts": _bucket_mounts(fn, reg),
        "regions": sorted(placement.regions) or None,
        "cloud": fn.cloud_provider_str or None,
        "nonpreemptible": placement.nonpreemptible,
        "memory_snapshot": fn.checkpointing_enabled,
        "gpu_snapshot": fn.enable_gpu_snapshot or fn._experimental_enable_gpu_snapshot,
        "cluster": ({"size": fn._experimental_group_size, "rdma": res.rdma} if fn._experimental_group_size else None),
        "http_server": (
            {
                "port": fn.http_config.port,
                "proxy_regions": list(fn.http_config.proxy_regions),
                "startup_timeout": fn.http_config.startup_timeout,
                "exit_grace_period": fn.http_config.exit_grace_period,
            }
            if fn.HasField("http_config")
            else None
        ),
        "experimental_options": dict(sorted(fn.experimental_options.items())) or None,
        "single_use_containers": fn.single_use_containers,
        "block_network": fn.block_network,
        "restrict_modal_access": fn.untrusted,
        "routing_region": fn.routing_region or None,
        "image": images.key(fn.image_id),
        "mounts": mounts,
    }
    if is_class:
        record["class"] = {
            "parameters": _parameters(fn.class_parameter_info),
            "methods": _methods(fn),
        }
    return record


def deployment_record(
    *,
    app: str,
    environment: str,
    version: int,
    deployment_tag: str,
    tags: dict[str, str],
    functions: dict[str, api_pb2.FunctionData],
    reg: Registry,
    image_keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Describe one AppPublish: the app, its tags and each function/class (classes by name).

    `image_keys`, if given, is filled with image id -> the key the record uses for it."""
    images = _ImageKeys(reg)
    records = [_function_record(tag, functions[tag], reg, images) for tag in sorted(functions)]
    records.sort(key=lambda r: (r["name"], r["kind"]))
    if image_keys is not None:
        image_keys.update(images._keys)
    return {
        "app": app,
        "environment": environment,
        "version": version,
        "deployment_tag": deployment_tag or None,
        "tags": dict(sorted(tags.items())),
        "functions": records,
        "images": images.images,
    }
