"""What a deploy ships, and the digest that proves two deploys ship the same thing.

`modalc deploy` skips a deploy only when the deployed app carries this digest. So it covers everything the
`modal` client uploads or builds from the deployer's disk, not only the generated module: the packages the
handlers live in (as `add_local_python_source` selects them), every file `add_local_file`/`add_local_dir`
copy (minus their `ignore` patterns), requirements and pyproject files, a Dockerfile and the files its
COPY commands take from the build context, and the `modal` client version (it ships its own mount).

File selection follows the SDK's own rules; `tests/test_shipped.py` checks it against the files the real
client uploads to the local control plane.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import compat, ir

DIGEST_LENGTH = 16  # Modal tag values are limited to 63 characters


def _python_package_files(root: Path, module: str) -> Iterator[Path]:
    """The files `add_local_python_source(module)` ships: .py files, no dot-prefixed or __pycache__ parts."""
    base = root.joinpath(*module.split("."))
    if base.is_dir():
        for directory, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py") and not name.startswith("."):
                    yield Path(directory) / name
    elif base.with_suffix(".py").is_file():
        yield base.with_suffix(".py")


def _directory_files(directory: Path, ignore: list[str]) -> Iterator[Path]:
    matcher = compat.ignore_matcher(ignore)
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            if not matcher(path.relative_to(directory)):
                yield path


def shipped_files(app: ir.App, project_dir: Path) -> list[Path]:
    """Every local file a deploy of `app` reads, sorted; the generated module itself aside."""
    source_root = (project_dir / app.source.source_dir).resolve()
    found: set[Path] = set()
    for image in app.images:
        if image.local_path is not None:
            dockerfile = project_dir / image.local_path
            found.add(dockerfile)
            context = project_dir / (image.context_dir if image.context_dir is not None else ".")
            found.update(compat.dockerfile_context_files(dockerfile, context))
        for step in image.steps:
            if step.kind == "add_local_python_source":
                for module in step.args:
                    found.update(_python_package_files(source_root, str(module)))
            elif step.kind == "add_local_dir" and step.local_path is not None:
                ignore = dict(step.kwargs).get("ignore", [])
                found.update(_directory_files(project_dir / step.local_path, list(ignore)))  # type: ignore[call-overload]
            elif step.local_path is not None:
                found.add(project_dir / step.local_path)
    return sorted(path.resolve() for path in found)


def module_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def deploy_digest(module_source: str, files: Iterable[Path], project_dir: Path) -> str:
    """sha256 over the module, each shipped file (by its project-relative path) and the client version."""
    digest = hashlib.sha256()
    digest.update(f"modal {compat.client_version()}\0".encode())
    digest.update(module_source.encode("utf-8") + b"\0")
    for path in files:
        try:
            name = path.relative_to(project_dir).as_posix()
        except ValueError:
            name = str(path)
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:DIGEST_LENGTH]
