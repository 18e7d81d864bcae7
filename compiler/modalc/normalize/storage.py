"""Volumes, secrets, cloud buckets and the mounts that place them in a function's file system."""

from __future__ import annotations

import posixpath
from typing import Any

from .. import ir
from ..diagnostics import KeyPath
from .session import Session

FORBIDDEN_MOUNT_PATHS = frozenset({"/", "/root", "/tmp"})


def read_volume(s: Session, alias: str, spec: dict[str, Any]) -> ir.Volume:
    return ir.Volume(
        alias,
        spec.get("name", alias),
        environment=spec.get("environment"),
        create_if_missing=spec.get("create_if_missing", False),
        read_only=spec.get("read_only", False),
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
