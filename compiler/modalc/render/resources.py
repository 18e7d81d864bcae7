"""Volumes, secrets, buckets and mounts, and the keyword arguments of `@app.function` / `@app.cls`."""

from __future__ import annotations

from collections.abc import Sequence

from .. import ir
from ..pyliteral import (
    PyCode,
    bracketed,
    call,
    literal,
    raw,
    scalar,
    subscript,
)
from .common import CLOUD_BUCKETS, IMAGES, SECRETS, VOLUMES, Context, keyword_pairs, secret_list


def _lookup(environment: str | None, create_if_missing: bool) -> list[tuple[str, PyCode]]:
    """The keywords of a lookup by name, in the order of Modal's `from_name` signatures."""
    keywords = [("environment_name", scalar(environment))] if environment is not None else []
    return keywords + ([("create_if_missing", literal(True))] if create_if_missing else [])


def volume_expression(volume: ir.Volume) -> PyCode:
    keywords = _lookup(volume.environment, volume.create_if_missing)
    if volume.version is not None:
        keywords.append(("version", literal(volume.version)))
    return call(raw("modal.Volume.from_name"), [scalar(volume.name)], keywords)


def secret_expression(secret: ir.Secret) -> PyCode:
    keywords = _lookup(secret.environment, False)
    if secret.required_keys:
        keywords.append(("required_keys", literal(list(secret.required_keys))))
    return call(raw("modal.Secret.from_name"), [scalar(secret.name)], keywords)


def store_expression(store: ir.Store) -> PyCode:
    constructor = "modal.Queue.from_name" if store.kind == "queue" else "modal.Dict.from_name"
    return call(raw(constructor), [scalar(store.name)], _lookup(store.environment, store.create_if_missing))


def bucket_expression(bucket: ir.CloudBucket) -> PyCode:
    keywords = keyword_pairs(bucket.options)
    if bucket.secret:
        keywords.append(("secret", subscript(SECRETS, bucket.secret)))
    return call(raw("modal.CloudBucketMount"), [scalar(bucket.bucket_name)], keywords)


def mounts_expression(mounts: Sequence[ir.Mount], volumes: dict[str, ir.Volume]) -> PyCode:
    items = []
    for mount in mounts:
        if mount.kind == "bucket":
            value = subscript(CLOUD_BUCKETS, mount.alias)
        else:
            value = subscript(VOLUMES, mount.alias)
            read_only = mount.read_only if mount.read_only is not None else volumes[mount.alias].read_only
            options = []
            if read_only:
                options.append(("read_only", literal(True)))
            if mount.sub_path is not None:
                options.append(("sub_path", scalar(mount.sub_path)))
            if options:
                value = call(PyCode(f"{value}.with_mount_options"), (), options)
        items.append(PyCode(f"{scalar(mount.path)}: {value}"))
    return bracketed("{", items, "}")


def gpu_expression(gpus: Sequence[str]) -> PyCode:
    return scalar(gpus[0]) if len(gpus) == 1 else literal(list(gpus))


def retries_expression(retries: ir.Retries) -> PyCode:
    if not retries.is_policy:
        return scalar(retries.max_retries)
    keywords = [("max_retries", scalar(retries.max_retries))]
    for name in ("backoff_coefficient", "initial_delay", "max_delay"):
        value = getattr(retries, name)
        if value is not None:
            keywords.append((name, scalar(value)))
    return call(raw("modal.Retries"), (), keywords)


def schedule_expression(schedule: ir.Schedule) -> PyCode:
    if schedule.cron is not None:
        keywords = [("timezone", scalar(schedule.timezone))] if schedule.timezone else []
        return call(raw("modal.Cron"), [scalar(schedule.cron)], keywords)
    return call(raw("modal.Period"), (), [(k, scalar(v)) for k, v in schedule.period])


def settings_arguments(settings: ir.Settings, context: Context) -> list[tuple[str, PyCode]]:
    """Keyword arguments of @app.function/@app.cls, in the order of Modal's signature."""
    out: list[tuple[str, PyCode]] = []
    if settings.image is not None:
        out.append(("image", subscript(IMAGES, settings.image)))
    return out + _settings_tail(settings, context.volumes)


def _settings_tail(settings: ir.Settings, volumes: dict[str, ir.Volume]) -> list[tuple[str, PyCode]]:
    out: list[tuple[str, PyCode]] = []
    if settings.env:
        out.append(("env", literal(dict(settings.env))))
    if settings.secrets:
        out.append(("secrets", secret_list(settings.secrets)))
    if settings.gpu:
        out.append(("gpu", gpu_expression(settings.gpu)))
    if settings.mounts:
        out.append(("volumes", mounts_expression(settings.mounts, volumes)))
    simple = [
        ("cpu", settings.cpu),
        ("memory", settings.memory),
        ("ephemeral_disk", settings.ephemeral_disk),
        ("min_containers", settings.min_containers),
        ("max_containers", settings.max_containers),
        ("buffer_containers", settings.buffer_containers),
        ("scaledown_window", settings.scaledown_window),
    ]
    out += [(k, literal(v)) for k, v in simple if v is not None]
    if settings.retries is not None:
        out.append(("retries", retries_expression(settings.retries)))
    for key, value in (
        ("timeout", settings.timeout),
        ("startup_timeout", settings.startup_timeout),
        ("cloud", settings.cloud),
        ("region", list(settings.region) if isinstance(settings.region, tuple) else settings.region),
        ("routing_region", settings.routing_region),
        ("nonpreemptible", settings.nonpreemptible),
        ("enable_memory_snapshot", settings.memory_snapshot),
        ("block_network", settings.block_network),
        ("restrict_modal_access", settings.restrict_modal_access),
        ("single_use_containers", settings.single_use_containers),
    ):
        if value is not None:
            out.append((key, literal(value)))
    if settings.experimental_options:
        out.append(("experimental_options", literal(dict(settings.experimental_options))))
    return out
