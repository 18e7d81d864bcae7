"""A build cache: a rebuild with nothing changed answers from a small record instead of compiling again.

The record of a successful build holds what it depended on (the manifest's hash, the modalc that built it,
the options, and how every file and directory it looked at was when it looked) and the hash of every module it
wrote. Inputs are observed before they are read (see `observe`): a handler module's stat is taken on the open
file before its bytes are read, and the record keeps the hash of those bytes, so an edit made during a build
makes the next build compile. A stat that matches is proof only when it is not racy (the file changed within
`RACY_NS` of being read, where a same-size edit in the same timestamp tick leaves the stat as it was); then, and
whenever the stat differs, the content is hashed and compared. Paths whose existence the compile checked are
compared by kind (file, directory, missing). Anything else, or any trouble reading the record, means a normal
build: the cache can make a build faster, never different.

Records live in $MODALC_CACHE_DIR, else $XDG_CACHE_HOME/modalc, else ~/.cache/modalc (with the parsed handler
modules of `module_cache` under modules/); MODALC_NO_CACHE=1 or `modalc build --no-cache` turns both off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import remove_stale, write_atomic
from .observe import Observation, stat_of
from .paths import resolve_or_absolute

FORMAT = 2
# A stat within this much of the moment its file was read may not show an edit made right after (timestamps
# are coarse: a jiffy on Linux, 1 or 2 s on some file systems): such an input is always hashed.
RACY_NS = 2_000_000_000
_PACKAGE_ROOTS = ("modalc",)  # its code, templates, schema and data files all live inside it


def cache_dir() -> Path | None:
    if os.environ.get("MODALC_NO_CACHE"):
        return None
    if explicit := os.environ.get("MODALC_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modalc"


def manifest_bytes(path: Path) -> bytes | None:
    """The manifest's bytes, read once for the cache's key and the compile; None if unreadable or over the
    size limit (the compiler reports those without this)."""
    from .load import MAX_MANIFEST_BYTES

    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _stat(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return [info.st_mtime_ns, info.st_size, int(path.is_dir())]


def toolchain() -> str:
    """modalc's version and its own files (code, templates, schema, data), so editing modalc invalidates."""
    import importlib.util

    digest = hashlib.sha256(f"{__version__}|{sys.version}|{FORMAT}".encode())
    for package in _PACKAGE_ROOTS:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            for root, _, files in sorted(os.walk(location)):
                for name in sorted(files):
                    if name.endswith((".py", ".jinja", ".json")):
                        digest.update(f"{root}/{name}{_stat(Path(root) / name)}".encode())
    return digest.hexdigest()


