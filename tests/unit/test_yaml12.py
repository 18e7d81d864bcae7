"""YAML 1.2 core-schema meaning on top of libyaml's composer."""

from __future__ import annotations

import math

import pytest

from modalc.diagnostics import ManifestError
from modalc.load import parse_yaml


def load(text: str) -> dict:
    return parse_yaml(text, "app.yaml")[0]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("3.10", 3.1),
        ('"3.10"', "3.10"),
        ("!!str 3.10", "3.10"),
        ("no", "no"),
        ("yes", "yes"),
        ("off", "off"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("0o17", 15),
        ("0x1F", 31),
        ("017", 17),
        ("-12", -12),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("2024-05-01", "2024-05-01"),
        ("12:30", "12:30"),
        ("1_000", "1_000"),
        ("'single'", "single"),
        ("!!int 7", 7),
        ("!!float 1", 1.0),
    ],
)
def test_scalars_resolve_by_the_yaml_1_2_core_schema(written: str, value: object) -> None:
    assert load(f"x: {written}\n")["x"] == value


def test_special_floats() -> None:
    assert load("x: .inf\n")["x"] == math.inf and load("x: -.Inf\n")["x"] == -math.inf
    assert math.isnan(load("x: .nan\n")["x"])


def test_merge_keys_and_positions() -> None:
    data, spans = parse_yaml("base: &b\n  gpu: T4\n  timeout: 60\nf:\n  <<: *b\n  timeout: 90\n", "app.yaml")
    assert data["f"] == {"timeout": 90, "gpu": "T4"}
    assert spans[("f", "timeout")][:2] == (6, 3)
    assert spans[("base", "gpu")] == (2, 3, 2, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: !!binary aGk=\n", "YAML tag '!!binary' is not allowed in a manifest; write plain values"),
        ("a: !!int nope\n", "'nope' is not a valid !!int"),
        ("a: &x [1, *x]\n", "this alias refers to a value that contains it"),
        ("<<: 3\n", "a merge key (<<) takes a mapping or a list of mappings"),
    ],
)
def test_problems(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load(text)
    assert caught.value.diagnostics[0].message == message
