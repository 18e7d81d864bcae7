"""Normalize stage: one environment's validated, merged manifest -> a frozen `ir.App`.

Here the manifest's meaning is settled: defaults applied, references to images, volumes, secrets and buckets
resolved, GPU strings parsed, cron strings and time zones checked, handlers resolved in the user's source,
and every rule Modal would only enforce at deploy time (or not at all) checked now, at the manifest's line.
Each noun has its module (`storage`, `images`, `functions`, `classes`, `entrypoints`); `app` runs them in order
over one `Session`. Environment overlays are merged before, by the `overlay` stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .. import handlers, ir
from ..diagnostics import ERROR, Diagnostic
from ..load import SourceMap
from ..observe import Observation, ObservedPaths
from ..overlay import Overlaid
from .app import build_app
from .session import Project, Session, as_int

__all__ = ["Normalized", "Project", "as_int", "normalize_app"]


class Normalized(NamedTuple):
    app: ir.App | None  # None when anything is an error
    diagnostics: list[Diagnostic]
    dependencies: frozenset[Path]  # every file and directory the result depends on (for the build cache)
    observations: dict[Path, Observation]  # how each of them was when normalize looked
    effects: str  # what the nouns recorded for each other (`Session.effects`)


def normalize_app(
    overlaid: Overlaid,
    *,
    source_map: SourceMap,
    environment: ir.Environment,
    project: Project,
    manifest_format: str,
    source_tree: handlers.SourceTree,
    entries_elsewhere: frozenset[str] = frozenset(),
) -> Normalized:
    """Build the IR of one environment from its merged manifest."""
    session = Session(
        data=overlaid.data,
        source_map=source_map,
        path_map=overlaid.source_path,
        environment=environment,
        project=project,
        manifest_format=manifest_format,
        tree=source_tree,
        replaced=overlaid.replaced,
        entries_elsewhere=entries_elsewhere,
    )
    app = build_app(session)
    errors = any(d.severity == ERROR for d in session.diagnostics)
    seen = session.dependencies.seen if isinstance(session.dependencies, ObservedPaths) else {}
    return Normalized(
        None if errors else app,
        session.diagnostics,
        frozenset(session.dependencies),
        dict(seen),
        session.effects(),
    )
