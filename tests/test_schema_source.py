"""The schema is generated from one source: committed outputs are current, and the generator does what it says."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from helpers import REPO
from modalc import catalog as gpu_catalog
from modalc.overlay import OVERLAY_KEYS
from modalc.schema_source import generate, manifest
from modalc.schema_source.generate import SchemaSourceError, build
from modalc.validate import load_schema, published_schema

PUBLISHED = REPO / "schemas" / f"v{manifest.VERSION}" / "manifest.schema.json"


def test_committed_schemas_are_generated_from_the_source() -> None:
    stale = generate.stale()
    assert not stale, f"{', '.join(stale)} differ from compiler/modalc/schema_source; run {generate.COMMAND}"


def test_the_generator_is_deterministic_and_checks_from_the_command_line() -> None:
    first = generate.generate()
    assert generate.generate() == first
    # Another process with another hash seed writes the same bytes (the Makefile's command, in --check mode).
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-m", "modalc.schema_source", "--check"], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_published_schema_is_a_valid_draft_2020_12_schema_with_its_versioned_id() -> None:
    schema = json.loads(PUBLISHED.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://modalc.dev/schemas/v{manifest.VERSION}/manifest.schema.json"
    assert schema["properties"]["version"] == {"const": manifest.VERSION, "description": "Manifest schema version."}
    assert published_schema() == schema  # what the package ships, and `modalc schema` prints


def test_every_pattern_is_also_an_ecma_262_regex() -> None:
    """check-jsonschema and editors read patterns as ECMA-262 (`u` flag), not as Python `re`."""
    regress = pytest.importorskip("regress", reason="regress comes with check-jsonschema (the test extras)")
    patterns = [
        node["pattern"]
        for _, node in generate._schemas(published_schema(), "#")
        if isinstance(node, dict) and "pattern" in node
    ]
    assert len(patterns) > 10
    for pattern in patterns:
        regress.Regex(pattern, flags="u")


def test_the_catalog_entry_points_at_every_published_version() -> None:
    document = json.loads((REPO / "schemas" / "catalog.json").read_text())
    assert document["$schema"] == "https://json.schemastore.org/schema-catalog.json"
    [entry] = document["schemas"]
    assert set(entry) == {"name", "description", "fileMatch", "url", "versions"}
    assert entry["url"] == published_schema()["$id"] == entry["versions"][str(manifest.VERSION)]
    assert {"**/modalc*.toml", "**/modalc*.yaml"} <= set(entry["fileMatch"])
    for version, url in entry["versions"].items():
        path = REPO / url.replace("https://modalc.dev/", "")
        assert path.is_file(), f"catalog version {version} names {url}, which is not published under schemas/"
        assert json.loads(path.read_text())["$id"] == url


# --- environment overrides ----------------------------------------------------------------------------


def test_environments_override_exactly_what_the_compiler_merges() -> None:
    environment = published_schema()["$defs"]["environment"]["properties"]
    assert tuple(k for k in environment if k not in ("modal_environment", "protected", "budget")) == OVERLAY_KEYS
    assert manifest.OVERLAY_SECTIONS == OVERLAY_KEYS


def _reachable_from(schema: dict[str, Any], start: Any) -> Any:
    """Every schema reachable from `start` without passing through `items` (a list in an override is whole)."""
    defs, seen, todo = schema["$defs"], set(), [start]
    while todo:
        node = todo.pop()
        if not isinstance(node, dict):
            continue
        yield node
        if "$ref" in node and node["$ref"] not in seen:
            seen.add(node["$ref"])
            todo.append(defs[node["$ref"].removeprefix("#/$defs/")])
        todo += list(node.get("properties", {}).values()) + node.get("anyOf", []) + node.get("oneOf", [])
        todo.append(node.get("additionalProperties"))


def test_an_override_may_leave_out_any_table_key_but_lists_stay_complete() -> None:
    schema = published_schema()
    environment = schema["$defs"]["environment"]["properties"]
    for section in OVERLAY_KEYS:
        for node in _reachable_from(schema, environment[section]):
            assert "required" not in node and "minProperties" not in node, (section, node)
            assert (
                "oneOf" not in node or node == schema["$defs"]["gpu"] or all("required" not in b for b in node["oneOf"])
            ), (section, node)
    # A step inside an override's `steps` replaces the base's list: it still needs its kind key.
    image = schema["$defs"].get("image_override", schema["$defs"]["image"])
    assert image["properties"]["steps"] == schema["$defs"]["image"]["properties"]["steps"]
    assert all("required" in branch for branch in schema["$defs"]["step"]["oneOf"])


def test_overrides_are_checked_by_editors_and_left_to_the_compiler_after_merging() -> None:
    environment = published_schema()["$defs"]["environment"]["properties"]
    compiled = load_schema()["$defs"]["environment"]["properties"]
    for section in OVERLAY_KEYS:
        assert environment[section]["x-modalc"] == {"type": "object"}
        assert compiled[section] == {"type": "object"}  # errors come from validating the merged manifest


OVERRIDE_SAMPLES = [
    ("functions", {"f": {"gpu": "T4", "web": {"label": "x"}, "retries": {"max_delay": 5}}}, True),
    ("functions", {"f": {"schedule": {"period": {}}, "batched": {"wait_ms": 3}}}, True),
    ("functions", {"f": {"concurrency": {"target_inputs": 2}, "volumes": {"/d": {"read_only": True}}}}, True),
    ("functions", {"f": {"schedule": False, "web": False}}, True),
    ("classes", {"C": {"parameters": {"n": {"default": 3}}, "methods": {"m": {"web": {"method": "PUT"}}}}}, True),
    ("images", {"i": {"python": "3.11"}}, True),
    ("cloud_buckets", {"b": {"read_only": True}}, True),
    ("entrypoints", {"e": {"inputs": "x.jsonl"}}, True),
    ("app", {"image": "other"}, True),
    ("functions", {"f": {"timeot": 3}}, False),
    ("functions", {"f": {"web": {"type": "fastapi", "methd": "POST"}}}, False),
    ("functions", {"f": {"retries": {"max_retriess": 2}}}, False),
    ("functions", {"f": {"gpu": "H10O"}}, False),
    ("functions", {"f": {"max_containers": 0}}, False),
    ("images", {"i": {"steps": [{"index_url": "https://x"}]}}, False),  # a step without its kind key
    ("images", {"i": {"pyhton": "3.11"}}, False),
    ("app", {"nmae": "x"}, False),
    ("functions", {"1f": {}}, False),
]


@pytest.mark.parametrize(("section", "override", "valid"), OVERRIDE_SAMPLES)
def test_partial_overrides_in_the_published_schema(section: str, override: Any, valid: bool) -> None:
    document = {"version": 1, "app": {"name": "demo"}, "environments": {"dev": {section: override}}}
    errors = list(Draft202012Validator(published_schema()).iter_errors(document))
    assert (not errors) is valid, [e.message for e in errors]


# --- GPU names ----------------------------------------------------------------------------------------


def test_gpu_names_are_an_enum_from_the_data_file() -> None:
    gpu_type = published_schema()["$defs"]["gpu_type"]
    names = [g.name for g in gpu_catalog.gpu_types().values()]
    assert gpu_type["anyOf"][0] == {"enum": names}
    assert load_schema()["$defs"]["gpu_type"] == {"type": "string", "minLength": 1, "maxLength": 64}


def _gpu_corpus() -> list[str]:
    names = [g.name for g in gpu_catalog.gpu_types().values()] + ["H10O", "A10X", "T", "a100-80", "B200++", ""]
    spellings = sorted({v for n in names for v in (n, n.lower(), n.upper(), n.swapcase(), n.title())})
    counts = ["", ":", ":0", ":1", ":2", ":+3", ":04", ":4", ":5", ":8", ":9", ":10", ":-1", ": 2", ":2:2", ":x"]
    pads = [("", ""), (" ", ""), ("", " "), ("\t", "\n")]
    return [f"{left}{name}{count}{right}" for name, count, (left, right) in itertools.product(spellings, counts, pads)]


def test_the_published_gpu_pattern_accepts_exactly_what_modalc_accepts() -> None:
    """Editors flag a GPU string if and only if modalc would (for ASCII spellings, the ones people type)."""
    gpu_type = Draft202012Validator({"$defs": published_schema()["$defs"], "$ref": "#/$defs/gpu_type"})
    corpus = _gpu_corpus()
    assert len(corpus) > 2000
    disagreements = [text for text in corpus if gpu_type.is_valid(text) != (gpu_catalog.parse_gpu(text)[1] is None)]
    assert not disagreements, disagreements[:20]
    assert gpu_type.is_valid("h100:2") and gpu_type.is_valid("any:4") and not gpu_type.is_valid("any:5")


def test_gpu_counts_above_nine_are_spelled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest, "_gpus", lambda: [{"name": "X1", "max_count": 16}, {"name": "y", "max_count": 2}])
    pattern = re.compile(manifest.gpu_pattern())
    assert [t for t in ("x1", "X1:16", "x1:016", "x1:9", "Y:2") if not pattern.search(t)] == []
    assert [t for t in ("x1:17", "x1:0", "y:3", "x1:1:1", "X") if pattern.search(t)] == []


def test_gpu_messages_stay_the_compilers() -> None:
    """The compiler's schema takes any GPU string; catalog.parse_gpu words the problem (did-you-mean, limits)."""
    document = {"version": 1, "app": {"name": "d"}, "functions": {"f": {"handler": "p.m:f", "gpu": ["H10O", "a10:9"]}}}
    assert not list(Draft202012Validator(load_schema()).iter_errors(document))
    assert gpu_catalog.parse_gpu("H10O") == (None, "unknown GPU type 'H10O'; did you mean 'H100'?")


