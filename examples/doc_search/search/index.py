"""The index: embeds the corpus through the batched Embedder and keeps the vectors in the `vectors` Dict."""

import modalc_app

CORPUS = [
    "Modal runs Python functions on GPUs in the cloud.",
    "An image is built once and cached layer by layer.",
    "Volumes keep model weights between containers.",
    "A web endpoint answers HTTP requests with a function.",
]


def build_index() -> int:
    vectors = list(modalc_app.Embedder().embed.map(CORPUS))
    for document, vector in zip(CORPUS, vectors, strict=True):
        modalc_app.DICTS["vectors"][document] = vector
    return len(vectors)


def query(q: str, k: int = 2) -> list[dict[str, object]]:
    (target,) = modalc_app.Embedder().embed.map([q])
    scored = [
        {"document": document, "score": sum(a * b for a, b in zip(vector, target, strict=True))}
        for document, vector in modalc_app.DICTS["vectors"].items()
    ]
    return sorted(scored, key=lambda hit: -hit["score"])[:k]
