"""Shared test helpers: run the CLI in-process, import generated modules, compare goldens."""

from __future__ import annotations

import contextlib
import copy
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CASES = REPO / "tests" / "cases"
REGENERATE = "make goldens"


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], cwd: Path) -> CliResult:
    """Run `modalc ARGS` in-process in `cwd`, capturing output and the exit code."""
    from modalc.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(list(args))
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(previous)
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def manifest_of(directory: Path) -> Path:
    for name in ("app.toml", "app.yaml", "app.yml"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no manifest in {directory}")


def examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


@contextlib.contextmanager
def modal_environment(name: str) -> Iterator[None]:
    """Select a Modal environment the way `--env` does (the generated modules check it on import)."""
    previous = os.environ.get("MODAL_ENVIRONMENT")
    os.environ["MODAL_ENVIRONMENT"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MODAL_ENVIRONMENT", None)
        else:
            os.environ["MODAL_ENVIRONMENT"] = previous


def import_module_from(path: Path, modal_env: str, user_packages: Sequence[str] = ()) -> ModuleType:
    """Import a generated module by path with the real `modal`, forgetting any earlier user packages."""
    from modalc.prepare import import_module

    with modal_environment(modal_env):
        return import_module(path, user_packages)


def assert_golden(path: Path, actual: str, update: bool) -> None:
    """Compare with a committed golden file, or rewrite it under --update-goldens."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8") if path.exists() else None
    if expected != actual:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                (expected or "").splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"{path.relative_to(REPO)} (committed)",
                tofile="(now)",
            )
        )
        raise AssertionError(
            f"golden mismatch: {path.relative_to(REPO)}\n{diff[:6000]}\nIf the change is intended, regenerate with:\n"
            f"    {REGENERATE}\nand read the diff before committing."
        )


# --- expectations read straight from a manifest (independent of modalc's own merge) ---------------


def merged_manifest(data: dict[str, Any], environment: str) -> dict[str, Any]:
    def merge(base: Any, overlay: Any) -> Any:
        if isinstance(base, dict) and isinstance(overlay, dict):
            out = dict(base)
            for key, value in overlay.items():
                out[key] = merge(base.get(key), value)
            return out
        return copy.deepcopy(overlay)

    result = {k: copy.deepcopy(v) for k, v in data.items() if k != "environments"}
    overlay = data["environments"][environment]
    for key, value in overlay.items():
        if key not in ("modal_environment", "protected"):
            result[key] = merge(result.get(key), value)
    return result


def user_packages(manifest: dict[str, Any]) -> list[str]:
    specs = [*manifest.get("functions", {}).values(), *manifest.get("classes", {}).values()]
    return sorted({s["handler"].split(".")[0].split(":")[0] for s in specs})


def owner_app(manifest: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The app table a function or class belongs to ([app], or [apps.X] with `app = "X"`)."""
    return manifest["apps"][spec["app"]] if spec.get("app") else manifest["app"]


def image_alias(manifest: dict[str, Any], spec: dict[str, Any]) -> str:
    return spec.get("image", owner_app(manifest, spec).get("image"))


def expected_steps(manifest: dict[str, Any], alias: str) -> list[dict[str, Any]]:
    """An image's steps up its `from` chain, as Modal builds them: a run_function step's package is copied in
    before it unless an earlier step copies it already."""
    image = manifest["images"][alias]
    steps = expected_steps(manifest, image["from"]) if "from" in image else []
    for step in image.get("steps", []):
        if "run_function" in step:
            package = step["run_function"].split(":")[0].split(".")[0]
            if package not in copied_packages(steps):
                steps.append({"python_source": [package], "copy": True})
        steps.append(step)
    return steps


def copied_packages(steps: list[dict[str, Any]]) -> list[str]:
    """The packages copied into an image by its steps (`python_source` with `copy`)."""
    return [m.split(".")[0] for s in steps if s.get("copy") for m in s.get("python_source", [])]


def root_image(manifest: dict[str, Any], alias: str) -> dict[str, Any]:
    image = manifest["images"][alias]
    return root_image(manifest, image["from"]) if "from" in image else image


def base_command(image: dict[str, Any]) -> str:
    """The start of the first command of an image's base layer."""
    if image["base"] == "registry":
        return "FROM " + image["tag"]
    return "FROM python:" + image["python"]


def expected_mounts(manifest: dict[str, Any], spec: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    mounts = {**owner_app(manifest, spec).get("volumes", {}), **spec.get("volumes", {})}
    out = {}
    for path, value in mounts.items():
        value = {"volume": value} if isinstance(value, str) else value
        volume = manifest["volumes"][value["volume"]]
        read_only = value.get("read_only", volume.get("read_only", False))
        out[path] = (volume.get("name", value["volume"]), read_only)
    return out


def expected_gpu(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def assert_step_layer(step: dict[str, Any], commands: list[str]) -> None:
    """One manifest image step against the Dockerfile commands of its layer."""
    text = "\n".join(commands)
    if "apt" in step:
        assert "apt-get install" in text and all(p in text for p in step["apt"]), text
    elif "pip" in step:
        assert "pip install" in text and all(p.split("[")[0] in text for p in step["pip"]), text
        if "index_url" in step:
            assert f"--index-url {step['index_url']}" in text
    elif "uv_pip" in step:
        assert "uv pip install" in text and all(p in text for p in step["uv_pip"]), text
        if "extra_index_url" in step:
            assert f"--extra-index-url {step['extra_index_url']}" in text
    elif "run" in step:
        assert all(f"RUN {c}" in text for c in step["run"]), text
    elif "workdir" in step:
        assert f"WORKDIR {step['workdir']}" in text, text
    elif any(kind in step for kind in ("entrypoint", "cmd", "shell")):
        kind = next(k for k in ("entrypoint", "cmd", "shell") if k in step)
        import json

        assert f"{kind.upper()} {json.dumps(step[kind])}" in commands, commands
    elif "dockerfile_commands" in step:
        assert all(command in commands for command in step["dockerfile_commands"]), commands
    elif "run_function" in step:
        assert [c for c in commands if not c.startswith("FROM ")] == [], commands  # a build function's layer
    elif "python_source" in step and step.get("copy"):
        assert "COPY . /" in text, text
    elif "env" in step:  # last: the other steps take `env` as their build's variables
        assert all(f"ENV {k}=" in text for k in step["env"]), text


def toml_dumps(data: dict[str, Any]) -> str:
    """A small TOML writer for generated test manifests: top-level tables, everything else inline."""
    import json
    import re

    def key(name: str) -> str:
        return name if re.match(r"^[A-Za-z0-9_-]+$", name) else string(name)

    def string(text: str) -> str:
        return json.dumps(text, ensure_ascii=True).replace("\x7f", "\\u007f")

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return repr(item)
        if isinstance(item, str):
            return string(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + " }"
        raise TypeError(type(item))

    lines = [f"{key(k)} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{key(name)}]")
            lines += [f"{key(k)} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
