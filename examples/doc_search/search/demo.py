"""Runs on your machine (`modalc run app.yaml ask --env dev --question "..."`) while the app runs: indexes the
corpus remotely, embeds the question on the GPU, ranks the documents here."""

import sys

import modalc_app


def ask(question: str, k: int = 2) -> list[str]:
    indexed = modalc_app.build_index.remote()
    print(f"indexed {indexed} documents", file=sys.stderr)
    (target,) = modalc_app.Embedder().embed.map([question])
    scores = {
        document: sum(a * b for a, b in zip(vector, target, strict=True))
        for document, vector in modalc_app.DICTS["vectors"].items()
    }
    return sorted(scores, key=lambda document: -scores[document])[:k]
