"""Write an imported manifest as TOML or YAML, by hand: stable key order, the examples' layout, and comments.

The manifest is plain data (dicts in the order they are to be written) plus comments keyed by the path of the
key they explain. TOML: top-level sections as tables (`[functions.f]`), image steps as a multi-line array of
inline tables, everything deeper inline. YAML: block mappings, lists of scalars in flow style, image steps as
a block list. Strings are quoted wherever a bare form could be read as something else.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..overlay import OVERLAY_KEYS

KeyPath = tuple[str | int, ...]
Comments = Mapping[KeyPath, Sequence[str]]

SCHEMA_URL = "https://modalc.dev/schemas/v1/manifest.schema.json"
# In the order a reader expects them: what environments override, then the environments.
SECTIONS = (*OVERLAY_KEYS, "environments")
NAMED_SECTIONS = frozenset(SECTIONS) - {"app"}
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# --- TOML --------------------------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    out = ['"']
    for character in value:
        code = ord(character)
        if character == '"':
            out.append('\\"')
        elif character == "\\":
            out.append("\\\\")
        elif character == "\n":
            out.append("\\n")
        elif character == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(character)
    out.append('"')
    return "".join(out)


def toml_key(key: str) -> str:
    return key if BARE_KEY.match(key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no TOML form in a manifest")
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")


def _comment_lines(comments: Comments, path: KeyPath, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" if line else f"{indent}#" for line in comments.get(path, ())]


def to_toml(manifest: Mapping[str, Any], comments: Comments, header: Sequence[str] = ()) -> str:
    lines = [f"#:schema {SCHEMA_URL}", *(f"# {line}" if line else "#" for line in header)]
    lines += _comment_lines(comments, ("version",))
    lines.append(f"version = {toml_value(manifest['version'])}")
    for section in SECTIONS:
        if section not in manifest:
            continue
        body = manifest[section]
        if section in NAMED_SECTIONS:
            for name, entry in body.items():
                lines.append("")
                lines += _comment_lines(comments, (section, name))
                lines.append(f"[{section}.{toml_key(name)}]")
                lines += _toml_table(entry, (section, name), comments)
        else:
            lines.append("")
            lines += _comment_lines(comments, (section,))
            lines.append(f"[{section}]")
            lines += _toml_table(body, (section,), comments)
    return "\n".join(lines) + "\n"


def _toml_table(table: Mapping[str, Any], path: KeyPath, comments: Comments) -> list[str]:
    lines: list[str] = []
    for key, value in table.items():
        here = (*path, key)
        lines += _comment_lines(comments, here)
        if key == "steps" and isinstance(value, list) and value:
            lines.append("steps = [")
            for index, step in enumerate(value):
                lines += _comment_lines(comments, (*here, index), "  ")
                lines.append(f"  {toml_value(step)},")
            lines.append("]")
        else:
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    return lines


# --- YAML (1.2, as modalc reads it) --------------------------------------------------------------------------

YAML_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./+=@-]*$")
YAML_SPECIAL = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})


def yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no YAML form in a manifest")
        return repr(value)
    if isinstance(value, str):
        if YAML_PLAIN.match(value) and value.lower() not in YAML_SPECIAL and not value.endswith(":"):
            return value
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")


def yaml_key(key: str) -> str:
    return (
        key if re.match(r"^[A-Za-z_/][A-Za-z0-9_./-]*$", key) and key.lower() not in YAML_SPECIAL else json.dumps(key)
    )


def yaml_flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return (
            "{ " + ", ".join(f"{yaml_key(str(k))}: {yaml_flow(v)}" for k, v in value.items()) + " }" if value else "{}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    return yaml_scalar(value)


def _is_flat(value: Any) -> bool:
    """Short enough for flow style: a list of scalars, or a mapping of scalars."""
    if isinstance(value, Mapping):
        return all(not isinstance(v, (Mapping, list, tuple)) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(not isinstance(v, (Mapping, list, tuple)) for v in value)
    return True


def to_yaml(manifest: Mapping[str, Any], comments: Comments, header: Sequence[str] = ()) -> str:
    lines = [f"# yaml-language-server: $schema={SCHEMA_URL}", *(f"# {line}" if line else "#" for line in header)]
    lines += _comment_lines(comments, ("version",))
    lines.append(f"version: {yaml_scalar(manifest['version'])}")
    for section in SECTIONS:
        if section not in manifest:
            continue
        lines.append("")
        lines += _comment_lines(comments, (section,))
        lines.append(f"{section}:")
        lines += _yaml_mapping(manifest[section], (section,), comments, 1)
    return "\n".join(lines) + "\n"


def _yaml_mapping(mapping: Mapping[str, Any], path: KeyPath, comments: Comments, depth: int) -> list[str]:
    indent = "  " * depth
    lines: list[str] = []
    for key, value in mapping.items():
        here = (*path, key)
        lines += _comment_lines(comments, here, indent)
        lines += _yaml_entry(f"{indent}{yaml_key(str(key))}:", value, here, comments, depth)
    return lines


def _yaml_entry(prefix: str, value: Any, path: KeyPath, comments: Comments, depth: int) -> list[str]:
    if isinstance(value, Mapping) and value and not (_is_flat(value) and len(path) > 2):
        return [prefix, *_yaml_mapping(value, path, comments, depth + 1)]
    if isinstance(value, (list, tuple)) and value and not _is_flat(value):
        lines = [prefix]
        indent = "  " * (depth + 1)
        for index, item in enumerate(value):
            lines += _comment_lines(comments, (*path, index), indent)
            if isinstance(item, Mapping) and item:
                first = True
                for key, inner in item.items():
                    lead = f"{indent}- " if first else f"{indent}  "
                    first = False
                    lines += _yaml_entry(
                        f"{lead}{yaml_key(str(key))}:", inner, (*path, index, key), comments, depth + 2
                    )
            else:
                lines.append(f"{indent}- {yaml_flow(item)}")
        return lines
    return [f"{prefix} {yaml_flow(value)}"]