# --- the generator's rules ----------------------------------------------------------------------------


def _source(**defs: Any) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {name: {"$ref": f"#/$defs/{name}"} for name in defs if not name.startswith("mixin")},
        "$defs": defs,
    }


def test_x_extends_flattens_mixins_into_closed_objects() -> None:
    source = _source(
        mixin={"properties": {"a": {"type": "integer"}}, "required": ["a"]},
        thing={"type": "object", "required": ["b"], "x-extends": "#/$defs/mixin", "properties": {"b": {}}},
    )
    schema = build(source)
    assert schema["$defs"] == {
        "thing": {
            "type": "object",
            "required": ["b", "a"],
            "additionalProperties": False,
            "properties": {"b": {}, "a": {"type": "integer"}},
        }
    }
    assert "x-extends" in source["$defs"]["thing"]  # the source is left as it was


@pytest.mark.parametrize(
    ("defs", "problem"),
    [
        ({"mixin": {"properties": {"a": {}}}, "t": {"x-extends": "#/$defs/mixin", "properties": {"a": {}}}}, "both"),
        ({"mixin": {"type": "object"}, "t": {"x-extends": "#/$defs/mixin"}}, "may only have"),
        (
            {"mixin": {"properties": {}}, "t": {"x-extends": "#/$defs/mixin", "additionalProperties": True}},
            "closes the object",
        ),
        ({"t": {"type": "array", "prefixItems": [{}]}}, "taplo does not enforce"),
        ({"t": {"type": "object", "unevaluatedProperties": False}}, "taplo does not enforce"),
        ({"t": {"$ref": "#/$defs/u", "required": ["a"]}, "u": {}}, "beside a \\$ref"),
        ({"t": {"$ref": "#/$defs/nowhere"}}, "does not resolve"),
        ({"t": {"x-custom": 1}}, "left in the output"),
    ],
)
def test_the_generator_refuses_what_taplo_would_not_enforce(defs: dict[str, Any], problem: str) -> None:
    with pytest.raises(SchemaSourceError, match=problem):
        build(_source(**defs))


