"""Rules the `modal` SDK enforces only when a module is imported or deployed, checked at the manifest's line.

Most of the SDK's construction-time rules are in the schema (ranges, name patterns) or beside the noun they
concern (`storage`: bucket prefixes, Requester Pays, volume names). These are the ones that need the whole
image: what an image step's packages may look like, and what a pyproject file must hold for
`pip_install_from_pyproject`, which the SDK reads while it builds the image (a ValueError or KeyError there
used to surface from `modalc plan` as an internal error). `tests/test_sdk_rules.py` holds the audit.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import ir, observe
from .session import Session

_PACKAGE_KEYS = {"pip_install": "pip", "uv_pip_install": "uv_pip"}


def check_images(s: Session, images: Iterable[ir.Image]) -> None:
    for image in images:
        for step in image.steps:
            if step.kind in _PACKAGE_KEYS:
                _check_packages(s, step)
            elif step.kind == "pip_install_from_pyproject" and step.local_path is not None:
                _check_pyproject(s, step)


def _check_packages(s: Session, step: ir.Step) -> None:
    key = _PACKAGE_KEYS[step.kind]
    for index, package in enumerate(step.args):
        if isinstance(package, str) and package.startswith("-"):
            s.report(
                (*step.key_path, key, index),
                f"{package!r} is an option, not a package: Modal refuses options in the package list",
                hint="put pip options in `extra_options` (or use `index_url`, `extra_index_url`, `find_links`, `pre`)",
            )


def _check_pyproject(s: Session, step: ir.Step) -> None:
    import tomllib  # here: a YAML manifest without a pyproject step never loads the TOML parser

    where = (*step.key_path, "pip_pyproject")
    relative = str(step.local_path)
    path = s.project.directory / relative
    try:
        text = observe.read_bytes(path, s.tree.read).decode("utf-8")  # the build cache depends on its content
        config = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        s.report(where, f"{relative!r} cannot be read as TOML: {error}")
        return
    project = config.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("dependencies"), list):
        s.report(
            where,
            f"{relative!r} has no [project] dependencies list, which `pip_install_from_pyproject` installs",
            hint="declare `dependencies = [...]` under [project] (Poetry's [tool.poetry.dependencies] is not read)",
        )
        return
    wanted = dict(step.kwargs).get("optional_dependencies")
    groups = project.get("optional-dependencies")
    if isinstance(wanted, list) and wanted and not isinstance(groups, dict):
        s.report(
            (*step.key_path, "optional_dependencies"),
            f"{relative!r} has no [project.optional-dependencies] table to take "
            f"{', '.join(repr(group) for group in wanted)} from",
        )
