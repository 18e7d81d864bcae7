"""The work for one input. The entrypoint maps it over every line of the inputs, each call in a container."""

from __future__ import annotations


def process(item: dict) -> dict:
    text = str(item["text"])
    words = text.split()
    return {
        "id": item["id"],
        "words": len(words),
        "longest": max(words, key=len, default=""),
    }