def test_unused_definitions_are_refused() -> None:
    source = _source(t={"type": "string"})
    source["$defs"]["orphan"] = {"type": "string"}
    with pytest.raises(SchemaSourceError, match="unused definitions: \\['orphan'\\]"):
        build(source)


def test_x_partial_derives_override_twins_only_where_something_is_required() -> None:
    source = _source(
        name={"type": "string"},
        item={"type": "object", "required": ["n"], "additionalProperties": False, "properties": {"n": {}}},
        thing={
            "oneOf": [
                {"type": "object", "required": ["k"], "properties": {"k": {"$ref": "#/$defs/item"}}},
                {"type": "array", "items": {"$ref": "#/$defs/item"}},
            ]
        },
        over={
            "type": "object",
            "properties": {
                "t": {"x-partial": "#/properties/thing", "description": "partial"},
                "n": {"x-partial": "#/properties/name"},
            },
        },
    )
    defs = build(source)["$defs"]
    assert list(defs) == ["name", "item", "item_override", "thing", "thing_override", "over"]
    assert defs["item_override"] == {"type": "object", "additionalProperties": False, "properties": {"n": {}}}
    assert defs["thing_override"] == {
        "anyOf": [
            {"type": "object", "properties": {"k": {"$ref": "#/$defs/item_override"}}},
            {"type": "array", "items": {"$ref": "#/$defs/item"}},  # lists replace: items stay complete
        ]
    }
    assert defs["over"]["properties"] == {
        "t": {"$ref": "#/$defs/thing_override", "description": "partial"},
        "n": {"$ref": "#/$defs/name"},  # nothing required there: no twin
    }


def test_the_source_has_no_generated_names() -> None:
    assert not [name for name in manifest.SOURCE["$defs"] if re.search(r"_override$", name)]
