"""`modalc init`: a new project from one of the starters shipped in `modalc/starters/`.

A starter is a directory: `app.toml` and `app.yaml` (the same manifest, one is written), a handler package named
`__PACKAGE__`, tests that call the handlers through the generated module with `.local()`, and any data the
manifest needs. `__APP_NAME__` and `__PACKAGE__` in paths and text are replaced; the manifest gets the schema's
header line; `.gitignore` lines, a pre-commit config and a `requirements-dev.txt` are added. Nothing here
writes: `render` returns files as data, `conflicts` says what already exists, the CLI writes.
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from . import __version__

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# name -> what it shows; the first is the default. tests/test_init.py checks this against the directories.
STARTERS = {
    "hello": "one function, the smallest app that deploys",
    "api": "two FastAPI web endpoints (GET and POST)",
    "batch": "a function fanned out over a JSONL file by an entrypoint (`modalc run`)",
    "whisper": "a Whisper transcription class on a GPU, weights cached on a volume",
}
DEFAULT_STARTER = next(iter(STARTERS))
FORMATS = ("toml", "yaml")
MANIFEST_NAMES = ("app.toml", "app.yaml", "app.yml")
APP_TOKEN = "__APP_NAME__"
PACKAGE_TOKEN = "__PACKAGE__"
HOOKS_REPO = "https://github.com/modalc/modalc"
KEPT_IF_PRESENT = (".pre-commit-config.yaml",)  # a project's own config: init shows the hooks to add instead

APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # the schema's modal_name
PACKAGE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Top-level names a handler package must not take: what the project or a starter's image already imports, and
# the directories init writes beside the package.
TAKEN = frozenset(
    {"modal", "modalc", "modalc_app", "tests", "test", "generated", "data", "fastapi", "pydantic", "starlette"}
    | {"whisper", "torch", "numpy", "pytest", "setup", "conftest"}
)

GITIGNORE = (
    "# Python and tools (generated/ is committed: reviewers read the code that is deployed)",
    "__pycache__/",
    "*.py[cod]",
    ".venv/",
    ".pytest_cache/",
)


class InitError(Exception):
    """A name or option the starters cannot use; the message says which, and why."""


class Project(NamedTuple):
    """Every file of a new project (paths relative to its directory), and the lines its .gitignore needs."""

    files: dict[str, str]
    gitignore: tuple[str, ...]
    manifest: str
    package: str
    app_name: str


def schema_url() -> str:
    """The published schema's URL, its `$id` (one per manifest `version`)."""
    from .validate import published_schema

    return str(published_schema()["$id"])


def manifest_header(manifest_format: str) -> str:
    """The first line editors read: taplo's `#:schema` directive, or yaml-language-server's modeline."""
    url = schema_url()
    return f"#:schema {url}\n" if manifest_format == "toml" else f"# yaml-language-server: $schema={url}\n"


def default_app_name(directory: Path) -> str:
    """The directory's name, as a Modal app name: lower case, other characters as '-'."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", directory.resolve().name.lower()).strip("-._")[:64].strip("-._")
    return name or "modal-app"


def default_package(app_name: str) -> str:
    """A Python package name from the app name, renamed when it would shadow something."""
    package = re.sub(r"[^a-z0-9]+", "_", app_name.lower()).strip("_") or "app"
    if package[0].isdigit():
        package = f"app{package}"
    candidates = (package, f"{package}_app", f"my_{package}")
    return next((c for c in candidates if package_problem(c) is None), "my_app")


def package_problem(package: str) -> str | None:
    """Why `package` cannot be the handler package, or None."""
    if not PACKAGE_NAME.match(package):
        return "use lower-case letters, digits and '_', starting with a letter"
    if keyword.iskeyword(package):
        return "it is a Python keyword"
    if package in sys.stdlib_module_names:
        return f"it would shadow the standard library's {package} module"
    if package in TAKEN:
        return "it would shadow a package the project or its image imports"
    if package.startswith("app_"):
        return "the generated modules are named app_<environment>"
    return None


def render(starter: str, manifest_format: str, app_name: str, package: str) -> Project:
    """The new project's files, from a starter, as text."""
    if starter not in STARTERS:
        raise InitError(f"no starter {starter!r}; choose one of {', '.join(STARTERS)}")
    if manifest_format not in FORMATS:
        raise InitError(f"no format {manifest_format!r}; choose toml or yaml")
    if not APP_NAME.match(app_name):
        raise InitError(
            f"{app_name!r} is not a Modal app name: use letters, digits, '_', '-' and '.' (at most 64 characters)"
        )
    if (problem := package_problem(package)) is not None:
        raise InitError(f"{package!r} cannot be the handler package: {problem}")
    manifest = f"app.{manifest_format}"
    files: dict[str, str] = {}
    for relative, text in _starter_files(starter):
        name = relative.name
        if name in MANIFEST_NAMES:
            if name != manifest:
                continue
            text = manifest_header(manifest_format) + text
        path = str(relative).replace(PACKAGE_TOKEN, package)
        files[path] = text.replace(APP_TOKEN, app_name).replace(PACKAGE_TOKEN, package)
    files[".pre-commit-config.yaml"] = pre_commit_config()
    files["requirements-dev.txt"] = requirements()
    extra = tuple(_starter_text(starter, "gitignore").splitlines()) if _has(starter, "gitignore") else ()
    return Project(dict(sorted(files.items())), GITIGNORE + extra, manifest, package, app_name)


