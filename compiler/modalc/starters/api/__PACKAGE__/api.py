"""Web endpoints: FastAPI reads the parameters (a query string for GET, a JSON body for a `dict`) and returns the
result as JSON. The functions are plain Python, so tests call them without a server."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def greet(name: str = "world") -> dict:
    return {"message": f"Hello, {name}!"}


def word_stats(body: dict) -> dict:
    text = str(body.get("text", ""))
    words = [w.lower() for w in WORD.findall(text)]
    return {
        "words": len(words),
        "unique": len(set(words)),
        "top": [word for word, _ in Counter(words).most_common(3)],
    }