def _hash(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def manifest_digest(raw: bytes) -> str:
    """The manifest's hash as a record's key holds it."""
    return _hash(raw)


@dataclass
class BuildCache:
    record_path: Path
    key: dict[str, object]

    @classmethod
    def open(cls, manifest: Path, raw: bytes, out_dir: Path, environments: Sequence[str]) -> BuildCache | None:
        caches = cls.open_each(manifest, raw, out_dir, [environments])
        return caches[0] if caches else None

    @classmethod
    def open_each(
        cls, manifest: Path, raw: bytes, out_dir: Path, selections: Sequence[Sequence[str]]
    ) -> list[BuildCache]:
        """One cache per selection of environments (none if the cache is off), hashing the manifest and modalc's
        own files once for all of them."""
        directory = cache_dir()
        if directory is None:
            return []
        shared = {"manifest_sha256": manifest_digest(raw), "toolchain": toolchain()}
        caches = []
        for environments in selections:
            options: dict[str, object] = {
                "manifest": str(resolve_or_absolute(manifest)),
                "out_dir": str(resolve_or_absolute(out_dir)),
                "environments": list(environments),
            }
            name = _hash(json.dumps(options, sort_keys=True).encode())[:32]
            caches.append(cls(directory / f"{name}.json", {"options": options, **shared}))
        return caches

    def lookup(self) -> dict[str, object] | None:
        """The recorded build if everything it depended on is unchanged, else None."""
        found = self._valid_record(same_manifest=True)
        return found[0] if found else None

    def previous(self) -> tuple[dict[str, Any], dict[Path, str]] | None:
        """The recorded build, if everything it depended on but the manifest is unchanged, and the text of every
        module it wrote (what an incremental build starts from)."""
        return self._valid_record(same_manifest=False)

    def _valid_record(self, *, same_manifest: bool) -> tuple[dict[str, Any], dict[Path, str]] | None:
        try:
            record = json.loads(self.record_path.read_text(encoding="utf-8"))
            key = record.get("key")
            if same_manifest and key != self.key:
                return None
            if not same_manifest and (
                not isinstance(key, dict) or {**key, "manifest_sha256": self.key["manifest_sha256"]} != self.key
            ):
                return None
            for entry in record["inputs"]:
                if not _unchanged(entry):
                    return None
            outputs: dict[str, str] = record["outputs"]
            texts = {}
            for path, digest in outputs.items():
                written = Path(path).read_bytes()
                if _hash(written) != digest:
                    return None
                if not same_manifest:  # only an incremental build starts from the modules' text
                    texts[Path(path)] = written.decode("utf-8")
            options = self.key["options"]
            out_dir = Path(str(options["out_dir"]))  # type: ignore[index]
            present = {str(p) for p in out_dir.glob("app_*.py")} if out_dir.is_dir() else set()
            partial = bool(options["environments"])  # type: ignore[index]
            if not set(outputs) <= present or (not partial and present != set(outputs)):
                return None  # a module was added or removed by hand: let the build judge it
            return dict(record), texts
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def proves(self, output: Path, text: str) -> bool:
        """Whether the recorded build, still valid, wrote exactly `text` to `output`."""
        record = self.lookup()
        outputs = record.get("outputs") if record else None
        return isinstance(outputs, dict) and outputs.get(str(resolve_or_absolute(output))) == _hash(text.encode())

    def store(
        self,
        observations: Mapping[Path, Observation],
        outputs: Mapping[Path, str],
        warnings: Sequence[str],
        display_name: str = "",
    ) -> None:
        """Record a successful build; failures to write the record are ignored (it is only a cache)."""
        inputs = []
        for path, seen in sorted(observations.items()):
            racy = seen.stat is not None and max(seen.stat[2], seen.stat[3]) >= seen.at_ns - RACY_NS
            inputs.append({"path": str(path), "stat": seen.stat, "sha256": seen.sha256, "racy": racy})
        record = {
            "key": self.key,
            "inputs": inputs,
            "outputs": {str(p): _hash(text.encode("utf-8")) for p, text in sorted(outputs.items())},
            "warnings": list(warnings),
            "display_name": display_name,  # how the warnings name the manifest
        }
        try:
            write_atomic(self.record_path, json.dumps(record).encode("utf-8"))
            remove_stale(self.record_path.parent)  # what a killed build left
        except OSError:
            pass


def observations_of(record: Mapping[str, Any]) -> dict[Path, Observation]:
    """A record's inputs as the observations `store` records (the same stat, hash and raciness)."""
    out = {}
    for entry in record["inputs"]:
        stat = tuple(entry["stat"]) if entry["stat"] is not None else None
        # `store` calls an input racy when it changed within RACY_NS of being read; this moment says the same.
        changed = max(stat[2], stat[3]) if stat is not None else 0
        at_ns = changed if entry["racy"] else changed + RACY_NS + 1
        out[Path(entry["path"])] = Observation(stat, at_ns, entry["sha256"])
    return out


def _unchanged(entry: dict[str, object]) -> bool:
    """Whether an input is as the compile saw it: by kind for a path it only checked, by content for one it read."""
    recorded = entry["stat"]
    now = stat_of(str(entry["path"]))
    if entry["sha256"] is None:
        return (now[0] if now else None) == (recorded[0] if isinstance(recorded, list) else None)
    if now is None or now[0] != "file":
        return False
    if isinstance(recorded, list) and list(now) == recorded and not entry["racy"]:
        return True  # stat-identical and not racy: proof enough, without reading
    try:
        return _hash(Path(str(entry["path"])).read_bytes()) == entry["sha256"]
    except OSError:
        return False
