"""Per-item work for the batch job: each call handles one input on its own GPU container."""

from __future__ import annotations

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def embed_one(item: str) -> dict:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(MODEL, device="cuda")
    return {"item": item, "embedding": model.encode(item).tolist()}


def score_pair(left: str, right: str, scale: float = 1.0) -> float:
    shared = set(left.lower().split()) & set(right.lower().split())
    return scale * len(shared) / max(1, len(set(left.split()) | set(right.split())))
