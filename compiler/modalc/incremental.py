"""Incremental build: an edit to a few functions or classes of a large TOML manifest compiles only those.

A build of a manifest parsed table by table (`toml_tables`) leaves, beside its build record, the manifest it
compiled, where each top-level table begins and what each header names (`store_state`). The next build, when
that record holds for everything but the manifest, widens the common prefix and suffix of the two texts to whole
tables, parses only the tables between them, and learns which functions and classes they change. Each changed
entry is compiled twice, as it was and as it is, in a *reduced* manifest: the manifest without its other
functions and classes, and without the entrypoints that do not name a changed one. The new modules are the old
ones with each changed block replaced by the new one.

That is what a full build would write, because
- the rest of the manifest is, byte for byte, what the last build compiled, in the same order, and every table
  still parses on its own (so the cuts are where a whole parse puts its tables, as `toml_tables` argues);
- the reduced manifests are assembled from the same pieces under the same rules as a whole one, so their
  context (app, images, volumes, secrets, environments) is the full manifest's, and a table the edit declares
  twice is refused there;
- validation and every check of a function or class look at that entry alone, or at what it records in the
  normalize session (`Session.effects`: images, volumes and secrets used, user modules and their aliases,
  files looked at). The two compiles must record the same, and the changed entry must keep what the checks
  that span entries read (its name, handler and signature, its app: everything but its settings); then every
  other entry and every image compiles as before;
- both compiles must report the same problems, none of them at a changed entry, and none of the last build's
  warnings may lie in the edited lines (a problem is left to a full build, which reports it at its line); those
  below move with their lines;
- the entrypoints that name a changed entry compile to the same in both (they are part of the app compared), no
  budget is declared (it reads every entry), no waiver marker is in the edited lines (it is read from the text),
  the old block appears exactly once in the old module, and the new one needs no black.
Anything else, and anything this cannot read, means a full build. Tests hold this to a full build for edits of
many kinds (tests/test_incremental.py).
"""

from __future__ import annotations

import bisect
import marshal
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import ir
from .atomic import write_atomic
from .cache import BuildCache, manifest_digest, observations_of
from .credentials import MARKER_WORD
from .diagnostics import FILE_LEVEL, Diagnostic, ManifestError
from .formatting import needs_black
from .load import MAX_NODES, LoadedManifest, SourceMap, check_flow_depth, check_shape, decode_manifest, manifest_text
from .module_cache import ModuleCache, sealed_parts, unsealed
from .paths import output_path
from .pipeline import CompileResult, check_loaded, collector_for_a_build
from .toml_tables import Assembly, Header, Tables, header_of, piece, table_starts

STATE_FORMAT = 1
MAX_CHANGED = 32  # entries compiled one by one; an edit of more is a full build's work
_KINDS = ("functions", "classes")
_CHUNK = 1 << 16

Owner = tuple[str, str]  # ("functions" or "classes", name)
Parsed = dict[str, Any]
Piece = tuple[Header, Parsed]


def state_path(cache: BuildCache) -> Path:
    return cache.record_path.with_suffix(".edit")


def store_state(cache: BuildCache, raw: bytes, result: CompileResult) -> None:
    """Leave what the next build diffs against (beside the record this build just wrote); ignore failures."""
    manifest = result.manifest
    path = state_path(cache)
    try:
        tables = None if manifest is None or not manifest.by_table else manifest.tables or Tables.of(manifest.text)
        if manifest is None or tables is None or result.reformatted:
            path.unlink(missing_ok=True)
            return
        diagnostics = tuple(
            (d.file, d.line, d.column, d.message, d.key_path, d.severity, d.hint, d.code, d.stage)
            for d in result.diagnostics
        )
        meta = marshal.dumps(
            (STATE_FORMAT, manifest.display_name, tuple(tables.starts), tuple(tables.headers), manifest.value_count)
            + (diagnostics,)
        )
        write_atomic(path, sealed_parts(len(meta).to_bytes(8, "big"), meta, raw))
    except OSError:
        pass


