"""The repository's published files agree with what the package ships."""

from __future__ import annotations

from helpers import REPO


def test_the_published_schema_is_the_packaged_one() -> None:
    published = REPO / "schemas" / "manifest.schema.json"
    packaged = REPO / "compiler" / "modalc" / "schemas" / "manifest.schema.json"
    assert published.read_bytes() == packaged.read_bytes(), "run `make schema`"
