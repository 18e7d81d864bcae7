"""Runs once, in Modal's image builder: the model's files land in HF_HOME, inside the image."""


def fetch(model: str) -> None:
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(model)
