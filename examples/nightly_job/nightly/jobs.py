"""Nightly maintenance of a search index kept on a Modal volume."""

from __future__ import annotations

import os
import pathlib


def reindex(limit: int | None = None) -> int:
    import faiss
    import numpy as np

    vectors = np.random.default_rng(0).random((limit or 1000, 64), dtype="float32")
    index = faiss.IndexFlatL2(64)
    index.add(vectors)
    target = pathlib.Path(os.environ.get("INDEX_PATH", "/index/current"))
    target.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(target))
    return index.ntotal


def compact() -> None:
    for path in pathlib.Path("/index").glob("*.tmp"):
        path.unlink()
