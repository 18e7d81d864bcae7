"""The manifest schema, as written by hand: the one place to add or change a manifest key.

This is JSON Schema (draft 2020-12) as a Python dict, plus the generator's extensions (see `generate.py`):

- `"x-extends": "#/$defs/NAME"` (or a list): this object also has the mixin's properties (and `required`),
  and no others. The generator writes them out with `additionalProperties: false`, because taplo ignores
  everything beside a `$ref` and does not know `unevaluatedProperties`. A mixin that nothing `$ref`s is not
  published.
- `"x-partial": "#/POINTER"`: the partial variant of the schema there, as an environment override is: every
  table may leave out any key (`required` and `minProperties` dropped, `oneOf` relaxed to `anyOf`), while
  lists and values, which replace rather than merge, stay complete. Definitions get a `NAME_override` twin.

Two extensions are published and read by `modalc.validate`: `x-message` (the text of a failed `pattern`) and
`x-modalc` (the schema the compiler validates with instead of this one, because a later stage checks the value
with better messages: GPU names, and environment overrides, which are validated after merging).

After editing, run `make schema`; tests fail while the committed schemas are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSION = 1  # the manifest's `version`; the schema's URL and published path follow it
BASE_URL = "https://modalc.dev/schemas"
SCHEMA_ID = f"{BASE_URL}/v{VERSION}/manifest.schema.json"
# Files the catalog (schemas/catalog.json) associates with the schema; `app.toml` is too common a name.
FILE_MATCH = ("**/modalc*.toml", "**/modalc*.yaml", "**/modalc*.yml")

# Top-level sections an environment may override (overlay.OVERLAY_KEYS; a test keeps the two equal).
OVERLAY_SECTIONS = (
    "app",
    "apps",
    "images",
    "volumes",
    "secrets",
    "cloud_buckets",
    "queues",
    "dicts",
    "functions",
    "classes",
    "entrypoints",
)

Schema = dict[str, Any]


def ref(name: str, **annotations: Any) -> Schema:
    return {"$ref": f"#/$defs/{name}", **annotations}


def named(key: str, value: str) -> Schema:
    """A table of named entries: keys must be `key`s, values `value`s."""
    return {"type": "object", "propertyNames": ref(key), "additionalProperties": ref(value)}


def boolean(description: str | None = None) -> Schema:
    return {"type": "boolean"} | ({"description": description} if description else {})


def integer(minimum: int, maximum: int | None = None, **annotations: Any) -> Schema:
    bounds = {"minimum": minimum} | ({"maximum": maximum} if maximum is not None else {})
    return {"type": "integer", **bounds, **annotations}


def overlay(section: str) -> Schema:
    return {
        "x-partial": f"#/properties/{section}",
        "description": f"Overrides of `{section}`: tables merge, lists and values replace; nothing is required.",
        # modalc validates an environment after merging it onto the manifest, where errors say more.
        "x-modalc": {"type": "object"},
    }


# --- GPUs: the names come from the compiler's data file ------------------------------------------------


def _gpus() -> list[dict[str, Any]]:
    path = Path(__file__).resolve().parents[1] / "data" / "gpus.json"
    gpus: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["gpus"]
    return gpus


REGEX_SYNTAX = set("\\^$.*+?()[]{}|/")  # escaped the same way in Python and in ECMA-262 with the `u` flag


def _any_case(name: str) -> str:
    """`name` as a regex that matches it in any ASCII letter case."""
    parts = []
    for c in name:
        if c.isascii() and c.isalpha():
            parts.append(f"[{c.lower()}{c.upper()}]")
        else:
            parts.append("\\" + c if c in REGEX_SYNTAX else c)
    return "".join(parts)


def gpu_pattern() -> str:
    """`TYPE[:COUNT]` as catalog.parse_gpu accepts it: any letter case, a count from 1 to the type's limit
    (`+` and leading zeros allowed, as int() allows them), whitespace around it (parse_gpu strips it)."""
    by_limit: dict[int, list[str]] = {}
    for gpu in _gpus():
        by_limit.setdefault(gpu["max_count"], []).append(_any_case(gpu["name"]))
    forms = []
    for limit, names in sorted(by_limit.items(), reverse=True):
        counts = f"[1-{limit}]" if limit <= 9 else "(?:" + "|".join(str(n) for n in range(1, limit + 1)) + ")"
        forms.append(f"(?:{'|'.join(names)})(?::\\+?0*{counts})?")
    return rf"^\s*(?:{'|'.join(forms)})\s*$"


GPU_NAMES = [gpu["name"] for gpu in _gpus()]
GPU_LENIENT = {"type": "string", "minLength": 1, "maxLength": 64}  # modalc's own messages name the problem


# --- reusable shapes ----------------------------------------------------------------------------------

TEXT_LIST = {"type": "array", "items": ref("text")}
# An exec-form instruction (ENTRYPOINT, CMD, SHELL): a list of strings, possibly empty (`ENTRYPOINT []` clears
# a registry image's entrypoint, as CUDA images need).
EXEC_FORM = {"type": "array", "items": {"type": "string", "maxLength": 4096}}
JSON_VALUE: Schema = {"type": ["string", "number", "integer", "boolean", "array", "object", "null"]}
REGION = {"type": "string", "pattern": "^[a-z0-9-]+$", "x-message": "regions are lowercase, e.g. us-east"}


# --- the schema ---------------------------------------------------------------------------------------

SOURCE: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "$comment": "Generated from compiler/modalc/schema_source/manifest.py by `make schema`: edit that file, not "
    "this one. x-message (the text of a failed pattern) and x-modalc (what modalc's compiler validates instead, "
    "checking the value later) are modalc's own annotations.",
    "title": f"modalc manifest, version {VERSION}",
    "description": "Declares a Modal app: images, GPUs, volumes, secrets, functions, classes, entrypoints and "
    "per-environment overrides. TOML and YAML carry the same structure.",
    "type": "object",
    "required": ["version", "app"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": VERSION, "description": "Manifest schema version."},
        "app": ref("app"),
        "apps": named("python_name", "other_app"),
        "images": named("alias", "image"),
        "volumes": named("alias", "volume"),
        "secrets": named("alias", "secret"),
        "cloud_buckets": named("alias", "cloud_bucket"),
        "queues": named("alias", "queue"),
        "dicts": named("alias", "dict"),
        "functions": named("python_name", "function"),
        "classes": named("python_name", "class"),
        "entrypoints": named("python_name", "entrypoint"),
        "environments": named("environment_name", "environment"),
        "budget": ref("budget"),
    },
    "$defs": {
        # -- names and strings --
        "alias": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
            "x-message": "names start with a letter or digit and use letters, digits, '_', '-' and '.' "
            "(at most 63 characters)",
        },
        "python_name": {
            "type": "string",
            "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$",
            "x-message": "names become Python names: a letter, then letters, digits and '_' (at most 64 characters)",
        },
        "modal_name": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            "x-message": "Modal names use letters, digits, '_', '-' and '.' (at most 64 characters)",
        },
        "environment_name": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
            "x-message": "environment names use letters, digits, '_' and '-' (at most 64 characters)",
        },
        "tag": {
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]{1,63}$",
            "x-message": "tags use letters, digits, '_', '-' and '.' (1 to 63 characters)",
        },
        "env_var_name": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,255}$",
            "x-message": "environment variable names use letters, digits and '_' and do not start with a digit",
        },
        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
        "relative_path": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "description": "A path relative to the manifest's directory.",
            "pattern": r"^[^\u0000-\u001f\u007f]+$",
            "x-message": "paths contain no control characters",
        },
        "absolute_path": {
            "type": "string",
            "pattern": r"^/[^\u0000-\u001f\u007f]*$",
            "maxLength": 1024,
            "x-message": "container paths are absolute (start with '/') and contain no control characters",
        },
        "strings": {"type": "array", "items": ref("text"), "minItems": 1},
        "aliases": {"type": "array", "items": ref("alias"), "uniqueItems": True},
        "env": {
            "type": "object",
            "propertyNames": ref("env_var_name"),
            "additionalProperties": {"type": "string", "maxLength": 32768},
            "description": "Plain environment variables. Never put credentials here: use a secret.",
        },
        # -- the app --
        "app": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": ref("modal_name", description="The Modal app name."),
                "tags": {"type": "object", "propertyNames": ref("tag"), "additionalProperties": ref("tag")},
                "image": ref("alias", description="Default image of every function and class."),
                "secrets": ref("aliases", description="Secrets every function and class gets."),
                "volumes": ref("mounts", description="Mounts every function and class gets."),
                "source_dir": ref(
                    "relative_path",
                    description="Where handler packages live, relative to the manifest (default: the manifest's "
                    "directory).",
                ),
                "include": {
                    "type": "array",
                    "items": ref("python_name"),
                    "uniqueItems": True,
                    "description": "Other apps of this manifest (under [apps]) whose functions and classes "
                    "deploy with this one (App.include).",
                },
            },
        },
        "other_app": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "description": "Another Modal app in the same module: functions and classes join it with `app = ALIAS`; "
            "it deploys on its own (`modalc deploy --app ALIAS`) or with the main app (`include`).",
            "properties": {
                "name": ref("modal_name", description="The Modal app name."),
                "tags": {"type": "object", "propertyNames": ref("tag"), "additionalProperties": ref("tag")},
                "image": ref("alias", description="Default image of this app's functions and classes."),
                "secrets": ref("aliases", description="Secrets this app's functions and classes get."),
                "volumes": ref("mounts", description="Mounts this app's functions and classes get."),
            },
        },
        # -- images --
        "image": {
            "type": "object",
            "additionalProperties": False,
            "description": "An image: a `base` and its steps, or `from` another declared image plus more steps.",
            "properties": {
                "base": {
                    "enum": ["debian_slim", "micromamba", "registry", "aws_ecr", "gcp_artifact_registry", "dockerfile"]
                },
                "from": ref(
                    "alias",
                    description="Build on another declared image (Modal's method chain on it: shared layers are "
                    "shared); instead of `base`.",
                ),
                "python": {
                    "type": "string",
                    "description": 'Python version of the image, e.g. "3.12". Required for debian_slim and micromamba.',
                },
                "tag": ref(
                    "text", description="Registry image reference (base = registry, aws_ecr, gcp_artifact_registry)."
                ),
                "add_python": {
                    "type": "string",
                    "description": "Python version to add to a registry or Dockerfile image.",
                },
                "registry_secret": ref(
                    "alias",
                    description="Secret with registry credentials (base = registry, aws_ecr, gcp_artifact_registry).",
                ),
                "path": ref("relative_path", description="Dockerfile path (base = dockerfile)."),
                "context_dir": ref("relative_path", description="Docker build context (base = dockerfile)."),
                "build_args": {"type": "object", "additionalProperties": {"type": "string"}},
                "force_build": boolean("Rebuild the base layer even when Modal has it cached."),
                "steps": {
                    "type": "array",
                    "items": ref("step"),
                    "description": "Build steps in order; each is one image layer.",
                },
            },
        },
        "build_options": {  # mixin: what Modal's builder methods take besides their own arguments
            "properties": {
                "env": ref("env", description="Environment variables for this step's build only."),
                "secrets": ref("aliases"),
                "gpu": ref("gpu_type", **{"x-modalc": {"type": "string"}}),
                "force_build": boolean("Rebuild this layer even when Modal has it cached."),
            },
        },
        "pip_options": {  # mixin of the pip-like steps
            "properties": {
                "index_url": ref("text"),
                "extra_index_url": ref("text"),
                "find_links": ref("text"),
                "pre": boolean(),
                "extra_options": {"type": "string", "maxLength": 4096},
            },
        },
        "step": {
            "type": "object",
            "description": "One build step: a table with exactly one of the step keys (apt, pip, uv_pip, "
            "pip_requirements, pip_pyproject, micromamba, run, env, workdir, entrypoint, cmd, shell, "
            "dockerfile_commands, run_function, local_file, local_dir, python_source).",
            "oneOf": [
                {"required": ["apt"], "x-extends": "#/$defs/build_options", "properties": {"apt": ref("strings")}},
                {
                    "required": ["pip"],
                    "x-extends": ["#/$defs/pip_options", "#/$defs/build_options"],
                    "properties": {"pip": ref("strings")},
                },
                {
                    "required": ["uv_pip"],
                    "x-extends": ["#/$defs/pip_options", "#/$defs/build_options"],
                    "properties": {
                        "uv_pip": ref("strings"),
                        "requirements": {
                            "type": "array",
                            "items": ref("relative_path"),
                            "minItems": 1,
                            "description": "Requirements files (relative to the manifest) installed with the packages.",
                        },
                        "uv_version": ref("text", description="The uv version to install with (default: Modal's)."),
                    },
                },
                {
                    "required": ["pip_requirements"],
                    "x-extends": ["#/$defs/pip_options", "#/$defs/build_options"],
                    "properties": {"pip_requirements": ref("relative_path")},
                },
                {
                    "required": ["pip_pyproject"],
                    "x-extends": ["#/$defs/pip_options", "#/$defs/build_options"],
                    "properties": {"pip_pyproject": ref("relative_path"), "optional_dependencies": TEXT_LIST},
                },
                {
                    "required": ["micromamba"],
                    "x-extends": "#/$defs/build_options",
                    "properties": {"micromamba": ref("strings"), "channels": TEXT_LIST},
                },
                {
                    "required": ["run"],
                    "x-extends": "#/$defs/build_options",
                    "properties": {
                        "run": ref("strings"),
                        "volumes": ref("mounts", description="Volumes mounted while the commands run."),
                    },
                },
                {"required": ["env"], "additionalProperties": False, "properties": {"env": ref("env")}},
                {
                    "required": ["workdir"],
                    "additionalProperties": False,
                    "properties": {"workdir": ref("absolute_path")},
                },
                *(
                    {"required": [kind], "additionalProperties": False, "properties": {kind: EXEC_FORM}}
                    for kind in ("entrypoint", "cmd", "shell")
                ),
                {
                    "required": ["dockerfile_commands"],
                    "additionalProperties": False,
                    "properties": {
                        "dockerfile_commands": ref("strings"),
                        "context_files": {
                            "type": "object",
                            "propertyNames": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "additionalProperties": ref("relative_path"),
                            "description": "Build-context name (what a COPY line names, e.g. /config.json) -> "
                            "a file relative to the manifest.",
                        },
                        "context_dir": ref(
                            "relative_path",
                            description="Where COPY sources are found (default: the manifest's directory).",
                        ),
                        "build_args": {"type": "object", "additionalProperties": {"type": "string"}},
                        "ignore": {
                            **TEXT_LIST,
                            "description": "Patterns of files left out of the build context (default: .dockerignore).",
                        },
                        "env": ref("env"),
                        "gpu": ref("gpu_type", **{"x-modalc": {"type": "string"}}),
                        "secrets": ref("aliases"),
                        "force_build": boolean(),
                    },
                },
                {
                    "required": ["run_function"],
                    "additionalProperties": False,
                    "properties": {
                        "run_function": ref(
                            "handler",
                            description="A function of yours that runs once at build time (downloads weights, "
                            "warms a cache); its files become a layer.",
                        ),
                        "args": {"type": "array", "items": JSON_VALUE},
                        "kwargs": {"type": "object", "additionalProperties": JSON_VALUE},
                        "gpu": ref("gpu"),
                        "cpu": {"type": "number", "exclusiveMinimum": 0, "maximum": 512},
                        "memory": integer(1, description="MiB."),
                        "timeout": integer(1, 86400, description="Seconds (default 3600)."),
                        "volumes": ref("mounts"),
                        "secrets": ref("aliases"),
                        "env": ref("env"),
                        "cloud": {"enum": ["aws", "gcp", "oci", "auto"]},
                        "region": ref("region"),
                        "force_build": boolean(),
                    },
                },
                {
                    "required": ["local_file"],
                    "additionalProperties": False,
                    "properties": {
                        "local_file": ref("relative_path"),
                        "remote": ref("absolute_path"),
                        "copy": boolean(),
                    },
                },
                {
                    "required": ["local_dir"],
                    "additionalProperties": False,
                    "properties": {
                        "local_dir": ref("relative_path"),
                        "remote": ref("absolute_path"),
                        "copy": boolean(),
                        "ignore": TEXT_LIST,
                    },
                },
                {
                    "required": ["python_source"],
                    "additionalProperties": False,
                    "properties": {
                        "python_source": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
                                "x-message": "module names are dotted Python names",
                            },
                            "minItems": 1,
                        },
                        "copy": boolean(),
                        "ignore": {
                            **TEXT_LIST,
                            "description": "Patterns of files left out (default: Modal's, every non-Python file).",
                        },
                    },
                },
            ],
        },
        # -- volumes, secrets, buckets, mounts --
        "volume": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": ref("modal_name", description="The Modal volume name (default: the alias)."),
                "environment": ref(
                    "environment_name", description="Look it up in this Modal environment (default: the deploy's)."
                ),
                "create_if_missing": boolean(),
                "read_only": boolean("Default for every mount of this volume."),
                "version": {"enum": [1, 2], "description": "The volume's file system version, for a new volume."},
            },
        },
        "secret": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": ref(
                    "modal_name",
                    description="The Modal secret name (default: the alias). Values never live in a manifest.",
                ),
                "environment": ref(
                    "environment_name", description="Look it up in this Modal environment (default: the deploy's)."
                ),
                "required_keys": {"type": "array", "items": ref("env_var_name"), "uniqueItems": True},
            },
        },
        **{
            kind: {
                "type": "object",
                "additionalProperties": False,
                "description": f"A named modal.{kind.capitalize()}; handler code reaches it as "
                f"`modalc_app.{kind.upper()}S[alias]`.",
                "properties": {
                    "name": ref("modal_name", description=f"The Modal {kind} name (default: the alias)."),
                    "environment": ref(
                        "environment_name", description="Look it up in this Modal environment (default: the deploy's)."
                    ),
                    "create_if_missing": boolean(),
                },
            }
            for kind in ("queue", "dict")
        },
        "cloud_bucket": {
            "type": "object",
            "required": ["bucket_name"],
            "additionalProperties": False,
            "properties": {
                "bucket_name": {
                    "type": "string",
                    "pattern": "^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$",
                    "x-message": "bucket names use lowercase letters, digits, '.', '_' and '-'",
                },
                "endpoint_url": {
                    "type": "string",
                    "pattern": "^https?://",
                    "maxLength": 2048,
                    "x-message": "endpoint URLs start with https:// or http://",
                },
                "key_prefix": ref("text"),
                "secret": ref("alias"),
                "oidc_auth_role_arn": {
                    "type": "string",
                    "pattern": "^arn:",
                    "x-message": "role ARNs start with 'arn:'",
                },
                "read_only": boolean(),
                "requester_pays": boolean(),
                "force_path_style": boolean(),
            },
        },
        "mounts": {
            "type": "object",
            "propertyNames": ref("absolute_path"),
            "additionalProperties": ref("mount"),
            "description": "Container path -> volume alias, or a table {volume, read_only, sub_path} or {bucket}.",
        },
        "mount": {
            "oneOf": [
                ref("alias"),
                {
                    "type": "object",
                    "required": ["volume"],
                    "additionalProperties": False,
                    "properties": {"volume": ref("alias"), "read_only": boolean(), "sub_path": ref("text")},
                },
                {
                    "type": "object",
                    "required": ["bucket"],
                    "additionalProperties": False,
                    "properties": {"bucket": ref("alias")},
                },
            ]
        },
        # -- function and class settings --
        "gpu_type": {
            "description": "A Modal GPU type, optionally with a count: 'H100', 'a100-80gb:2'. Letter case does "
            "not matter.",
            "anyOf": [{"enum": GPU_NAMES}, {"type": "string", "pattern": gpu_pattern()}],
            "x-modalc": GPU_LENIENT,
        },
        "gpu": {
            "oneOf": [
                ref("gpu_type"),
                {"type": "array", "items": ref("gpu_type"), "minItems": 1, "maxItems": 16},
                {"const": False},
            ],
            "description": "TYPE[:COUNT], or a list of them: fallbacks in order of preference; false switches a GPU "
            "off (in an environment).",
        },
        "retries": {
            "oneOf": [
                integer(0, 10),
                {
                    "type": "object",
                    "required": ["max_retries"],
                    "additionalProperties": False,
                    "properties": {
                        "max_retries": integer(0, 10),
                        "backoff_coefficient": {"type": "number", "minimum": 1, "maximum": 10},
                        "initial_delay": {"type": "number", "minimum": 0, "maximum": 60},
                        "max_delay": {"type": "number", "minimum": 1, "maximum": 60},
                    },
                },
            ]
        },
        "schedule": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["cron"],
                    "additionalProperties": False,
                    "properties": {
                        "cron": {"type": "string", "maxLength": 256},
                        "timezone": {"type": "string", "maxLength": 64},
                    },
                },
                {
                    "type": "object",
                    "required": ["period"],
                    "additionalProperties": False,
                    "properties": {"period": ref("period")},
                },
                {"const": False},
            ],
            "description": "{cron, timezone} or {period}; false switches the schedule off (in an environment).",
        },
        "period": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "years": integer(0),
                "months": integer(0),
                "weeks": integer(0),
                "days": integer(0),
                "hours": integer(0),
                "minutes": integer(0),
                "seconds": {"type": "number", "minimum": 0},
            },
        },
        "web_label": {
            "type": "string",
            "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
            "x-message": "labels use lowercase letters, digits and '-' (at most 63 characters)",
        },
        "custom_domains": {
            "type": "array",
            "items": {
                "type": "string",
                "pattern": r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
                "x-message": "custom domains are lowercase host names such as api.example.com",
            },
            "uniqueItems": True,
        },
        "web_common": {  # mixin of every kind of endpoint
            "properties": {
                "label": ref("web_label"),
                "custom_domains": ref("custom_domains"),
                "requires_proxy_auth": boolean(),
            },
        },
        "web": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["type"],
                    "x-extends": "#/$defs/web_common",
                    "properties": {
                        "type": {"const": "fastapi"},
                        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
                        "docs": boolean(),
                    },
                },
                {
                    "type": "object",
                    "required": ["type"],
                    "x-extends": "#/$defs/web_common",
                    "properties": {"type": {"const": "asgi"}},
                },
                {
                    "type": "object",
                    "required": ["type"],
                    "x-extends": "#/$defs/web_common",
                    "properties": {"type": {"const": "wsgi"}},
                },
                {
                    "type": "object",
                    "required": ["type", "port"],
                    "x-extends": "#/$defs/web_common",
                    "properties": {
                        "type": {"const": "web_server"},
                        "port": integer(1, 65535),
                        "startup_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                    },
                },
                {"const": False},
            ],
            "description": "A web endpoint: type = fastapi | asgi | wsgi | web_server; false switches it off "
            "(in an environment).",
        },
        "concurrency": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "description": "Inputs per container: max_inputs (with an optional target_inputs); target_inputs alone "
            "only on an http_server class.",
            "properties": {"max_inputs": integer(1, 1000), "target_inputs": integer(1, 1000)},
        },
        "batched": {
            "type": "object",
            "required": ["max_batch_size", "wait_ms"],
            "additionalProperties": False,
            "properties": {"max_batch_size": integer(1, 1000), "wait_ms": integer(0, 600000)},
            "description": "Collect inputs into lists: up to max_batch_size items, waiting at most wait_ms.",
        },
        "handler": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$",
            "x-message": "handlers are written package.module:name",
        },
        "region": {"oneOf": [REGION, {"type": "array", "items": REGION, "minItems": 1, "uniqueItems": True}]},
        "resource_pair": {
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0},
            "minItems": 2,
            "maxItems": 2,
        },
        "settings": {  # mixin: what functions and classes share
            "properties": {
                "handler": ref("handler"),
                "app": ref("python_name", description="The app (under [apps]) this belongs to; default: [app]."),
                "image": ref("alias"),
                "gpu": ref("gpu"),
                "cpu": {
                    "oneOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 512}, ref("resource_pair")],
                    "description": "Cores, or [request, limit].",
                },
                "memory": {
                    "oneOf": [
                        integer(1),
                        {"type": "array", "items": integer(1), "minItems": 2, "maxItems": 2},
                    ],
                    "description": "MiB, or [request, limit].",
                },
                "ephemeral_disk": integer(1, description="MiB."),
                "timeout": integer(1, 86400, description="Seconds per input (default 300)."),
                "startup_timeout": integer(1, 86400),
                "retries": ref("retries"),
                "min_containers": integer(0, 1000),
                "max_containers": integer(1, 100000),
                "buffer_containers": integer(0, 1000),
                "scaledown_window": integer(2, 3600),
                "region": ref("region"),
                "cloud": {"enum": ["aws", "gcp", "oci", "auto"]},
                "nonpreemptible": boolean(),
                "memory_snapshot": boolean(),
                "concurrency": ref("concurrency"),
                "single_use_containers": boolean(),
                "block_network": boolean(),
                "restrict_modal_access": boolean("Refuse this code access to other Modal resources."),
                "routing_region": {**REGION, "description": "Route inputs through this region."},
                "volumes": ref("mounts"),
                "secrets": ref("aliases"),
                "env": ref("env"),
                "experimental_options": {
                    "type": "object",
                    "propertyNames": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
                    "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
                    "description": "Modal's experimental options, e.g. { enable_gpu_snapshot = true } (sent as "
                    "strings).",
                },
                "clustered": {
                    "type": "object",
                    "required": ["size"],
                    "additionalProperties": False,
                    "properties": {"size": integer(1, 64), "rdma": boolean()},
                    "description": "A multi-node cluster of `size` containers (modal.clustered).",
                },
            },
        },
        "function": {
            "type": "object",
            "required": ["handler"],
            "x-extends": "#/$defs/settings",
            "properties": {"schedule": ref("schedule"), "web": ref("web"), "batched": ref("batched")},
        },
        "parameter": {
            "oneOf": [
                {"enum": ["str", "int", "bool", "bytes"]},
                {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["str", "int", "bool", "bytes"]},
                        "default": {"type": ["string", "integer", "boolean"]},
                    },
                },
            ]
        },
        "enter_hook": {
            "oneOf": [
                ref("python_name"),
                {
                    "type": "object",
                    "required": ["method"],
                    "additionalProperties": False,
                    "properties": {"method": ref("python_name"), "snap": boolean()},
                },
            ]
        },
        "method": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"batched": ref("batched"), "web": ref("web")},
        },
        "class": {
            "type": "object",
            "required": ["handler"],
            "x-extends": "#/$defs/settings",
            "properties": {
                "http_server": {
                    "type": "object",
                    "required": ["port", "proxy_regions"],
                    "additionalProperties": False,
                    "properties": {
                        "port": integer(1, 65535),
                        "proxy_regions": {"type": "array", "items": REGION, "minItems": 1, "uniqueItems": True},
                        "startup_timeout": integer(1, 3600),
                        "exit_grace_period": integer(0, 25),
                        "h2_enabled": boolean(),
                    },
                    "description": "Serve HTTP from the class's enter hooks (modal.experimental.http_server); the "
                    "class then has no methods.",
                },
                "parameters": named("python_name", "parameter"),
                "enter": {"type": "array", "items": ref("enter_hook")},
                "exit": {"type": "array", "items": ref("python_name")},
                "methods": {
                    "oneOf": [
                        {"type": "array", "items": ref("python_name"), "uniqueItems": True},
                        named("python_name", "method"),
                    ],
                    "description": "Method names, or a table of method name -> {batched, web}.",
                },
            },
        },
        # -- entrypoints --
        "call_target": {
            "type": "string",
            "pattern": r"^[A-Za-z][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})?$",
            "x-message": "a function's name, or Class.method",
        },
        "entrypoint": {
            "oneOf": [
                *(
                    {
                        "type": "object",
                        "required": [kind],
                        "additionalProperties": False,
                        "properties": {
                            kind: ref("call_target"),
                            "inputs": ref("relative_path"),
                            "output": ref("relative_path"),
                            "parameters": {
                                "type": "object",
                                "additionalProperties": {"type": ["string", "integer", "boolean"]},
                            },
                        },
                    }
                    for kind in ("map", "starmap")
                ),
                *(
                    {
                        "type": "object",
                        "required": [kind],
                        "additionalProperties": False,
                        "properties": {
                            kind: ref("call_target"),
                            "parameters": {
                                "type": "object",
                                "additionalProperties": {"type": ["string", "integer", "boolean"]},
                            },
                        },
                    }
                    for kind in ("remote", "spawn")
                ),
                {
                    "type": "object",
                    "required": ["local"],
                    "additionalProperties": False,
                    "properties": {
                        "local": ref(
                            "handler",
                            description="A function of yours that runs on your machine while the app runs, with the "
                            "command line's arguments; it calls the app as modalc_app.NAME.",
                        )
                    },
                },
            ],
            "description": "A local entrypoint: fan a function or method out with map (one argument per input) or "
            "starmap (a list of arguments per input), call it once with the command line's arguments: remote "
            "(waits for the result) or spawn (starts it on the deployed app and returns its call id), or run your "
            "own function locally (local). `parameters` construct a class.",
        },
        # -- budgets (`modalc cost`) --
        "budget": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "idle_per_hour": {
                    "type": "number",
                    "minimum": 0,
                    "description": "US dollars per hour with no traffic (min_containers of every function and class).",
                },
                "peak_per_hour": {
                    "type": "number",
                    "minimum": 0,
                    "description": "US dollars per hour at max_containers of every function and class.",
                },
                "prices": ref(
                    "relative_path",
                    description="A price file of negotiated rates (JSON: source, as_of, rates); default: Modal's "
                    "list prices.",
                ),
            },
            "description": "validate, build and deploy refuse an environment that costs more; see `modalc cost`.",
        },
        # -- environments --
        "environment": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "modal_environment": ref(
                    "environment_name",
                    description="The Modal environment to deploy to (default: this environment's name).",
                ),
                "protected": boolean("Deploys need --yes or an interactive confirmation."),
                "budget": ref("budget", description="This environment's budget: replaces the keys it sets."),
                **{section: overlay(section) for section in OVERLAY_SECTIONS},
            },
            "description": "Overrides merged onto the manifest for this environment: tables merge, lists and values "
            "replace.",
        },
    },
}
