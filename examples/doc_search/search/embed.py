"""Sentence embeddings, batched: Modal hands `embed` up to 32 sentences per call."""

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder:
    def load(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:  # offline, on modalc's local control plane: embed() uses a stand-in
            self.model = None
            return
        self.model = SentenceTransformer(MODEL)

    def embed(self, sentences: list[str]) -> list[list[float]]:
        if self.model is None:
            return [_stand_in(sentence) for sentence in sentences]
        return self.model.encode(sentences, normalize_embeddings=True).tolist()


def _stand_in(sentence: str) -> list[float]:
    """A tiny deterministic vector: letter frequencies of a-e, normalized."""
    counts = [sentence.lower().count(letter) for letter in "abcde"]
    norm = sum(c * c for c in counts) ** 0.5 or 1.0
    return [c / norm for c in counts]
