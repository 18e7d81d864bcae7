"""A bounded fuzz run over load, validate, normalize (and render): no input raises an uncaught exception.

The default run is small and derandomized so CI is reproducible; `MODALC_FUZZ_EXAMPLES=5000` (and optionally
`MODALC_FUZZ_RANDOM=1` for fresh random inputs) runs longer on demand.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CASES, EXAMPLES, examples, manifest_of, toml_dumps
from modalc.pipeline import compile_manifest
from modalc.validate import _validator, quick_valid

EXAMPLES_PER_TEST = int(os.environ.get("MODALC_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES_PER_TEST,
    deadline=None,
    derandomize=not os.environ.get("MODALC_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYS = [
    "version",
    "app",
    "name",
    "image",
    "images",
    "base",
    "python",
    "steps",
    "apt",
    "pip",
    "env",
    "run",
    "workdir",
    "local_file",
    "local_dir",
    "remote",
    "copy",
    "python_source",
    "volumes",
    "secrets",
    "required_keys",
    "functions",
    "classes",
    "handler",
    "gpu",
    "cpu",
    "memory",
    "timeout",
    "retries",
    "max_retries",
    "schedule",
    "cron",
    "timezone",
    "period",
    "hours",
    "web",
    "type",
    "method",
    "label",
    "concurrency",
    "max_inputs",
    "min_containers",
    "max_containers",
    "methods",
    "batched",
    "max_batch_size",
    "wait_ms",
    "enter",
    "exit",
    "parameters",
    "default",
    "entrypoints",
    "map",
    "starmap",
    "inputs",
    "output",
    "environments",
    "modal_environment",
    "protected",
    "tags",
    "cloud_buckets",
    "bucket_name",
    "volume",
    "bucket",
    "read_only",
]
SCALARS = st.one_of(
    st.sampled_from(
        [
            "debian_slim",
            "registry",
            "3.12",
            "3.10",
            "T4",
            "H100:2",
            "any",
            "pkg.mod:process",
            "pkg.mod:Model",
            "0 3 * * *",
            "UTC",
            "fastapi",
            "asgi",
            "/data",
            "data",
            "base",
            "dev",
            "",
            "POST",
            "items.jsonl",
            "../escape",
            "/etc/passwd",
            "predict",
            "load",
        ]
    ),
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


def manifest_like(depth: int = 3) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8))
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(key, children, max_size=6),
        ),
        max_leaves=40,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(CASES / "_project", directory, dirs_exist_ok=True)
    return directory


def compile_text(project: Path, name: str, text: str | bytes) -> None:
    path = project / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = compile_manifest(path, display_name=name)  # must return, whatever the input
    for diagnostic in result.diagnostics:
        assert diagnostic.render().startswith(f"{name}:")
    if result.manifest is not None:
        assert_fast_path_agrees(result.manifest.data)


def assert_fast_path_agrees(data: Any) -> None:
    """jsonschema-rs may only say "valid" where jsonschema (the source of every message) agrees."""
    if quick_valid(data):
        assert not list(_validator().iter_errors(data)), data


@FUZZ
@given(data=st.dictionaries(st.sampled_from(KEYS), manifest_like(), max_size=8), base=st.booleans())
def test_structured_manifests(project: Path, data: dict[str, Any], base: bool) -> None:
    if base:  # start from something nearly valid, then let the fuzzer break it
        data = {
            "version": 1,
            "app": {"name": "fuzz", "image": "b"},
            "images": {"b": {"base": "debian_slim", "python": "3.12"}},
            "functions": {"f": {"handler": "pkg.mod:process"}},
            **data,
        }
    try:
        toml = toml_dumps(data)
    except (TypeError, ValueError):
        toml = None
    if toml is not None and "nan" not in toml and "inf" not in toml:
        compile_text(project, "app.toml", toml)
    compile_text(project, "app.yaml", json.dumps(data, allow_nan=True))


SEEDS = [manifest_of(example).read_bytes() for example in examples()]


@FUZZ
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["delete", "insert", "replace", "duplicate"]),
            st.integers(0, 10_000),
            st.integers(1, 40),
            st.binary(min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_example_manifests(project: Path, seed: int, edits: list[tuple[str, int, int, bytes]]) -> None:
    text = bytearray(SEEDS[seed])
    for operation, position, length, payload in edits:
        position %= max(1, len(text))
        if operation == "delete":
            del text[position : position + length]
        elif operation == "insert":
            text[position:position] = payload
        elif operation == "replace":
            text[position : position + len(payload)] = payload
        else:
            text[position:position] = text[position : position + length]
    suffix = manifest_of(examples()[seed]).suffix
    compile_text(project, f"app{suffix}", bytes(text))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("[]{}=\"'#:-,.\n \tabc1_*&|>!%@`") + ["\x00", "é"]), max_size=200))
def test_arbitrary_text(project: Path, text: str) -> None:
    compile_text(project, "app.toml", text)
    compile_text(project, "app.yaml", text)


@FUZZ
@given(data=st.dictionaries(st.sampled_from(KEYS), manifest_like(), max_size=8))
def test_fast_validation_never_accepts_what_jsonschema_rejects(data: dict[str, Any]) -> None:
    base = {"version": 1, "app": {"name": "fuzz"}, "functions": {"f": {"handler": "pkg.mod:process"}}}
    assert_fast_path_agrees(data)
    assert_fast_path_agrees({**base, **data})
    for section in ("functions", "app"):
        assert_fast_path_agrees({**base, section: {**base[section], **data}})


def test_example_manifests_still_compile() -> None:
    """The seeds of the mutation fuzzer are valid to begin with."""
    for example in examples():
        assert compile_manifest(manifest_of(example)).ok
    assert EXAMPLES.is_dir()
