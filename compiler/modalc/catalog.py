"""Modal's names that the compiler checks against: GPU types and Python versions, read from data files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .diagnostics import did_you_mean


@dataclass(frozen=True)
class GpuType:
    name: str
    max_count: int
    memory_gb: int | None
    usd_per_hour: float | None


@cache
def _data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("modalc").joinpath("data", name).read_text(encoding="utf-8"))
    return data


@cache
def gpu_types() -> dict[str, GpuType]:
    """GPU types by their case-folded name."""
    return {
        entry["name"].casefold(): GpuType(entry["name"], entry["max_count"], entry["memory_gb"], entry["usd_per_hour"])
        for entry in _data("gpus.json")["gpus"]
    }


_GPU = re.compile(r"^(?P<type>[^:\s]+)(?::(?P<count>[^:]*))?$")


def parse_gpu(text: str) -> tuple[str | None, str | None]:
    """`TYPE[:COUNT]` -> (canonical spelling, None) or (None, message)."""
    match = _GPU.match(text.strip())
    if not match:
        return None, f"{text!r} is not a GPU: write TYPE or TYPE:COUNT, e.g. 'H100' or 'A100-80GB:2'"
    types = gpu_types()
    gpu = types.get(match.group("type").casefold())
    if gpu is None:
        typed = match.group("type")
        # Letter O for digit 0 ("H1OO") is the classic GPU typo; difflib alone rates it too far off.
        suggestion = did_you_mean(typed, [g.name for g in types.values()]) or did_you_mean(
            typed.replace("O", "0").replace("o", "0"), [g.name for g in types.values()]
        )
        message = f"unknown GPU type {match.group('type')!r}"
        if suggestion:
            message += f"; did you mean {suggestion!r}?"
        else:
            message += f"; Modal offers {', '.join(g.name for g in types.values())}"
        return None, message
    count_text = match.group("count")
    if count_text is None:
        return gpu.name, None
    if not count_text:
        return None, f"{text!r} has no count after ':'; write {gpu.name!r} or '{gpu.name}:2'"
    if not re.fullmatch(r"[+-]?\d+", count_text):
        return None, f"GPU count {count_text!r} is not a whole number"
    count = int(count_text)
    if not 1 <= count <= gpu.max_count:
        return None, f"{gpu.name} allows 1 to {gpu.max_count} GPUs per container, not {count}"
    return (gpu.name if count == 1 else f"{gpu.name}:{count}"), None


@cache
def python_versions() -> tuple[tuple[str, ...], dict[str, str]]:
    data = _data("python_versions.json")
    return tuple(data["supported"]), dict(data["deprecated"])
