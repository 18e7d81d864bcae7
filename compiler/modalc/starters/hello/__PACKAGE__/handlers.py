"""Handlers are plain Python: nothing here imports modal, so they are as easy to test as any function."""

from __future__ import annotations


def hello(name: str = "world") -> str:
    return f"Hello, {name}!"
