"""Validate stage: JSON Schema (draft 2020-12) -> every error at once, each at its file:line:col.

jsonschema finds the errors; this module turns each into one message a person can act on: unknown keys get a
did-you-mean, `oneOf` alternatives are narrowed to the branch the user evidently meant (the step kind they
wrote, the `type` of a web endpoint, the JSON type of the value) and values are described in the manifest's
own vocabulary (a TOML date, a YAML number that was meant as a version string).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

from .diagnostics import MISSING_KEY, Diagnostic, KeyPath, did_you_mean, quote_choices
from .load import SourceMap

Schema = Mapping[str, Any]
# Maps a path in the validated document to the path where the user wrote it (environment overlays).
PathMap = Callable[[KeyPath], KeyPath]

SCHEMA_RESOURCE = "manifest.schema.json"

# Modal's own names (its Image methods and decorator arguments) for what a manifest spells differently: a user
# porting an app writes them, and gets a did-you-mean to the manifest's key.
MODAL_SPELLINGS = {
    "apt_install": "apt",
    "pip_install": "pip",
    "uv_pip_install": "uv_pip",
    "pip_install_from_requirements": "pip_requirements",
    "pip_install_from_pyproject": "pip_pyproject",
    "micromamba_install": "micromamba",
    "run_commands": "run",
    "add_local_file": "local_file",
    "add_local_dir": "local_dir",
    "add_local_python_source": "python_source",
    "python_version": "python",
    "keep_warm": "min_containers",
    "concurrency_limit": "max_containers",
    "container_idle_timeout": "scaledown_window",
    "allow_concurrent_inputs": "concurrency",
    "concurrent": "concurrency",
    "max_concurrent_inputs": "max_inputs",
    "target_concurrent_inputs": "target_inputs",
    "enable_memory_snapshot": "memory_snapshot",
    "max_inputs": "single_use_containers",
    "web_endpoint": "web",
    "fastapi_endpoint": "web",
    "asgi_app": "web",
    "wsgi_app": "web",
    "secret": "secrets",
    "mounts": "volumes",
    "network_file_systems": "volumes",
    "parameter": "parameters",
    "bucket_endpoint_url": "endpoint_url",
    "environment_name": "environment",
    "image_name": "tag",
}


@cache
def published_schema() -> dict[str, Any]:
    """The manifest schema shipped inside the package, as editors and `modalc schema` see it."""
    text = resources.files("modalc").joinpath("schemas", SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def load_schema() -> dict[str, Any]:
    """The schema the compiler validates with: the published one, each `x-modalc` subschema put in its place.

    `x-modalc` marks what a later stage checks with better messages than a schema error could give (GPU names
    with did-you-mean and count limits; environment overrides, validated after they are merged onto the
    manifest, so each mistake is reported once, in the words of the base manifest's schema).
    """
    schema: dict[str, Any] = _compiler_form(published_schema())
    return schema


def _compiler_form(node: Any) -> Any:
    if isinstance(node, dict):
        if "x-modalc" in node:
            return _compiler_form(node["x-modalc"])
        return {key: _compiler_form(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_compiler_form(item) for item in node]
    return node


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    # A boolean is not a number, and NaN or infinity is no number a manifest can mean. An integral float is an
    # integer, as JSON Schema has it (`timeout = 300.0` is 300); normalize turns it into an int.
    checker = Draft202012Validator.TYPE_CHECKER.redefine_many(
        {
            "integer": lambda _, v: (
                isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()
            ),
            "number": lambda _, v: (
                isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and math.isfinite(v)
            ),
        }
    )
    strict = extend(Draft202012Validator, type_checker=checker, validators={"pattern": _anchored_pattern})
    return strict(load_schema())


def _anchored_pattern(validator: Any, pattern: str, instance: object, schema: Any) -> Any:
    """`pattern` as JSON Schema means it: a final `$` is the end of the string, not "before a final newline"."""
    from jsonschema.exceptions import ValidationError

    if not isinstance(instance, str):
        return
    python_pattern = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if re.search(python_pattern, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def validate_document(
    data: object,
    source_map: SourceMap,
    *,
    path_map: PathMap | None = None,
    manifest_format: str = "toml",
    made_of_plain_json: bool = False,
) -> list[Diagnostic]:
    """Every schema violation in `data`, as diagnostics positioned through `source_map`.

    `made_of_plain_json` says the caller knows every value is plain JSON (an environment's overlay of a manifest
    that is: its values are the manifest's own), which saves walking it again."""
    if quick_valid(data, made_of_plain_json):
        return []
    reporter = _Reporter(source_map, path_map or (lambda p: p), manifest_format)
    for error in _validator().iter_errors(data):
        reporter.report(error)
    return reporter.diagnostics


# --- the fast path ----------------------------------------------------------------------------------
#
# jsonschema (Python) explains errors well but takes about a second for a manifest of 1000 functions, and
# 40 ms to import. jsonschema-rs (Rust) says valid or not in milliseconds. So jsonschema-rs decides, and only an
# invalid manifest is handed to jsonschema for the messages. Values JSON has no form for (dates, NaN) go
# straight to jsonschema, where they are reported.


@cache
def _fast_validator() -> Any:
    try:
        import jsonschema_rs
    except ImportError:  # no wheel for this platform: jsonschema alone gives the same answers, slower
        return None
    return jsonschema_rs.Draft202012Validator(load_schema())


def plain_json(value: object) -> bool:
    """Whether JSON can say `value` (no dates, no NaN or infinity, no other types)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif not (item is None or isinstance(item, (str, int))):
            return False
    return True


def quick_valid(data: object, made_of_plain_json: bool = False) -> bool:
    """True when the manifest is certainly valid; False means "ask jsonschema", not "invalid"."""
    validator = _fast_validator()
    return validator is not None and (made_of_plain_json or plain_json(data)) and bool(validator.is_valid(data))


class _Reporter:
    def __init__(self, source_map: SourceMap, path_map: PathMap, manifest_format: str):
        self.source_map = source_map
        self.path_map = path_map
        self.format = manifest_format
        self.diagnostics: list[Diagnostic] = []

    # -- output -------------------------------------------------------------------------------------

    def add(
        self, path: KeyPath, message: str, *, at_key: bool = False, hint: str | None = None, code: str = ""
    ) -> None:
        source_path = self.path_map(tuple(path))
        if at_key:
            line, column = self.source_map.key_position(source_path)
        else:
            line, column = self.source_map.value_position(source_path)
        self.diagnostics.append(
            Diagnostic(self.source_map.file, line, column, message, source_path, hint=hint, code=code, stage="validate")
        )

    # -- dispatch -----------------------------------------------------------------------------------

    def report(self, error: Any) -> None:
        path: KeyPath = tuple(error.absolute_path)
        if "propertyNames" in error.absolute_schema_path:
            self._property_name(error, path)
            return
        handler = getattr(self, f"_on_{error.validator}", None)
        if handler is None:
            self.add(path, error.message)
        else:
            handler(error, path)

    def _property_name(self, error: Any, path: KeyPath) -> None:
        name = error.instance
        if error.validator == "pattern":
            why = error.schema.get("x-message") or f"must match {error.validator_value}"
            self.add((*path, name), f"{name!r} is not a valid key here: {why}", at_key=True)
        elif error.validator == "$ref" or not isinstance(name, str):
            self.add((*path, name), f"{name!r} is not a valid key here", at_key=True)
        else:
            self._dispatch_at_key(error, (*path, name))

    def _dispatch_at_key(self, error: Any, path: KeyPath) -> None:
        self.add(path, error.message, at_key=True)

    # -- keywords -----------------------------------------------------------------------------------

    def _on_additionalProperties(self, error: Any, path: KeyPath) -> None:
        known = sorted(_known_properties(error.schema))
        for key in _unexpected_keys(error.instance, known):
            self._unknown_key(path, key, known)

    _on_unevaluatedProperties = _on_additionalProperties

    def _unknown_key(self, path: KeyPath, key: str, known: Iterable[str]) -> None:
        known = list(known)
        message = f"unknown key {key!r}"
        if (ours := MODAL_SPELLINGS.get(key)) in known:
            message += f"; did you mean {ours!r}? ({key} is Modal's name for it)"
        elif suggestion := did_you_mean(key, known):
            message += f"; did you mean {suggestion!r}?"
        elif known:
            message += f"; expected one of {quote_choices(known)}"
        self.add((*path, key), message, at_key=True)

    def _on_required(self, error: Any, path: KeyPath) -> None:
        instance = error.instance
        for key in error.validator_value:
            if isinstance(instance, dict) and key not in instance:
                self.add(path, f"missing required key {key!r}", at_key=True, code=MISSING_KEY)

    def _on_type(self, error: Any, path: KeyPath) -> None:
        expected = error.validator_value
        expected = [expected] if isinstance(expected, str) else list(expected)
        self._wrong_type(path, error.instance, expected)

    def _wrong_type(self, path: KeyPath, instance: object, expected: list[str]) -> None:
        wanted = _either([self._type_name(t) for t in expected])
        message = f"expected {wanted}, got {self._describe(instance)}"
        self.add(path, message, hint=self._type_hint(path, instance, expected))

    def _type_hint(self, path: KeyPath, instance: object, expected: list[str]) -> str | None:
        if "string" not in expected:
            return None
        if isinstance(instance, (datetime.date, datetime.time)):
            return "quote it to make it a string"
        if isinstance(instance, (int, float)) and not isinstance(instance, bool):
            token = self.source_map.source_token(self.path_map(path))
            if token and token != str(instance):
                return f'it was read as the number {instance}; write "{token}" in quotes'
            return "write it in quotes"
        if isinstance(instance, bool) and self.format == "yaml":
            return "write it in quotes"
        return None

    def _on_enum(self, error: Any, path: KeyPath) -> None:
        choices = [c for c in error.validator_value if isinstance(c, str)]
        value = error.instance
        message = f"{_show(value)} is not one of {quote_choices(error.validator_value)}"
        if isinstance(value, str) and (suggestion := did_you_mean(value, choices)):
            message += f"; did you mean {suggestion!r}?"
        self.add(path, message)

    def _on_const(self, error: Any, path: KeyPath) -> None:
        expected = error.validator_value
        shown = json.dumps(expected) if not isinstance(expected, bool) else str(expected).lower()
        self.add(path, f"must be {shown}, got {self._describe(error.instance)}")

    def _on_pattern(self, error: Any, path: KeyPath) -> None:
        why = error.schema.get("x-message") or f"must match the pattern {error.validator_value}"
        self.add(path, f"{_show(error.instance)} is not valid: {why}")

    def _bound(self, error: Any, path: KeyPath, relation: str) -> None:
        self.add(path, f"must be {relation} {_number(error.validator_value)}, got {_show(error.instance)}")

    def _on_minimum(self, error: Any, path: KeyPath) -> None:
        self._bound(error, path, "at least")

    def _on_maximum(self, error: Any, path: KeyPath) -> None:
        self._bound(error, path, "at most")

    def _on_exclusiveMinimum(self, error: Any, path: KeyPath) -> None:
        self._bound(error, path, "greater than")

    def _on_exclusiveMaximum(self, error: Any, path: KeyPath) -> None:
        self._bound(error, path, "less than")

    def _on_minLength(self, error: Any, path: KeyPath) -> None:
        if error.validator_value == 1:
            self.add(path, "must not be empty")
        else:
            self.add(path, f"must be at least {error.validator_value} characters long")

    def _on_maxLength(self, error: Any, path: KeyPath) -> None:
        self.add(path, f"is {len(error.instance):,} characters long; the limit is {error.validator_value:,}")

    def _on_minItems(self, error: Any, path: KeyPath) -> None:
        n = error.validator_value
        self.add(path, "must not be empty" if n == 1 else f"needs at least {n} items, got {len(error.instance)}")

    def _on_maxItems(self, error: Any, path: KeyPath) -> None:
        self.add(path, f"takes at most {error.validator_value} items, got {len(error.instance)}")

    def _on_uniqueItems(self, error: Any, path: KeyPath) -> None:
        seen: list[object] = []
        for index, item in enumerate(error.instance):
            if item in seen:
                self.add((*path, index), f"{_show(item)} is listed twice")
            seen.append(item)

    def _on_minProperties(self, error: Any, path: KeyPath) -> None:
        known = sorted(_known_properties(error.schema))
        self.add(path, f"needs at least one of {quote_choices(known)}" if known else "must not be empty")

    def _on_oneOf(self, error: Any, path: KeyPath) -> None:
        branches = [_resolve(b) for b in error.validator_value]
        instance = error.instance
        chosen = self._choose_branch(branches, instance, path)
        if chosen is None:
            return
        context = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == chosen]
        if not context:  # valid under several branches: only the kind-key case gets here
            self.add(path, "matches more than one form; remove the extra keys")
            return
        for sub in _deepest_first(context):
            self.report(sub)

    _on_anyOf = _on_oneOf

    def _choose_branch(self, branches: list[Schema], instance: object, path: KeyPath) -> int | None:
        """The index of the alternative the user meant; reports and returns None when none fits at all."""
        # 1. By kind key: each object branch requires its own first key (steps, mounts, entrypoints).
        if isinstance(instance, dict):
            kinds = {b["required"][0]: i for i, b in enumerate(branches) if _is_object(b) and b.get("required")}
            typed = {b["properties"]["type"]["const"]: i for i, b in enumerate(branches) if _type_const(b)}
            if typed:
                return self._by_type_field(typed, instance, path)
            if kinds and not any("type" in (b.get("required") or []) for b in branches):
                present = [k for k in kinds if k in instance]
                if len(present) == 1:
                    return kinds[present[0]]
                if len(present) > 1:
                    self.add(path, f"takes exactly one of {quote_choices(kinds)}; found {quote_choices(present)}")
                    return None
                if len(kinds) > 1 or not any(_json_type_matches(b, instance) for b in branches if not _is_object(b)):
                    self._missing_kind(path, instance, list(kinds))
                    return None
        # 2. By JSON type: the branch that accepts this type of value.
        for index, branch in enumerate(branches):
            if _json_type_matches(branch, instance):
                return index
        self._no_form(path, instance, branches)
        return None

    def _by_type_field(self, typed: dict[str, int], instance: dict[str, object], path: KeyPath) -> int | None:
        kind = instance.get("type")
        if kind is None:
            self.add(path, f"missing required key 'type' (one of {quote_choices(typed)})", at_key=True)
            return None
        if not isinstance(kind, str):
            self.add((*path, "type"), f"expected one of {quote_choices(typed)}, got {self._describe(kind)}")
            return None
        if kind not in typed:
            message = f"{_show(kind)} is not one of {quote_choices(typed)}"
            if kind == "http_server":  # a different Modal feature than web_server, which difflib would suggest
                message += "; an http_server is a class setting (classes.NAME.http_server), not a web endpoint"
            elif isinstance(kind, str) and (suggestion := did_you_mean(kind, typed)):
                message += f"; did you mean {suggestion!r}?"
            self.add((*path, "type"), message)
            return None
        return typed[kind]

    def _missing_kind(self, path: KeyPath, instance: dict[str, object], kinds: list[str]) -> None:
        unknown = [k for k in instance if k not in kinds]
        for key in unknown:
            if (ours := MODAL_SPELLINGS.get(key)) in kinds:
                self.add(
                    (*path, key),
                    f"unknown key {key!r}; did you mean {ours!r}? ({key} is Modal's name for it)",
                    at_key=True,
                )
                return
        for key in unknown:
            suggestion = did_you_mean(key, kinds)
            if suggestion:
                self.add((*path, key), f"unknown key {key!r}; did you mean {suggestion!r}?", at_key=True)
                return
        self.add(path, f"needs one of the keys {quote_choices(kinds)}", at_key=True)

    def _no_form(self, path: KeyPath, instance: object, branches: list[Schema]) -> None:
        forms: list[str] = []
        kinds = [b["properties"]["type"]["const"] for b in branches if _type_const(b)]
        for branch in branches:
            if "const" in branch:
                form = json.dumps(branch["const"]) if not isinstance(branch["const"], bool) else "false"
            elif "enum" in branch:
                form = f"one of {quote_choices(branch['enum'])}"
            elif kinds and _type_const(branch):
                form = f"{self._type_name('object')} with a type ({', '.join(kinds)})"
            else:
                form = self._type_name(_branch_type(branch))
            if form not in forms:
                forms.append(form)
        if kinds and isinstance(instance, str) and instance in kinds:
            example = f'{{ type = "{instance}" }}' if self.format == "toml" else f"{{ type: {instance} }}"
            self.add(path, f"expected {_either(forms)}, got {self._describe(instance)}", hint=f"write {example}")
            return
        hint = None
        if instance is True and any(b.get("const") is False for b in branches):
            hint = "`false` switches it off; to switch it on, write the table"
        else:
            hint = self._type_hint(path, instance, [_branch_type(b) for b in branches])
        self.add(path, f"expected {_either(forms)}, got {self._describe(instance)}", hint=hint)

    # -- words --------------------------------------------------------------------------------------

    def _type_name(self, json_type: str) -> str:
        toml = self.format == "toml"
        return {
            "string": "a string",
            "integer": "an integer",
            "number": "a number",
            "boolean": "true or false",
            "object": "a table" if toml else "a mapping",
            "array": "an array" if toml else "a list",
            "null": "nothing",
        }.get(json_type, json_type)

    def _describe(self, value: object) -> str:
        if value is None:
            return "nothing (null)"
        if isinstance(value, bool):
            return f"a boolean ({str(value).lower()})"
        if isinstance(value, int):
            return f"an integer ({value})"
        if isinstance(value, float):
            return f"a number ({value})" if math.isfinite(value) else f"{value}, which is not a finite number"
        if isinstance(value, str):
            return f"a string ({_show(value)})"
        if isinstance(value, datetime.datetime):
            return f"a date-time ({value.isoformat()})"
        if isinstance(value, datetime.date):
            return f"a date ({value.isoformat()})"
        if isinstance(value, datetime.time):
            return f"a time ({value.isoformat()})"
        if isinstance(value, dict):
            return self._type_name("object")
        if isinstance(value, list):
            return self._type_name("array")
        return type(value).__name__


# --- schema helpers -------------------------------------------------------------------------------


def _resolve(schema: Schema) -> Schema:
    """Follow local `$ref`s (the manifest schema has no other kind)."""
    seen = 0
    while "$ref" in schema and len(schema) == 1 and seen < 16:
        node: Any = load_schema()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
        seen += 1
    return schema


def _known_properties(schema: Schema) -> set[str]:
    known = set(schema.get("properties", {}))
    if "$ref" in schema:
        known |= _known_properties(_resolve({"$ref": schema["$ref"]}))
    for sub in schema.get("allOf", []):
        known |= _known_properties(_resolve(sub))
    return known


def _unexpected_keys(instance: object, known: Iterable[str]) -> list[str]:
    if not isinstance(instance, dict):
        return []
    known_set = set(known)
    return [k for k in instance if k not in known_set]


def _is_object(schema: Schema) -> bool:
    return schema.get("type") == "object" or ("required" in schema and "type" not in schema)


def _type_const(schema: Schema) -> bool:
    return isinstance(schema.get("properties", {}).get("type"), dict) and "const" in schema["properties"]["type"]


def _branch_type(schema: Schema) -> str:
    schema = _resolve(schema)
    if "type" in schema:
        return schema["type"] if isinstance(schema["type"], str) else schema["type"][0]
    if "required" in schema or "properties" in schema:
        return "object"
    if "enum" in schema:
        return "string"
    return "value"


def _json_type_matches(schema: Schema, instance: object) -> bool:
    schema = _resolve(schema)
    if "const" in schema:
        return instance == schema["const"] and type(instance) is type(schema["const"])
    if "enum" in schema:
        return isinstance(instance, str)
    kind = _branch_type(schema)
    return {
        "string": isinstance(instance, str),
        "integer": isinstance(instance, int) and not isinstance(instance, bool),
        "number": isinstance(instance, (int, float)) and not isinstance(instance, bool),
        "boolean": isinstance(instance, bool),
        "object": isinstance(instance, dict),
        "array": isinstance(instance, list),
    }.get(kind, False)


def _deepest_first(errors: Iterable[Any]) -> Iterator[Any]:
    return iter(sorted(errors, key=lambda e: -len(e.absolute_path)))


def _show(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value) if _jsonable(value) else repr(value)
    return (
        text if len(text) <= limit else text[: limit - 5] + "...'" if isinstance(value, str) else text[:limit] + "..."
    )


def _jsonable(value: object) -> bool:
    return isinstance(value, (bool, int, float)) or value is None


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10000 else str(value)


def _either(forms: list[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"
