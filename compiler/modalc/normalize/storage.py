"""Volumes, secrets, cloud buckets and the mounts that place them in a function's file system."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any

from .. import ir
from ..diagnostics import KeyPath
from .session import Session

FORBIDDEN_MOUNT_PATHS = frozenset({"/", "/root", "/tmp"})


# Modal resolves a name of this shape as an app id, so `Volume.from_name` refuses it (the schema allows it).
APP_ID_SHAPE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
# Manifest key -> `modal.CloudBucketMount` keyword (the SDK calls the endpoint `bucket_endpoint_url`).
BUCKET_KEYWORDS = {
    "endpoint_url": "bucket_endpoint_url",
    "key_prefix": "key_prefix",
    "oidc_auth_role_arn": "oidc_auth_role_arn",
    "read_only": "read_only",
    "requester_pays": "requester_pays",
    "force_path_style": "force_path_style",
}


def read_volume(s: Session, alias: str, spec: dict[str, Any]) -> ir.Volume:
    check_volume_rules(s, alias, spec)
    return ir.Volume(
        alias,
        spec.get("name", alias),
        environment=spec.get("environment"),
        create_if_missing=spec.get("create_if_missing", False),
        read_only=spec.get("read_only", False),
        version=spec.get("version"),
    )


def read_secret(s: Session, alias: str, spec: dict[str, Any]) -> ir.Secret:
    return ir.Secret(
        alias,
        spec.get("name", alias),
        required_keys=tuple(spec.get("required_keys", [])),
        environment=spec.get("environment"),
    )


def read_store(s: Session, kind: str, alias: str, spec: dict[str, Any]) -> ir.Store:
    return ir.Store(
        kind,  # type: ignore[arg-type]
        alias,
        spec.get("name", alias),
        environment=spec.get("environment"),
        create_if_missing=spec.get("create_if_missing", False),
    )


def read_bucket(s: Session, alias: str, spec: dict[str, Any]) -> ir.CloudBucket:
    secret = spec.get("secret")
    if secret is not None:
        s.reference("secrets", secret, ("cloud_buckets", alias, "secret"))
    check_bucket_rules(s, alias, spec)
    options = tuple((BUCKET_KEYWORDS[key], spec[key]) for key in BUCKET_KEYWORDS if key in spec)
    return ir.CloudBucket(alias, spec["bucket_name"], options, secret)


# --- what the SDK refuses only at import or deploy time (tests/test_sdk_rules.py) ------------------------


def check_volume_rules(s: Session, alias: str, spec: dict[str, Any]) -> None:
    name = spec.get("name", alias)
    if APP_ID_SHAPE.match(name):
        where = ("volumes", alias, "name") if "name" in spec else ("volumes", alias)
        s.report(where, f"{name!r} has the shape of a Modal app id, which Modal refuses as a volume name")


def check_bucket_rules(s: Session, alias: str, spec: dict[str, Any]) -> None:
    """What `modal.CloudBucketMount` enforces only when a function using it is loaded (a ValueError at deploy)."""
    prefix = spec.get("key_prefix")
    if isinstance(prefix, str) and not prefix.endswith("/"):
        s.report(
            ("cloud_buckets", alias, "key_prefix"),
            f"{prefix!r} must end in '/': Modal prefixes it to every object path",
            hint=f"write {prefix + '/'!r}",
        )
    if spec.get("requester_pays") and spec.get("secret") is None:
        s.report(
            ("cloud_buckets", alias, "requester_pays"),
            "a Requester Pays bucket is billed to the caller, so Modal needs credentials: give the bucket a `secret`",
        )


def check_volume_paths_by_name(s: Session, mounts: Iterable[ir.Mount], path: KeyPath) -> None:
    """Two aliases may name one Modal volume; mounted at two paths of a function, Modal refuses it at deploy."""
    declared = s.data.get("volumes", {})
    by_name: dict[str, ir.Mount] = {}
    for mount in mounts:
        if mount.kind != "volume":
            continue
        name = (declared.get(mount.alias) or {}).get("name", mount.alias)
        other = by_name.setdefault(name, mount)
        if other.alias != mount.alias:
            s.report(
                (*path, "volumes"),
                f"volumes {other.alias!r} and {mount.alias!r} are both the Modal volume {name!r}, mounted at "
                f"{other.path!r} and {mount.path!r}; Modal allows one path per volume",
            )


def read_mounts(s: Session, spec: dict[str, Any], path: KeyPath) -> tuple[ir.Mount, ...]:
    mounts = []
    for mount_path, value in spec.items():
        where = (*path, mount_path)
        canonical = posixpath.normpath(mount_path)
        if canonical.startswith("//"):
            canonical = canonical[1:]
        if canonical != mount_path:
            s.report(where, f"mount path {mount_path!r} is not canonical; write {canonical!r}", at_key=True)
        elif mount_path in FORBIDDEN_MOUNT_PATHS:
            s.report(where, f"cannot mount at {mount_path!r}: Modal reserves /, /root and /tmp", at_key=True)
        if isinstance(value, str):
            value = {"volume": value}
            value_path = where
        else:
            value_path = (*where, "volume") if "volume" in value else (*where, "bucket")
        if "volume" in value:
            if s.reference("volumes", value["volume"], value_path):
                mounts.append(
                    ir.Mount(mount_path, "volume", value["volume"], value.get("read_only"), value.get("sub_path"))
                )
        elif s.reference("cloud_buckets", value["bucket"], value_path):
            mounts.append(ir.Mount(mount_path, "bucket", value["bucket"]))
    return tuple(mounts)


def check_effective_mounts(
    s: Session, defaults: tuple[ir.Mount, ...], own: tuple[ir.Mount, ...], path: KeyPath
) -> None:
    """Modal refuses one volume mounted at two paths of a function; say so at the manifest's line."""
    merged = {m.path: m for m in (*defaults, *own)}
    by_volume: dict[str, str] = {}
    for mount in merged.values():
        if mount.kind != "volume":
            continue
        if mount.alias in by_volume:
            s.report(
                (*path, "volumes"),
                f"volume {mount.alias!r} is mounted at both "
                f"{by_volume[mount.alias]!r} and {mount.path!r}; Modal allows one path per volume",
            )
        by_volume[mount.alias] = mount.path
    check_volume_paths_by_name(s, merged.values(), path)