def _load_state(path: Path, manifest_sha256: object) -> tuple[bytes, tuple[Any, ...]] | None:
    try:
        data = unsealed(path.read_bytes())
        size = int.from_bytes(data[:8], "big")
        meta, raw = marshal.loads(data[8 : 8 + size]), data[8 + size :]
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(meta, tuple) or len(meta) != 6 or meta[0] != STATE_FORMAT:
        return None
    return (raw, meta[1:]) if manifest_digest(raw) == manifest_sha256 else None


def compile_edit(
    cache: BuildCache, path: Path, raw: bytes, display_name: str, environments: Sequence[str], out_dir: Path | None
) -> CompileResult | None:
    """What `compile_manifest` returns for an edit this can compile alone, or None for a full build.

    Its `manifest.data` is the reduced manifest (the only part of the document this build read), its `apps` are
    empty, and its observations are the last build's, which `previous` found unchanged."""
    if path.suffix.lower() != ".toml" or not state_path(cache).is_file():
        return None
    found = cache.previous()
    if found is None:
        return None
    record, old_outputs = found
    state = _load_state(state_path(cache), record["key"]["manifest_sha256"])
    if state is None:
        return None
    old_raw, (old_name, starts, headers, value_count, diagnostics) = state
    try:
        with collector_for_a_build():
            edit = _Edit(path, display_name, old_raw, raw, list(starts), list(headers))
            result = edit.compile(
                environments, out_dir, value_count, old_outputs, Path(record["key"]["options"]["out_dir"])
            )
    except (ManifestError, ValueError, RecursionError, OSError):
        return None  # tomli's errors are ValueErrors: whatever this cannot read, a full build reports
    if result is None:
        return None
    warnings = edit.moved(diagnostics, old_name)
    if warnings is None:
        return None
    result.diagnostics = warnings
    result.observations = observations_of(record)
    return result


