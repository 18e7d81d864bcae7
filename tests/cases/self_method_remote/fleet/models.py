class Base:
    def warm(self) -> None:
        self.embed.local("warm-up")


class Embedder(Base):
    def embed(self, text: str) -> list[float]:
        return [float(len(text))]

    def embed_all(self, texts: list[str]) -> list[list[float]]:
        # self.cache is an attribute, not a method: not reported
        self.cache.remote(texts)
        return list(self.embed.map(texts))
