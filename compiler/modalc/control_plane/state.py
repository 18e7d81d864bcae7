"""JSON-serializable in-memory state of the fake Modal control plane.

The state holds what outlives one deploy: environments with their secrets (key names
only, never values), volumes and apps, the accepted tokens, and the list of deployment
records (one per `AppPublish`). Records are plain, deterministic JSON so that they can
be compared with golden files.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..atomic import write_atomic

DEFAULT_WORKSPACE = "modalc-local"
DEFAULT_ENVIRONMENT = "main"
# Must be one of modal._image.ImageBuilderVersion of the tested clients.
DEFAULT_IMAGE_BUILDER_VERSION = "2025.06"
STATE_FORMAT = 1

_ID_SUFFIX = re.compile(r"^[a-z]{2}-(\d+)$")


class ControlPlaneState:
    """Everything the fake control plane knows, as JSON-friendly dicts and lists.

    Layout of `environments[name]`:
      - `web_suffix`: str, the environment's web URL suffix ("" for none);
      - `secrets`: name -> {"keys": sorted key names};
      - `volumes`: name -> {};
      - `apps`: name -> {"app_id", "state", "tags", "version", "history", "objects"}.

    `deployments` is the list of deployment records, one per AppPublish, in order.
    All mutations from the server happen under `lock`; `revision` increases on each.
    """

    def __init__(
        self,
        *,
        workspace: str = DEFAULT_WORKSPACE,
        default_environment: str = DEFAULT_ENVIRONMENT,
        image_builder_version: str = DEFAULT_IMAGE_BUILDER_VERSION,
    ) -> None:
        self.workspace = workspace
        self.default_environment = default_environment
        self.image_builder_version = image_builder_version
        # Every named secret and volume a client asks for exists (with the keys it requires): for planning a
        # module whose requirements are not known in advance, never for deploy tests.
        self.permissive = False
        self.last_image_keys: dict[str, str] = {}  # image id -> its key in the last deployment record
        self.tokens: list[dict[str, str]] = []
        self.environments: dict[str, dict[str, Any]] = {}
        self.deployments: list[dict[str, Any]] = []
        # What WorkspaceBillingRates answers (`modal billing rates`): rate name -> decimal string per hour.
        self.billing_rates: dict[str, str] = {}
        self.lock = threading.RLock()
        self.revision = 0
        self._next_id = 1
        self.add_environment(default_environment)

    # -- seeding helpers -------------------------------------------------------------

    def add_environment(self, name: str, *, web_suffix: str | None = None) -> None:
        """Create environment `name` if missing.

        `web_suffix` defaults to "" for the default environment and to `name` otherwise,
        which is what appears in web endpoint URLs (`{workspace}-{suffix}--...`).
        """
        with self.lock:
            if name in self.environments:
                if web_suffix is not None:
                    self.environments[name]["web_suffix"] = web_suffix
            else:
                if web_suffix is None:
                    web_suffix = "" if name == self.default_environment else name
                self.environments[name] = {
                    "web_suffix": web_suffix,
                    "secrets": {},
                    "volumes": {},
                    "queues": {},
                    "dicts": {},
                    "apps": {},
                }
            self.touch()

    def add_secret(self, env: str, name: str, keys: Iterable[str] | Mapping[str, Any]) -> None:
        """Create or replace secret `name` in `env` (created if missing) with these key names.

        A mapping is accepted for convenience; only its keys are kept, values are dropped.
        """
        with self.lock:
            self.add_environment(env)
            self.environments[env]["secrets"][name] = {"keys": sorted(set(keys))}
            self.touch()

    def add_volume(self, env: str, name: str, version: int = 0) -> None:
        """Create volume `name` in `env` (environment created if missing), with file system `version` (0: the
        default)."""
        with self.lock:
            self.add_environment(env)
            self.environments[env]["volumes"].setdefault(name, {"version": version} if version else {})
            self.touch()

    def add_store(self, env: str, kind: str, name: str) -> None:
        """Create a named queue (`kind="queues"`) or dict (`kind="dicts"`) in `env`."""
        with self.lock:
            self.add_environment(env)
            self.environments[env][kind].setdefault(name, {})
            self.touch()

    def add_token(self, token_id: str, token_secret: str) -> None:
        """Accept this token pair. Once any token is listed, all other tokens are rejected."""
        with self.lock:
            self.tokens.append({"token_id": token_id, "token_secret": token_secret})
            self.touch()

    # -- queries ---------------------------------------------------------------------

    def resolve_environment(self, name: str) -> str | None:
        """Map a request's environment name ("" = default) to a known one, or None."""
        resolved = name or self.default_environment
        return resolved if resolved in self.environments else None

    def app(self, env: str, name: str) -> dict[str, Any] | None:
        """Return the app entry `name` in `env`, or None."""
        entry: dict[str, Any] | None = self.environments.get(env, {}).get("apps", {}).get(name)
        return entry

    def deployments_for(self, app: str, env: str | None = None) -> list[dict[str, Any]]:
        """Return the deployment records of `app` (optionally only in `env`), oldest first."""
        return [d for d in self.deployments if d["app"] == app and (env is None or d["environment"] == env)]

    # -- mutation bookkeeping --------------------------------------------------------

    def touch(self) -> None:
        """Mark the state as changed (the server saves it after the current request)."""
        self.revision += 1

    def new_id(self, prefix: str) -> str:
        """Return a fresh object id like Modal's (`ap-` + 22 alphanumerics), from a counter."""
        with self.lock:
            n = self._next_id
            self._next_id += 1
        return f"{prefix}-{n:022d}"

    # -- serialization ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy of the state as plain JSON data."""
        with self.lock:
            return copy.deepcopy(
                {
                    "format": STATE_FORMAT,
                    "workspace": self.workspace,
                    "default_environment": self.default_environment,
                    "image_builder_version": self.image_builder_version,
                    "tokens": self.tokens,
                    "environments": self.environments,
                    "deployments": self.deployments,
                }
            )

    def to_json(self) -> str:
        """Serialize to deterministic JSON (sorted keys, 2-space indent, trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlPlaneState:
        """Build a state from `to_dict()` output (missing keys take their defaults)."""
        fmt = data.get("format", STATE_FORMAT)
        if fmt != STATE_FORMAT:
            raise ValueError(f"unsupported control plane state format {fmt!r}")
        state = cls(
            workspace=data.get("workspace", DEFAULT_WORKSPACE),
            default_environment=data.get("default_environment", DEFAULT_ENVIRONMENT),
            image_builder_version=data.get("image_builder_version", DEFAULT_IMAGE_BUILDER_VERSION),
        )
        state.tokens = [dict(t) for t in data.get("tokens", [])]
        for name, env in data.get("environments", {}).items():
            state.add_environment(name, web_suffix=env.get("web_suffix"))
            entry = state.environments[name]
            for key in ("secrets", "volumes", "queues", "dicts", "apps"):
                entry[key] = copy.deepcopy(dict(env.get(key, {})))
        state.deployments = copy.deepcopy(list(data.get("deployments", [])))
        state._next_id = 1 + max(_persisted_id_numbers(state.environments), default=0)
        state.revision = 0
        return state

    @classmethod
    def from_json(cls, text: str) -> ControlPlaneState:
        """Parse `to_json()` output."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ControlPlaneState:
        """Read a state file written by `save()` (or by hand)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state atomically (temporary file in the same directory, then rename)."""
        write_atomic(Path(path), self.to_json().encode("utf-8"))


def _persisted_id_numbers(environments: Mapping[str, Any]) -> Iterable[int]:
    """Yield the counters of ids stored in app entries, so new ids never collide."""
    for env in environments.values():
        for app in env.get("apps", {}).values():
            ids = [app.get("app_id", "")]
            ids += [obj.get("id", "") for obj in app.get("objects", {}).values()]
            for object_id in ids:
                if m := _ID_SUFFIX.match(object_id):
                    yield int(m.group(1))
