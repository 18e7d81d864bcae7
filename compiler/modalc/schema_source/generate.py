"""Generate the published manifest schema from its source, `manifest.py`, in four deterministic steps:

1. flatten `x-extends`: the mixins' properties are written into each object, closed by
   `additionalProperties: false` (what every validator enforces, taplo included);
2. expand `x-partial` (environment overrides): the partial variant of the schema it points at, with a
   `NAME_override` twin for each definition that changes (no `required`, no `minProperties`, `oneOf` relaxed to
   `anyOf`; below `items` nothing changes, since a list in an override replaces the base's list whole);
3. drop the mixins nothing `$ref`s;
4. check the result: every `$ref` resolves and every definition is used, no generator extension is left, no
   keyword taplo does not enforce is used (`prefixItems`, `unevaluated*`, `dependent*`, `*Contains`, anchors,
   dynamic refs, and validation keywords beside a `$ref`), and it is a valid draft 2020-12 schema.

The outputs are the same schema in three places and a catalog (see `OUTPUTS`); `make schema` writes them and
tests/test_schema_source.py fails while a committed one differs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import manifest

REPO = Path(__file__).resolve().parents[3]
SCHEMA_FILES = (
    "compiler/modalc/schemas/manifest.schema.json",  # shipped: validate.py and `modalc schema` read it
    "schemas/manifest.schema.json",  # the latest published version (the examples' `#:schema` headers)
    f"schemas/v{manifest.VERSION}/manifest.schema.json",  # published at its $id
)
CATALOG_FILE = "schemas/catalog.json"
COMMAND = "make schema   (or: python -m modalc.schema_source)"

# Keywords taplo (a draft-4 validator, whatever `$schema` says) silently skips: using one loses enforcement.
TAPLO_IGNORES = frozenset(
    {
        "unevaluatedProperties",
        "unevaluatedItems",
        "prefixItems",
        "dependentRequired",
        "dependentSchemas",
        "minContains",
        "maxContains",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
    }
)
# What may stand beside a `$ref`: annotations, which no validator is asked to enforce.
REF_SIBLINGS = frozenset({"description", "title", "$comment", "default", "examples", "deprecated", "x-modalc"})
PUBLISHED_EXTENSIONS = frozenset({"x-message", "x-modalc"})
# Where a keyword's value is a schema, a list of schemas, or a map of names to schemas.
ONE_SCHEMA = ("additionalProperties", "propertyNames", "items", "contains", "not", "if", "then", "else", "x-modalc")
SCHEMA_LISTS = ("oneOf", "anyOf", "allOf")
SCHEMA_MAPS = ("properties", "patternProperties", "$defs")
DROPPED_IN_OVERRIDES = ("required", "minProperties", "dependentRequired")


class SchemaSourceError(ValueError):
    """The source asks for something the generator cannot write as a taplo-enforceable schema."""


def generate() -> dict[str, str]:
    """Every output file (relative to the repository) and its exact content."""
    text = json.dumps(build(manifest.SOURCE), indent=2) + "\n"
    outputs = dict.fromkeys(SCHEMA_FILES, text)
    outputs[CATALOG_FILE] = json.dumps(catalog(), indent=2) + "\n"
    return outputs


def catalog() -> dict[str, Any]:
    """A catalog in SchemaStore's format, with the one entry SchemaStore's own catalog would list."""
    versions = {str(v): f"{manifest.BASE_URL}/v{v}/manifest.schema.json" for v in range(1, manifest.VERSION + 1)}
    entry = {
        "name": "modalc manifest",
        "description": "A Modal app declared for modalc: images, GPUs, volumes, secrets, functions, classes and "
        "per-environment overrides (TOML or YAML)",
        "fileMatch": list(manifest.FILE_MATCH),
        "url": manifest.SCHEMA_ID,
        "versions": versions,
    }
    return {"$schema": "https://json.schemastore.org/schema-catalog.json", "version": 1, "schemas": [entry]}


def build(source: dict[str, Any]) -> dict[str, Any]:
    """The published schema: `source` with the generator's extensions written out, then checked."""
    mixins: set[str] = set()
    schema = _flatten(source, source, mixins, ())
    schema = _Overrides(schema).expand()
    for name in sorted(mixins):
        if f"#/$defs/{name}" not in set(_refs(schema)):
            del schema["$defs"][name]
    check(schema)
    return schema


