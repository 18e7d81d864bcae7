import functools

import modal


class Base:
    def warm(self) -> None:
        self.embed.local("warm-up")


class Embedder(Base):
    def __init__(self) -> None:
        self.score = modal.Function.from_name("scoring", "score")

    def embed(self, text: str) -> list[float]:
        return [float(len(text))]

    def score(self, texts: list[str]) -> float:
        return 0.0

    @functools.cached_property
    def ranker(self) -> modal.Cls:
        return modal.Cls.from_name("ranking", "Ranker")()

    def embed_all(self, texts: list[str]) -> list[list[float]]:
        # Not reported: an attribute, a method __init__ replaces, a property, a nested function's own self.
        self.cache.remote(texts)
        self.score.remote(texts)
        self.ranker.rank.remote(texts)

        def elsewhere(self: modal.Cls) -> None:
            self.embed.remote(texts)

        return list(self.embed.map(texts))
