"""Synthetic modalc projects for the benchmark: a manifest of any size and the handler package it points at.

    write_project(directory, functions=750, classes=250, fmt="toml") -> directory / "app.toml"

The manifest is valid and builds with `modalc build` (no errors, no warnings). It declares:

- 4 images (debian_slim, each with apt, pip and env steps; those no handler uses are dropped in tiny projects),
- 3 volumes and 3 secrets (one secret for every function and class through `app.secrets`),
- functions: GPUs (single types, counts and fallback lists), FastAPI and ASGI web endpoints, cron and period
  schedules, concurrency, retries, autoscaling (min/max/buffer containers, scaledown window), env, volumes;
- classes: a constructor parameter, an enter hook (some also an exit hook), 2 or 3 methods, GPUs, autoscaling;
- two environments, dev and prod, that override the GPU and autoscaling of most functions and classes.

The handler package (`synth_app/`) has one module per ~100 handlers (at most 10, at least 1), each with the
referenced functions and classes plus unreferenced helpers, so handler resolution parses realistic files.

Standard library only; the same data is written as TOML or YAML (block style) by the small emitters below.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

PACKAGE = "synth_app"
MODULES_MAX = 10
HANDLERS_PER_MODULE = 100

IMAGES = {
    "base": {
        "apt": ["git", "curl", "ca-certificates"],
        "pip": ["numpy<2", "pydantic==2.10.4", "httpx==0.28.1", "orjson==3.10.12"],
        "env": {"APP_TIER": "base", "PYTHONUNBUFFERED": "1"},
    },
    "gpu": {
        "apt": ["ffmpeg", "libsndfile1"],
        "pip": ["torch==2.5.1", "transformers==4.47.1", "accelerate==1.2.1", "safetensors==0.4.5"],
        "env": {"HF_HOME": "/cache/hf", "TOKENIZERS_PARALLELISM": "false"},
    },
    "web": {
        "apt": ["curl"],
        "pip": ["fastapi[standard]==0.115.6", "uvicorn==0.34.0", "jinja2==3.1.5"],
        "env": {"APP_TIER": "web"},
    },
    "etl": {
        "apt": ["postgresql-client", "unzip"],
        "pip": ["pandas==2.2.3", "pyarrow==18.1.0", "duckdb==1.1.3", "sqlalchemy==2.0.36"],
        "env": {"APP_TIER": "etl", "TZ": "UTC"},
    },
}
VOLUMES = {"models": "/models", "data": "/data", "cache": "/cache"}
SECRETS = {"common": ["API_KEY"], "hf": ["HF_TOKEN"], "warehouse": ["WAREHOUSE_URL", "WAREHOUSE_USER"]}
GPU_CHOICES = ["T4", "L4", "A10G", "A100", "H100:2", ["H100", "A100-80GB"], ["L40S", "A10G", "L4"], "A100-40GB:4"]
KIND_IMAGES = {"gpu": "gpu", "plain": "base", "fastapi": "web", "asgi": "web", "cron": "etl", "period": "etl"}
DEV_GPUS = ["T4", "any", "L4"]
PROD_GPUS = [["H100", "A100-80GB"], ["A100-80GB", "A100"], ["L40S", "L4"], "H100:2"]


def split(total: int) -> tuple[int, int]:
    """Functions and classes for a project of `total` handlers, about 3:1 (a single handler is a function)."""
    classes = total // 4
    return total - classes, classes


# --- the data -----------------------------------------------------------------------------------------


def _function_kinds(functions: int) -> list[str]:
    """What each function is: plain, gpu, web (fastapi/asgi), cron or period schedule."""
    kinds = []
    for i in range(functions):
        r = i % 10
        kinds.append({1: "fastapi", 2: "cron", 5: "asgi", 7: "period"}.get(r, "gpu" if r in (0, 3, 6, 8) else "plain"))
    if functions:
        kinds[0] = "gpu"  # a 1-handler project is a GPU function
    return kinds


def edited_function(data: dict[str, Any]) -> str:
    """A function near the middle of `manifest_data` whose max_containers no environment overrides, so an edit of
    it reaches every generated module (in a project too small to have one, the middle function)."""
    overridden = {
        name
        for environment in data["environments"].values()
        for name, spec in environment["functions"].items()
        if "max_containers" in spec
    }
    names = list(data["functions"])
    middle = len(names) // 2
    for name in names[middle:] + names[:middle]:
        if "max_containers" in data["functions"][name] and name not in overridden:
            return name
    return names[middle]


def _modules(total: int) -> int:
    return max(1, min(MODULES_MAX, math.ceil(total / HANDLERS_PER_MODULE)))


def manifest_data(functions: int, classes: int, name: str = "synthetic") -> dict[str, Any]:
    total = functions + classes
    if total < 1:
        raise ValueError("a project needs at least one function or class")
    modules = _modules(total)
    data: dict[str, Any] = {
        "version": 1,
        "app": {
            "name": f"{name}-{total}",
            "image": "base",
            "tags": {"team": "benchmarks", "size": str(total)},
            "secrets": ["common"],
        },
        "images": {},
        "volumes": {},
        "secrets": {},
        "functions": {},
        "classes": {},
        "environments": {
            "dev": {"modal_environment": "dev", "functions": {}, "classes": {}},
            "prod": {"modal_environment": "prod", "protected": True, "functions": {}, "classes": {}},
        },
    }
    for alias, spec in IMAGES.items():
        data["images"][alias] = {
            "base": "debian_slim",
            "python": "3.12",
            "steps": [{"apt": spec["apt"]}, {"pip": spec["pip"]}, {"env": spec["env"]}],
        }
    for alias in VOLUMES:
        data["volumes"][alias] = {"name": f"{name}-{alias}", "create_if_missing": True}
    for alias, keys in SECRETS.items():
        data["secrets"][alias] = {"name": f"{name}-{alias}", "required_keys": keys}

    dev, prod = data["environments"]["dev"], data["environments"]["prod"]
    for i, kind in enumerate(_function_kinds(functions)):
        fname = f"fn_{i:04d}"
        spec: dict[str, Any] = {"handler": f"{PACKAGE}.mod_{i % modules:02d}:{fname}"}
        image = KIND_IMAGES[kind]
        if image != data["app"]["image"]:
            spec["image"] = image
        if i == 0:  # uses every volume and secret, so small projects declare nothing unused
            spec["volumes"] = {path: alias for alias, path in VOLUMES.items()}
            spec["secrets"] = [s for s in SECRETS if s != "common"]
        else:
            alias = list(VOLUMES)[i % len(VOLUMES)]
            spec["volumes"] = {VOLUMES[alias]: {"volume": alias, "read_only": True} if i % 2 else alias}
            if i % 3 == 0:
                spec["secrets"] = [list(SECRETS)[1 + i % 2]]
        if kind == "gpu":
            spec["gpu"] = GPU_CHOICES[i % len(GPU_CHOICES)]
            spec["timeout"] = 600 + i % 7 * 60
            spec["retries"] = (
                {"max_retries": 3, "backoff_coefficient": 2.0, "initial_delay": 1.0, "max_delay": 30.0} if i % 2 else 2
            )
            spec["scaledown_window"] = 120
        elif kind == "plain":
            spec["cpu"] = [1.0, 4.0] if i % 2 else 2.0
            spec["memory"] = 2048 + (i % 4) * 1024
            spec["concurrency"] = {"max_inputs": 16, "target_inputs": 8}
            spec["env"] = {"WORKER_INDEX": str(i), "LOG_LEVEL": "info"}
        elif kind == "fastapi":
            spec["web"] = {
                "type": "fastapi",
                "method": "POST" if i % 4 == 1 else "GET",
                "label": f"{name}-{i:04d}",
                "docs": i % 3 == 0,
            }
            spec["concurrency"] = {"max_inputs": 32, "target_inputs": 16}
        elif kind == "asgi":
            spec["web"] = {"type": "asgi", "label": f"{name}-asgi-{i:04d}", "requires_proxy_auth": True}
            spec["concurrency"] = {"max_inputs": 100}
        elif kind == "cron":
            spec["schedule"] = {"cron": f"{i % 60} {i % 24} * * *", "timezone": "Europe/Berlin"}
            spec["timeout"] = 3600
            spec["retries"] = 1
        elif kind == "period":
            spec["schedule"] = {"period": {"hours": 1 + i % 12}}
        if kind not in ("cron", "period"):
            spec["min_containers"] = 0
            spec["max_containers"] = 10 + i % 50
            spec["buffer_containers"] = i % 3
        data["functions"][fname] = spec
        # environments: dev scales down and uses cheap GPUs, prod scales up with fallbacks
        if kind == "gpu":
            dev["functions"][fname] = {"gpu": DEV_GPUS[i % len(DEV_GPUS)], "max_containers": 2, "buffer_containers": 0}
            prod["functions"][fname] = {
                "gpu": PROD_GPUS[i % len(PROD_GPUS)],
                "min_containers": 1,
                "max_containers": 100 + i % 100,
                "buffer_containers": 2,
            }
        elif kind in ("cron", "period"):
            dev["functions"][fname] = {"schedule": False}
        elif i % 4 != 3:  # many, not all, of the others
            dev["functions"][fname] = {"max_containers": 1, "min_containers": 0, "buffer_containers": 0}
            prod["functions"][fname] = {"min_containers": 2, "max_containers": 200, "scaledown_window": 300}

    for j in range(classes):
        cname = f"Model{j:04d}"
        spec = {
            "handler": f"{PACKAGE}.mod_{j % modules:02d}:{cname}",
            "gpu": GPU_CHOICES[(j + 3) % len(GPU_CHOICES)],
            "timeout": 900,
            "volumes": {"/models": {"volume": "models", "sub_path": f"m{j % 5}"}, "/cache": "cache"},
            "parameters": {"model_name": {"type": "str", "default": f"model-{j}"}},
            "enter": ["load"],
            "methods": ["predict", "embed"] + (["health"] if j % 3 == 0 else []),
            "scaledown_window": 300,
            "max_containers": 20,
        }
        spec["image"] = "gpu"
        if j % 2:
            spec["exit"] = ["close"]
        if j % 4 == 1:
            spec["concurrency"] = {"max_inputs": 4, "target_inputs": 2}
        data["classes"][cname] = spec
        dev["classes"][cname] = {
            "gpu": DEV_GPUS[j % len(DEV_GPUS)],
            "max_containers": 1,
            "parameters": {"model_name": {"type": "str", "default": "tiny"}},
        }
        prod["classes"][cname] = {
            "gpu": PROD_GPUS[j % len(PROD_GPUS)],
            "min_containers": 1,
            "max_containers": 50,
            "buffer_containers": 1,
        }

    _prune_unused(data)
    for section in ("functions", "classes"):
        for env in (dev, prod):
            if not env[section]:
                del env[section]
        if not data[section]:
            del data[section]
    return data


def _prune_unused(data: dict[str, Any]) -> None:
    """Drop images, volumes and secrets no function or class uses (tiny projects), so nothing warns."""
    handlers = [*data["functions"].values(), *data["classes"].values()]
    used_images = {data["app"]["image"], *(h["image"] for h in handlers if "image" in h)}
    used_volumes = {m if isinstance(m, str) else m["volume"] for h in handlers for m in h.get("volumes", {}).values()}
    used_secrets = {*data["app"]["secrets"], *(s for h in handlers for s in h.get("secrets", []))}
    for section, used in (("images", used_images), ("volumes", used_volumes), ("secrets", used_secrets)):
        data[section] = {alias: spec for alias, spec in data[section].items() if alias in used}


# --- the handler package ------------------------------------------------------------------------------


def _function_source(name: str, kind: str, i: int) -> str:
    if kind in ("cron", "period"):
        return (
            f"def {name}(limit: int = {i % 100}, dry_run: bool = False) -> int:\n"
            f'    """Scheduled job {i}."""\n'
            f"    total = 0\n"
            f"    for step in range(limit):\n"
            f"        total += _helper_{i % 7}(step)\n"
            f"    return 0 if dry_run else total\n"
        )
    if kind == "asgi":
        return (
            f"def {name}():\n"
            f'    """ASGI app factory {i}."""\n'
            f"    from fastapi import FastAPI\n\n"
            f"    app = FastAPI(title={name!r})\n\n"
            f'    @app.get("/health")\n'
            f"    def health() -> dict:\n"
            f'        return {{"ok": True}}\n\n'
            f"    return app\n"
        )
    if kind == "fastapi":
        return (
            f'def {name}(text: str = "", limit: int = 10, tags: list[str] | None = None) -> dict:\n'
            f'    """Web endpoint {i}."""\n'
            f'    return {{"text": text[:limit], "tags": tags or [], "n": {i}}}\n'
        )
    if kind == "gpu":
        return (
            f'def {name}(batch: list[float], scale: float = 1.0, *, device: str = "cuda") -> list[float]:\n'
            f'    """GPU function {i}."""\n'
            f"    import torch\n\n"
            f"    tensor = torch.tensor(batch, device=device) * scale\n"
            f"    return tensor.tolist()\n"
        )
    return (
        f"def {name}(record: dict, options: Options | None = None, retries: int = {i % 5}) -> Result:\n"
        f'    """Plain function {i}."""\n'
        f"    value = _helper_{i % 7}(len(record))\n"
        f'    return Result(ok=True, value=value, note=(options.note if options else ""))\n'
    )


def _class_source(name: str, j: int) -> str:
    return (
        f"class {name}(_Base):\n"
        f'    """Model server {j}."""\n\n'
        f'    def __init__(self, *, model_name: str = "model-{j}") -> None:\n'
        f"        self.model_name = model_name\n"
        f"        self.model = None\n\n"
        f"    def load(self) -> None:\n"
        f"        import torch\n\n"
        f"        self.model = torch.nn.Linear({8 + j % 8}, 1)\n\n"
        f"    def close(self) -> None:\n"
        f"        self.model = None\n\n"
        f"    def predict(self, x: list[float], threshold: float = 0.5) -> float:\n"
        f"        import torch\n\n"
        f"        return float(self.model(torch.tensor(x)).item() > threshold)\n\n"
        f"    def embed(self, texts: list[str], normalize: bool = True) -> list[list[float]]:\n"
        f"        return [[float(len(t))] for t in texts]\n\n"
        f"    def _private_{j}(self, value: int) -> int:\n"
        f"        return value * {j + 1}\n"
    )


MODULE_HEADER = '''"""Synthetic handlers, module {index} of {count} (generated by benchmarks/synthetic.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    note: str = ""
    strict: bool = False


@dataclass
class Result:
    ok: bool
    value: int
    note: str = ""


class _Base:
    def health(self) -> dict:
        return {{"ok": True, "name": type(self).__name__}}

    def describe(self, verbose: bool = False) -> str:
        return type(self).__name__ if not verbose else repr(self)

'''


def _helpers() -> str:
    return "".join(
        f"\ndef _helper_{k}(value: int, factor: int = {k + 1}) -> int:\n    return (value * factor) % {97 + k}\n\n"
        for k in range(7)
    )


def handler_modules(functions: int, classes: int) -> dict[str, str]:
    """{relative path: source} of the handler package."""
    total = functions + classes
    count = _modules(total)
    bodies: list[list[str]] = [[] for _ in range(count)]
    for i, kind in enumerate(_function_kinds(functions)):
        bodies[i % count].append(_function_source(f"fn_{i:04d}", kind, i))
    for j in range(classes):
        bodies[j % count].append(_class_source(f"Model{j:04d}", j))
    files = {f"{PACKAGE}/__init__.py": '"""Synthetic handler package for the modalc benchmark."""\n'}
    for index, parts in enumerate(bodies):
        source = MODULE_HEADER.format(index=index, count=count) + _helpers() + "\n\n".join(parts)
        files[f"{PACKAGE}/mod_{index:02d}.py"] = source
    return files


# --- emitters -----------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _scalar(value: Any) -> str:
    """A scalar both TOML and (flow) YAML read the same way: JSON's spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"unsupported scalar {value!r}")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_inline(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_toml_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    return _scalar(value)


def to_toml(data: dict[str, Any]) -> str:
    lines = ["# Synthetic manifest (benchmarks/synthetic.py)"]
    lines += [f"{_key(k)} = {_toml_inline(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, body in data.items():
        if not isinstance(body, dict):
            continue
        if section == "app":
            lines += ["", "[app]"] + [f"{_key(k)} = {_toml_inline(v)}" for k, v in body.items()]
            continue
        for name, spec in body.items():
            lines += ["", f"[{_key(section)}.{_key(name)}]"]
            for key, value in spec.items():
                if section == "environments" and isinstance(value, dict) and key in ("functions", "classes"):
                    # dotted keys, one override per line, as the examples write them
                    lines += [f"{key}.{_key(n)} = {_toml_inline(v)}" for n, v in value.items()]
                elif key == "steps":
                    lines.append("steps = [")
                    lines += [f"  {_toml_inline(step)}," for step in value]
                    lines.append("]")
                else:
                    lines.append(f"{_key(key)} = {_toml_inline(value)}")
    return "\n".join(lines) + "\n"


def _yaml_flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    return _scalar(value)


def _yaml_block(value: Any, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for key, item in value.items():
        nested = isinstance(item, dict) and any(isinstance(v, (dict, list)) for v in item.values())
        if isinstance(item, dict) and item and (nested or len(item) > 3):
            lines.append(f"{pad}{_key(key)}:")
            _yaml_block(item, indent + 1, lines)
        elif isinstance(item, list) and item and all(isinstance(v, dict) for v in item):
            lines.append(f"{pad}{_key(key)}:")
            for entry in item:
                first = True
                for k, v in entry.items():
                    lead = "- " if first else "  "
                    lines.append(f"{pad}  {lead}{_key(k)}: {_yaml_flow(v)}")
                    first = False
        else:
            lines.append(f"{pad}{_key(key)}: {_yaml_flow(item)}")


def to_yaml(data: dict[str, Any]) -> str:
    lines = ["# Synthetic manifest (benchmarks/synthetic.py)"]
    _yaml_block(data, 0, lines)
    return "\n".join(lines) + "\n"


# --- the project --------------------------------------------------------------------------------------


def write_project(directory: str | Path, functions: int, classes: int, fmt: str = "toml") -> Path:
    """Write the manifest (app.toml or app.yaml) and the handler package into `directory`; return the manifest."""
    if fmt not in ("toml", "yaml"):
        raise ValueError(f"fmt must be 'toml' or 'yaml', not {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = manifest_data(functions, classes)
    manifest = directory / f"app.{fmt}"
    manifest.write_text(to_toml(data) if fmt == "toml" else to_yaml(data), encoding="utf-8")
    for relative, source in handler_modules(functions, classes).items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Write a synthetic modalc project.")
    parser.add_argument("directory")
    parser.add_argument("--size", type=int, default=100, help="functions + classes (split 3:1)")
    parser.add_argument("--format", choices=("toml", "yaml"), default="toml")
    args = parser.parse_args(argv)
    functions, classes = split(args.size)
    print(write_project(args.directory, functions, classes, args.format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