class _Edit:
    """The old and new manifest, the tables between their common prefix and suffix, and their parses."""

    def __init__(
        self, path: Path, display_name: str, old_raw: bytes, raw: bytes, starts: list[int], headers: list[Any]
    ):
        self.path = path
        self.file = display_name
        self.old = manifest_text(old_raw)  # what the last build compiled
        self.new = decode_manifest(raw, display_name)
        self.old_starts = starts
        self.old_headers: list[Header] = [(tuple(p), a) for p, a in headers]
        self._parsed: dict[str, Parsed] = {}

    def compile(
        self,
        environments: Sequence[str],
        out_dir: Path | None,
        value_count: int,
        old_outputs: dict[Path, str],
        recorded_out_dir: Path,
    ) -> CompileResult | None:
        if not self._find_middle():
            return None
        old_middle = self._parse_tables(self.old, self.old_starts, self.old_headers, self.i, self.j)
        new_middle = self._parse_tables(self.new, self.new_starts, self.new_headers, self.i, self.new_j)
        found = _changed_entries(old_middle, new_middle)
        if found is None or len(found[0]) > MAX_CHANGED:
            return None
        changed, old_environment_order, new_environment_order = found
        if MARKER_WORD in self.old[self.begin : self.old_end] or MARKER_WORD in self.new[self.begin : self.new_end]:
            return None  # whether a waiver marker waives anything is decided on the text, which this does not read
        if error := check_flow_depth(self.new, self.file):
            raise error
        if not changed and old_environment_order == new_environment_order:  # comments or layout: the same document
            return self._result({}, value_count, dict(old_outputs), recorded_out_dir)
        old_reduced = self._reduced(self.old, self.old_starts, self.old_headers, changed)
        new_reduced = self._reduced(self.new, self.new_starts, self.new_headers, changed)
        if old_reduced is None or new_reduced is None:
            return None
        (old_doc, old_names), (new_doc, new_names) = old_reduced, new_reduced
        if repr(_pruned(old_doc, set())) != repr(_pruned(new_doc, set())):
            return None  # the document around the entries differs (a table only a changed entry's header made)
        if [e for e in old_environment_order if e[1] not in old_names] != [
            e for e in new_environment_order if e[1] not in new_names
        ]:
            return None  # an entry only an environment declares keeps that environment's order
        from .budget import declares_budget

        if declares_budget(new_doc):
            return None
        positions = lambda: SourceMap(self.file)  # noqa: E731
        new_count = (
            value_count - check_shape(old_doc, self.file, positions) + check_shape(new_doc, self.file, positions)
        )
        if new_count > MAX_NODES:
            return None
        modules = ModuleCache.open()
        before, after = (
            check_loaded(
                LoadedManifest(
                    self.path, self.file, "toml", "", _with_entrypoints_of(doc, changed), SourceMap(self.file)
                ),
                environments,
                out_dir,
                budgets=False,
                parsed=modules,
                entries_elsewhere=names,
            )
            for doc, names in ((old_doc, old_names), (new_doc, new_names))
        )
        outputs = _spliced(before, after, changed, old_outputs)
        if outputs is None or after.out_dir != recorded_out_dir:
            return None
        return self._result(new_doc, new_count, outputs, recorded_out_dir, modules)

    def _result(
        self, data: Parsed, value_count: int, outputs: dict[Path, str], out_dir: Path, parsed: ModuleCache | None = None
    ) -> CompileResult:
        """The answer: the new text and its cuts, with `data` the part of the document this build read."""
        tables = Tables(self.new_starts, self.new_headers)
        manifest = LoadedManifest(
            self.path, self.file, "toml", self.new, data, SourceMap(self.file), value_count, True, tables
        )
        return CompileResult(manifest, [], {}, outputs, out_dir, parsed=parsed)

    def _find_middle(self) -> bool:
        """Set the old tables [i, j) and the new tables [i, new_j) that hold every changed byte."""
        old, new, starts = self.old, self.new, self.old_starts
        prefix = _common_prefix(old, new)
        suffix = min(_common_prefix(old[::-1], new[::-1]), min(len(old), len(new)) - prefix)
        if not starts or prefix < starts[0]:
            return False  # the lines before the first table changed (or there are no tables)
        self.i = bisect.bisect_right(starts, prefix) - 1
        if prefix == starts[self.i] and self.i > 0:
            self.i -= 1  # what is inserted before a header belongs to the table before it
        self.begin = starts[self.i]
        last_changed = max(len(old) - suffix - 1, self.begin)
        self.j = bisect.bisect_right(starts, last_changed)
        old_end = self.old_end = starts[self.j] if self.j < len(starts) else len(old)
        delta = len(new) - len(old)
        self.new_end = old_end + delta
        cuts = table_starts(new, self.begin, min(self.new_end + 1, len(new)))
        inside = [c for c in cuts if c < self.new_end]
        if inside[:1] != ([self.begin] if self.new_end > self.begin else []):
            return False
        if self.j < len(starts) and self.new_end not in cuts:
            return False  # the next table's header no longer starts a line
        self.new_starts = starts[: self.i] + inside + [s + delta for s in starts[self.j :]]
        read = [header_of(piece(new, self.new_starts, self.i + k)) for k in range(len(inside))]
        new_headers = [header for header in read if header is not None]
        if len(new_headers) != len(read):
            return False
        self.new_headers = self.old_headers[: self.i] + new_headers + self.old_headers[self.j :]
        self.new_j = self.i + len(inside)
        self.begin_line = old.count("\n", 0, self.begin) + 1
        self.end_line = old.count("\n", 0, old_end) + 1
        self.line_delta = new.count("\n", self.begin, self.new_end) - old.count("\n", self.begin, old_end)
        return True

    def _parse(self, piece: str) -> Parsed:
        parsed = self._parsed.get(piece)
        if parsed is None:
            import tomli

            parsed = self._parsed[piece] = tomli.loads(piece)
        return parsed

    def _parse_tables(self, text: str, starts: list[int], headers: list[Header], lo: int, hi: int) -> list[Piece]:
        return [(headers[k], self._parse(piece(text, starts, k))) for k in range(lo, hi)]

    def _reduced(
        self, text: str, starts: list[int], headers: list[Header], keep: set[Owner]
    ) -> tuple[Parsed, frozenset[str]] | None:
        """The document with no functions or classes but those in `keep`, assembled as `toml_tables` does, and
        the names of all the functions and classes it declares."""
        preamble = self._parse(text[: starts[0]])
        names = _declared(preamble)
        assembly = Assembly(_pruned(preamble, keep))
        for k, (path, is_array) in enumerate(headers):
            owner = _owner_of(path)
            if owner is not None:
                if path[0] in _KINDS:
                    names.add(owner[1])
                if owner not in keep:
                    continue
            parsed = self._parse(piece(text, starts, k))
            if owner is None:
                names |= _declared(parsed)
                parsed = _pruned(parsed, keep)
            if not assembly.add(path, is_array, parsed):
                return None
        return assembly.root, frozenset(names)

    def moved(self, recorded: Sequence[tuple[Any, ...]], old_name: str) -> list[Diagnostic] | None:
        """The last build's diagnostics where the edit leaves them, or None if one lies in the edited lines.

        A diagnostic below them moves with its line, which is unchanged (no message names a manifest line)."""
        out = []
        for file, line, *rest in recorded:
            if line > self.end_line:
                line += self.line_delta
            elif line != FILE_LEVEL and line >= self.begin_line:
                return None
            out.append(Diagnostic(self.file if file == old_name else file, line, *rest))
        return out


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (compared a chunk at a time, then halved)."""
    limit = min(len(a), len(b))
    low = 0
    while low < limit:
        high = min(low + _CHUNK, limit)
        if a[low:high] != b[low:high]:
            while high - low > 1:
                middle = (low + high) // 2
                if a[low:middle] == b[low:middle]:
                    low = middle
                else:
                    high = middle
            return low
        low = high
    return limit


def _owner_of(path: Sequence[object]) -> Owner | None:
    """The function or class a table header or key path lies inside (its own table, or an environment's
    override)."""
    if len(path) >= 2 and path[0] in _KINDS:
        return str(path[0]), str(path[1])
    if len(path) >= 4 and path[0] == "environments" and path[2] in _KINDS:
        return str(path[2]), str(path[3])
    return None


def _containers(parsed: Parsed) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Where a parsed piece holds functions and classes: its own tables and each environment's."""
    for kind in _KINDS:
        if type(parsed.get(kind)) is dict:
            yield (kind,), parsed[kind]
    environments = parsed.get("environments")
    if type(environments) is dict:
        for name, spec in environments.items():
            for kind in _KINDS:
                if type(spec) is dict and type(spec.get(kind)) is dict:
                    yield ("environments", name, kind), spec[kind]