def _starter_root(starter: str) -> Traversable:
    from importlib import resources

    return resources.files("modalc").joinpath("starters", starter)


def _has(starter: str, name: str) -> bool:
    return _starter_root(starter).joinpath(name).is_file()


def _starter_text(starter: str, name: str) -> str:
    return _starter_root(starter).joinpath(name).read_text(encoding="utf-8")


def _starter_files(starter: str) -> Iterator[tuple[PurePosixPath, str]]:
    """Every file of a starter but its `gitignore` lines, sorted, skipping caches a checkout may hold."""

    def walk(node: Traversable, prefix: PurePosixPath) -> Iterator[tuple[PurePosixPath, str]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name in ("__pycache__", ".pytest_cache") or child.name.endswith((".pyc", ".pyo")):
                continue
            if child.is_dir():
                yield from walk(child, prefix / child.name)
            elif not (prefix == PurePosixPath() and child.name == "gitignore"):
                yield prefix / child.name, child.read_text(encoding="utf-8")

    yield from walk(_starter_root(starter), PurePosixPath())


def pre_commit_config() -> str:
    return (
        "# pre-commit (https://pre-commit.com): `pip install pre-commit && pre-commit install` runs these on every\n"
        "# commit; `pre-commit run --all-files` runs them now.\n"
        "repos:\n"
        f"  - repo: {HOOKS_REPO}\n"
        f"    rev: v{__version__}\n"
        "    hooks:\n"
        "      - id: modalc-validate  # every manifest: schema, references, GPUs, schedules, handlers\n"
        "      - id: modalc-check  # generated/ is what the manifest compiles to (fix: modalc build)\n"
    )


def requirements() -> str:
    return (
        "# What development and CI install: `pip install -r requirements-dev.txt`.\n"
        f"modalc=={__version__}\n"
        "pytest>=8\n"
        "pre-commit>=3\n"
    )


def generated_paths(project: Project) -> list[str]:
    """The modules the first build writes: one per environment of the manifest."""
    from .paths import module_stem

    text = project.files[project.manifest]
    if project.manifest.endswith(".toml"):
        import tomllib

        data = tomllib.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    return [f"generated/{module_stem(name)}.py" for name in data.get("environments", {})]


def conflicts(directory: Path, project: Project) -> list[str]:
    """What init would create that already exists, sorted: its files, the first build's modules, and a manifest
    of any default name. Shared files (`KEPT_IF_PRESENT`) are not conflicts."""
    wanted = [*project.files, *generated_paths(project), *MANIFEST_NAMES]
    taken = {p for p in wanted if (directory / p).exists() or (directory / p).is_symlink()}
    return sorted(taken - set(kept(directory)))


def kept(directory: Path) -> list[str]:
    """Shared files that already exist, which init leaves as they are."""
    return [name for name in KEPT_IF_PRESENT if (directory / name).exists()]


def missing_gitignore_lines(directory: Path, project: Project) -> list[str]:
    path = directory / ".gitignore"
    present = set(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else set()
    return [line for line in project.gitignore if line not in present]
