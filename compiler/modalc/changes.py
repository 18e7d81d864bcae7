"""What a deploy would change: the plan of the committed module against the plan of what is deployed.

The baseline is found without trusting anything but git and Modal's own record: the deployed app carries
modalc's tags (the deploy digest and the module hash), and the module with that hash is looked up in the
git history of the generated file. Both modules are planned offline by the real client; the two plans are
compared field by field, as Terraform compares state with configuration.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .shipped import module_hash

# The generated module itself is one of the uploaded files; its changes show in every other field already.
_ENTRY_FILE_PREFIX = "/root/app_"
GIT_HISTORY_DEPTH = 500


@dataclass(frozen=True)
class Baseline:
    """What the plan is compared with: a module source (None: nothing deployed) and where it came from."""

    source: str | None
    description: str
    digest: str | None = None  # the deploy digest recorded with the deployment, if known
    known: bool = True  # False: the deployed state could not be read (the plan shows everything as new)


@dataclass
class Change:
    action: str  # "create" | "update" | "delete"
    kind: str  # "function" | "class" | "image" | "files"
    name: str
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # dotted path -> {"old", "new"}

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "fields": self.fields}


# --- finding the baseline -------------------------------------------------------------------------


def _in_repository(path: Path) -> tuple[Path, str]:
    """The checkout's top directory and `path` relative to it (git resolves pathspecs from there)."""
    top = Path(_git(path.parent, "rev-parse", "--show-toplevel").strip()).resolve()
    return top, path.resolve().relative_to(top).as_posix()


def git_show(path: Path, ref: str) -> str | None:
    """The file at `path` as committed at `ref`, or None when it is not there (or this is not a git checkout)."""
    try:
        top, relative = _in_repository(path)
        return _git(top, "show", f"{ref}:{relative}")
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None


def is_commit(directory: Path, ref: str) -> bool | None:
    """Whether `ref` names a commit in the checkout around `directory` (None: not a git checkout)."""
    try:
        _git(directory, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.CalledProcessError):
        return None
    try:
        _git(directory, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def find_in_history(path: Path, wanted_hash: str) -> tuple[str, str] | None:
    """(commit, source) of the newest committed version of `path` whose module hash is `wanted_hash`."""
    try:
        top, relative = _in_repository(path)
        commits = _git(top, "log", f"-n{GIT_HISTORY_DEPTH}", "--format=%H", "--all", "--", relative).split()
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None
    for commit in commits:
        try:
            source = _git(top, "show", f"{commit}:{relative}")
        except subprocess.CalledProcessError:
            continue  # the commit removed the file
        if module_hash(source) == wanted_hash:
            return commit, source
    return None


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


# --- comparing two plans --------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _comparable_member(member: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(member)
    out["mounts"] = [
        m
        for m in member.get("mounts", [])
        if not any(f.get("path", "").startswith(_ENTRY_FILE_PREFIX) for f in m.get("files", []))
    ]
    out.pop("image", None)  # compared through the images themselves
    return out


def _fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    before, after = dict(_flatten(old)), dict(_flatten(new))
    out = {}
    for key in sorted(set(before) | set(after)):
        if json.dumps(before.get(key), sort_keys=True) != json.dumps(after.get(key), sort_keys=True):
            out[key] = {"old": before.get(key), "new": after.get(key)}
    return out


def _image_of(member: Mapping[str, Any], images: Mapping[str, Any]) -> Any:
    key = member.get("image")
    return images.get(key, {}).get("layers") if key else None


def diff_plans(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """Every function, class and image that a deploy of `new` creates, updates or deletes after `old`."""
    new_record = new["deployment"]
    old_record = old["deployment"] if old else {"functions": [], "images": {}}
    changes: list[Change] = []
    before = {(m["kind"], m["name"]): m for m in old_record["functions"]}
    after = {(m["kind"], m["name"]): m for m in new_record["functions"]}
    for key in sorted(set(before) | set(after)):
        kind, name = key
        if key not in before:
            changes.append(Change("create", kind, name))
        elif key not in after:
            changes.append(Change("delete", kind, name))
        else:
            fields = _fields(_comparable_member(before[key]), _comparable_member(after[key]))
            if _image_of(before[key], old_record["images"]) != _image_of(after[key], new_record["images"]):
                fields["image"] = {"old": before[key].get("image"), "new": after[key].get("image")}
            if fields:
                changes.append(Change("update", kind, name, fields))
    old_images, new_images = old_record.get("images", {}), new_record.get("images", {})
    for alias in sorted(set(old_images) | set(new_images)):
        if alias not in old_images:
            changes.append(Change("create", "image", alias))
        elif alias not in new_images:
            changes.append(Change("delete", "image", alias))
        elif old_images[alias].get("layers") != new_images[alias].get("layers"):
            changes.append(Change("update", "image", alias, _layer_fields(old_images[alias], new_images[alias])))
    return changes


def _layer_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    def commands(image: Mapping[str, Any]) -> list[str]:
        return [
            c
            for layer in image.get("layers", [])
            for c in layer.get("dockerfile_commands", [])
            if not c.startswith("FROM ")
        ]

    old_commands, new_commands = commands(old), commands(new)
    if old_commands != new_commands:
        return {"layers": {"old": old_commands, "new": new_commands}}
    return {"layers": {"old": "(context files)", "new": "(context files changed)"}}


def files_change(baseline: Baseline, digest: str, changes: list[Change]) -> list[Change]:
    """When the infrastructure is the same but the deploy digest differs, the shipped files changed."""
    if baseline.source is not None and baseline.digest is not None and baseline.digest != digest and not changes:
        return [Change("update", "files", "shipped files", {"deploy_digest": {"old": baseline.digest, "new": digest}})]
    return changes


# --- for people -----------------------------------------------------------------------------------

_SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_changes(changes: list[dict[str, Any]], baseline: str) -> str:
    """The changes of a plan (as in its JSON) for people, Terraform-style: + create, ~ update, - delete."""
    lines = [f"Changes against {baseline}:"]
    if not changes:
        return lines[0].rstrip(":") + ": none\n"
    for change in changes:
        lines.append(f"  {_SYMBOLS[change['action']]} {change['kind']} {change['name']}")
        for path, values in change["fields"].items():
            lines.append(f"      {path}: {_short(values['old'])} -> {_short(values['new'])}")
    counts = {action: sum(1 for c in changes if c["action"] == action) for action in ("create", "update", "delete")}
    lines.append(f"  {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete")
    return "\n".join(lines) + "\n"