def _declared(parsed: Parsed) -> set[str]:
    """The functions and classes a parsed piece declares (not an environment's overrides of them)."""
    return {name for container, entries in _containers(parsed) if len(container) == 1 for name in entries}


def _in_each_table(document: Parsed, change: Callable[[Parsed], Parsed]) -> Parsed:
    """The document with `change` made to its top level and to each environment's table (where overrides live)."""
    out = change(document)
    environments = document.get("environments")
    if type(environments) is dict:
        out = {**out, "environments": {n: change(s) if type(s) is dict else s for n, s in environments.items()}}
    return out


def _pruned(parsed: Parsed, keep: set[Owner]) -> Parsed:
    """The parsed piece without the functions and classes not in `keep`."""

    def only_kept(table: Parsed) -> Parsed:
        out = dict(table)
        for kind in _KINDS:
            if type(table.get(kind)) is dict:
                out[kind] = {name: value for name, value in table[kind].items() if (kind, name) in keep}
        return out

    return _in_each_table(parsed, only_kept)


EnvironmentOrder = list[tuple[tuple[str, ...], str]]  # (an environment's container, name), first appearances


def _changed_entries(
    old: list[Piece], new: list[Piece]
) -> tuple[set[Owner], EnvironmentOrder, EnvironmentOrder] | None:
    """The functions and classes the new tables write differently, and the order entries first appear in the
    environments' tables (old, new); None if the tables change anything else: what is not an entry's, or the order
    in which entries first appear."""
    old_shared, old_parts, old_order, old_environments = _summary(old)
    new_shared, new_parts, new_order, new_environments = _summary(new)
    if old_shared != new_shared or old_order != new_order:
        return None
    changed = {owner for owner in old_parts.keys() | new_parts.keys() if old_parts.get(owner) != new_parts.get(owner)}
    return changed, old_environments, new_environments


