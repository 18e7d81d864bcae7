"""The repository's published files agree with what the package ships."""

from __future__ import annotations

import json

from helpers import REPO
from modalc.schema_source.generate import COMMAND, SCHEMA_FILES


def test_the_published_schemas_are_the_packaged_one() -> None:
    packaged = REPO / "compiler" / "modalc" / "schemas" / "manifest.schema.json"
    assert "compiler/modalc/schemas/manifest.schema.json" in SCHEMA_FILES
    for path in SCHEMA_FILES:
        published = REPO / path
        assert published.read_bytes() == packaged.read_bytes(), f"{path} differs; run {COMMAND}"


def test_the_latest_schema_is_published_at_the_path_its_id_names() -> None:
    schema = json.loads((REPO / "schemas" / "manifest.schema.json").read_text())
    path = schema["$id"].removeprefix("https://modalc.dev/")
    assert path.startswith("schemas/v") and (REPO / path).is_file()