# --- 1. x-extends -------------------------------------------------------------------------------------


def _flatten(node: Any, root: dict[str, Any], mixins: set[str], active: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_flatten(item, root, mixins, active) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _flatten(value, root, mixins, active) for key, value in node.items()}
    if "x-extends" not in node:
        return node
    if "additionalProperties" in node or "unevaluatedProperties" in node:
        raise SchemaSourceError("x-extends closes the object itself; drop its additionalProperties")
    targets = node["x-extends"] if isinstance(node["x-extends"], list) else [node["x-extends"]]
    inherited: dict[str, Any] = {}
    required: list[str] = []
    for target in targets:
        if target in active:
            raise SchemaSourceError(f"x-extends cycle through {target}")
        mixin = _flatten(_pointer(root, target), root, mixins, (*active, target))
        if extra := set(mixin) - {"properties", "required", "description", "$comment"}:
            raise SchemaSourceError(f"mixin {target} may only have properties and required, not {sorted(extra)}")
        mixins.add(target.removeprefix("#/$defs/"))
        for name, schema in mixin.get("properties", {}).items():
            if name in inherited:
                raise SchemaSourceError(f"{name!r} comes from two mixins")
            inherited[name] = schema
        required += [r for r in mixin.get("required", []) if r not in required]
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if key == "x-extends":
            flat["additionalProperties"] = False
        elif key == "properties":
            if clash := set(value) & set(inherited):
                raise SchemaSourceError(f"{sorted(clash)} are both declared and inherited")
            flat["properties"] = {**value, **inherited}
        elif key == "required":
            flat["required"] = value + [r for r in required if r not in value]
        else:
            flat[key] = value
    flat.setdefault("properties", inherited)
    if required:
        flat.setdefault("required", required)
    return flat


# --- 2. x-partial -------------------------------------------------------------------------------------