def _summary(pieces: list[Piece]) -> tuple[list[str], dict[Owner, list[str]], list[Owner], EnvironmentOrder]:
    # repr tells 1 from 1.0 and from true, and keeps key order, where == does neither.
    shared: list[str] = []
    parts: dict[Owner, list[str]] = {}
    order: list[Owner] = []
    environments: EnvironmentOrder = []
    for (path, is_array), parsed in pieces:
        owner = _owner_of(path)
        if owner is not None:
            parts.setdefault(owner, []).append(repr((path, is_array, parsed)))
            if path[0] in _KINDS:
                order.append(owner)
            else:
                environments.append((tuple(path[:3]), owner[1]))
            continue
        shared.append(repr((path, is_array, _pruned(parsed, set()))))
        for container, entries in _containers(parsed):
            for name, value in entries.items():
                parts.setdefault((container[-1], name), []).append(repr((container, value)))
                if len(container) == 1:
                    order.append((container[-1], name))
                else:
                    environments.append((container, name))
    return shared, parts, list(dict.fromkeys(order)), list(dict.fromkeys(environments))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _with_entrypoints_of(document: Parsed, changed: set[Owner]) -> Parsed:
    """The document with only the entrypoints that may name a changed function or class (where the base or an
    environment's override names one): the others call what this build does not compile."""
    names = {name for _, name in changed}
    tables: list[Any] = [document.get("entrypoints")]
    environments = document.get("environments")
    if isinstance(environments, dict):
        tables += [spec.get("entrypoints") for spec in environments.values() if isinstance(spec, dict)]
    kept = {
        entrypoint
        for table in tables
        if isinstance(table, dict)
        for entrypoint, spec in table.items()
        if names & set(_NAME.findall(repr(spec)))
    }

    def only_kept(table: Parsed) -> Parsed:
        if not isinstance(table.get("entrypoints"), dict):
            return table
        return {**table, "entrypoints": {k: v for k, v in table["entrypoints"].items() if k in kept}}

    return _in_each_table(document, only_kept)


def _masked(app: ir.App) -> ir.App:
    """The app with every function's and class's settings blanked: what the splice may change."""
    return app._replace(
        functions=tuple(
            f._replace(settings=ir.Settings(), schedule=None, web=None, batched=None) for f in app.functions
        ),
        classes=tuple(c._replace(settings=ir.Settings()) for c in app.classes),
    )


def _problems(result: CompileResult) -> list[tuple[Any, ...]]:
    return [(d.key_path, d.message, d.severity, d.hint, d.code) for d in result.diagnostics]


def _spliced(
    before: CompileResult, after: CompileResult, changed: set[Owner], old_outputs: dict[Path, str]
) -> dict[Path, str] | None:
    """The old modules with each changed block replaced, if the two compiles differ in those blocks alone."""
    if not (before.ok and after.ok) or after.out_dir is None or before.apps.keys() != after.apps.keys():
        return None
    if _problems(before) != _problems(after) or any(_owner_of(d.key_path) in changed for d in after.diagnostics):
        return None
    if before.effects != after.effects or before.dependencies != after.dependencies:
        return None
    from .render import render_entry

    outputs: dict[Path, str] = {}
    for name, new_app in after.apps.items():
        old_app = before.apps[name]
        if _masked(old_app) != _masked(new_app):
            return None
        target = output_path(after.out_dir, name)
        text = old_outputs.get(target)
        if text is None:
            return None
        for kind, name in changed:
            old_entry, new_entry = _entry(old_app, kind, name), _entry(new_app, kind, name)
            if old_entry is None and new_entry is None:
                continue  # not in this environment's module (as `_masked` showed, in neither compile)
            if old_entry is None or new_entry is None:
                return None
            old_block, new_block = render_entry(old_entry, old_app), render_entry(new_entry, new_app)
            if old_block == new_block:
                continue
            at = text.find(old_block)
            if at <= 0 or text[at - 1] != "\n" or text.find(old_block, at + 1) != -1 or needs_black(new_block):
                return None
            text = text[:at] + new_block + text[at + len(old_block) :]
        outputs[target] = text
    if set(outputs) != set(old_outputs):
        return None
    return outputs


def _entry(app: ir.App, kind: str, name: str) -> ir.Function | ir.Cls | None:
    entries: Sequence[ir.Function | ir.Cls] = app.functions if kind == "functions" else app.classes
    return next((entry for entry in entries if entry.name == name), None)