class _Overrides:
    """Partial variants of definitions, created on first use and placed right after their original."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.names: dict[str, str] = {}  # definition -> the definition an override uses instead
        self.created: dict[str, dict[str, Any]] = {}  # original name -> its override
        self.active: set[str] = set()

    def expand(self) -> dict[str, Any]:
        expanded: dict[str, Any] = self._expand(self.schema)
        defs = {}
        for name, definition in expanded["$defs"].items():
            defs[name] = definition
            if name in self.created:
                defs[self.names[name]] = self.created[name]
        expanded["$defs"] = defs
        return expanded

    def _expand(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self._expand(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "x-partial" in node:
            result = dict(self.partial(_pointer(self.schema, node["x-partial"])))
            for key, value in node.items():
                if key == "x-partial":
                    continue
                if key in result:
                    raise SchemaSourceError(f"{key!r} beside x-partial is already in {node['x-partial']}")
                result[key] = value
            return result
        return {key: self._expand(value) for key, value in node.items()}

    def partial(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if "x-partial" in node:
            raise SchemaSourceError("x-partial inside the schema it derives from")
        if "$ref" in node:
            return {**node, "$ref": f"#/$defs/{self._override_of(node['$ref'])}"}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in DROPPED_IN_OVERRIDES:
                continue
            if key in ("properties", "patternProperties"):
                out[key] = {name: self.partial(schema) for name, schema in value.items()}
            elif key == "additionalProperties":
                out[key] = self.partial(value)
            elif key in SCHEMA_LISTS:
                branches = [self.partial(branch) for branch in value]
                # Branches without their required keys may overlap: an override matches one or several.
                if key == "oneOf" and branches != value:
                    key = "anyOf"
                if key in out:
                    raise SchemaSourceError("a schema with both oneOf and anyOf cannot be made partial")
                out[key] = branches
            else:  # items, propertyNames, enum, ...: lists replace, names stay names, values stay values
                out[key] = value
        return out

    def _override_of(self, pointer: str) -> str:
        name = pointer.removeprefix("#/$defs/")
        if name not in self.names:
            if name in self.active:
                raise SchemaSourceError(f"recursive definition {name!r} cannot be made partial")
            self.active.add(name)
            original = self.schema["$defs"][name]
            partial = self.partial(original)
            self.active.discard(name)
            self.names[name] = name
            if partial != original:
                self.names[name] = f"{name}_override"
                if self.names[name] in self.schema["$defs"]:
                    raise SchemaSourceError(f"{self.names[name]!r} is the name of a definition already")
                self.created[name] = partial
        return self.names[name]


# --- 4. checks ----------------------------------------------------------------------------------------


def check(schema: dict[str, Any]) -> None:
    """Raise SchemaSourceError unless `schema` is publishable (see the module docstring)."""
    from jsonschema import Draft202012Validator

    for where, node in _schemas(schema, "#"):
        if not isinstance(node, dict):
            continue
        if ignored := TAPLO_IGNORES & set(node):
            raise SchemaSourceError(f"{where}: taplo does not enforce {sorted(ignored)}")
        if "$ref" in node and (siblings := set(node) - REF_SIBLINGS - {"$ref"}):
            raise SchemaSourceError(f"{where}: taplo ignores {sorted(siblings)} beside a $ref")
        if extensions := {k for k in node if k.startswith("x-")} - PUBLISHED_EXTENSIONS:
            raise SchemaSourceError(f"{where}: {sorted(extensions)} left in the output")
    defs = schema["$defs"]
    used = set()
    for target in _refs(schema):
        name = target.removeprefix("#/$defs/")
        if not target.startswith("#/$defs/") or name not in defs:
            raise SchemaSourceError(f"$ref {target} does not resolve")
        used.add(name)
    if unused := set(defs) - used:
        raise SchemaSourceError(f"unused definitions: {sorted(unused)}")
    Draft202012Validator.check_schema(schema)


def _schemas(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every schema in `node` (itself included), with a JSON pointer to it."""
    yield where, node
    if not isinstance(node, dict):
        return
    for key in ONE_SCHEMA:
        if isinstance(node.get(key), (dict, bool)):
            yield from _schemas(node[key], f"{where}/{key}")
    for key in SCHEMA_LISTS:
        for index, branch in enumerate(node.get(key, [])):
            yield from _schemas(branch, f"{where}/{key}/{index}")
    for key in SCHEMA_MAPS:
        for name, sub in node.get(key, {}).items():
            yield from _schemas(sub, f"{where}/{key}/{name}")


def _refs(schema: dict[str, Any]) -> Iterator[str]:
    for _, node in _schemas(schema, "#"):
        if isinstance(node, dict) and "$ref" in node:
            yield node["$ref"]


def _pointer(root: Any, pointer: str) -> Any:
    if not pointer.startswith("#/"):
        raise SchemaSourceError(f"only local JSON pointers are supported, not {pointer!r}")
    node = root
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return copy.deepcopy(node)


# --- writing ------------------------------------------------------------------------------------------


def stale(outputs: dict[str, str] | None = None) -> list[str]:
    """The outputs whose committed file differs from what the source generates."""
    outputs = generate() if outputs is None else outputs
    return [path for path, text in outputs.items() if not (REPO / path).is_file() or (REPO / path).read_text() != text]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m modalc.schema_source", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file is stale")
    args = parser.parse_args(argv)
    outputs = generate()
    changed = stale(outputs)
    if args.check:
        for path in changed:
            print(f"{path} is stale; run {COMMAND}")
        return 1 if changed else 0
    for path in changed:
        target = REPO / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(outputs[path], encoding="utf-8", newline="\n")
        print(f"wrote {path}")
    return 0
