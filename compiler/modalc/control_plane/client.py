"""Point a `modal` client (this process, or a child process) at a fake control plane.

The modal client caches more than its environment variables suggest:
  - `modal.config` reads the config file (MODAL_CONFIG_PATH, ~/.modal.toml) and picks
    the profile once, at import time (`_user_config`, `user_config_path`, `_profile`);
  - `modal.client._Client._client_from_env` is a process-wide client singleton, bound
    to the server URL and token it was created with;
  - `modal._environments.ENVIRONMENT_CACHE` maps environment names ("" = default) to
    hydrated Environment objects (holding that old client and the server's image
    builder version and web suffix), keyed by name only, not by server.
`client_for` swaps all three for the duration of a block and restores them after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .server import ControlPlaneHandle
from .version import check_client_version

# MODAL_* variables that only affect logging, kept as they are inside `client_for`.
_KEPT_VARIABLES = frozenset({"MODAL_LOGLEVEL", "MODAL_LOG_FORMAT", "MODAL_LOG_PATTERN", "MODAL_TRACEBACK"})


def _modal_variables(environ: Mapping[str, str]) -> list[str]:
    return [k for k in environ if k.startswith("MODAL_") and k not in _KEPT_VARIABLES]


def client_environ(
    handle: ControlPlaneHandle,
    config_dir: str | Path,
    *,
    environment: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Full environment for a `modal` subprocess (e.g. `modal deploy`) using `handle`.

    Starts from `base` (default: `os.environ`), drops its MODAL_* variables (except
    logging ones), adds `handle.client_env(config_dir)`, and MODAL_ENVIRONMENT if given.
    """
    env = dict(os.environ if base is None else base)
    for key in _modal_variables(env):
        del env[key]
    env.update(handle.client_env(config_dir))
    if environment is not None:
        env["MODAL_ENVIRONMENT"] = environment
    return env


def _process_client() -> Any:
    """The client `modal` made for this process, read afresh (the code it ran may have made one)."""
    from modal.client import _Client

    return _Client._client_from_env


def _close_client(client: Any) -> None:
    from modal._utils.async_utils import synchronizer

    loop = synchronizer._get_loop(start=False)
    if loop is None or not loop.is_running():
        return
    future = asyncio.run_coroutine_threadsafe(client.close(), loop)
    with contextlib.suppress(Exception):
        future.result(timeout=10)


@contextlib.contextmanager
def client_for(handle: ControlPlaneHandle, *, environment: str | None = None) -> Iterator[dict[str, str]]:
    """Make the in-process `modal` client talk to `handle` inside the block.

    Sets MODAL_SERVER_URL/TOKEN_ID/TOKEN_SECRET/CONFIG_PATH (and MODAL_ENVIRONMENT if
    `environment` is given; otherwise it is unset, so the server's default environment
    is used), hides every other MODAL_* variable except logging ones, empties modal's
    cached user config, and resets the client singleton and environment cache. On exit
    the client created inside is closed and everything is restored. Yields the
    variables set. Not thread-safe: do not run two such blocks at once.
    """
    check_client_version()
    import modal.config as modal_config
    from modal._environments import ENVIRONMENT_CACHE
    from modal.client import _Client

    saved_vars = {k: os.environ[k] for k in _modal_variables(os.environ)}
    saved_config = (
        modal_config._user_config,
        modal_config.user_config_path,
        modal_config._profile,
    )
    saved_client = _Client._client_from_env
    saved_cache = dict(ENVIRONMENT_CACHE)
    with tempfile.TemporaryDirectory(prefix="modalc-control-plane-") as config_dir:
        variables = handle.client_env(config_dir)
        if environment is not None:
            variables["MODAL_ENVIRONMENT"] = environment
        for key in saved_vars:
            del os.environ[key]
        os.environ.update(variables)
        modal_config._user_config = {}
        modal_config.user_config_path = variables["MODAL_CONFIG_PATH"]
        modal_config._profile = "default"
        _Client._client_from_env = None
        ENVIRONMENT_CACHE.clear()
        try:
            yield variables
        finally:
            created = _process_client()
            _Client._client_from_env = saved_client
            if created is not None and created is not saved_client:
                _close_client(created)
            ENVIRONMENT_CACHE.clear()
            ENVIRONMENT_CACHE.update(saved_cache)
            (
                modal_config._user_config,
                modal_config.user_config_path,
                modal_config._profile,
            ) = saved_config
            for key in _modal_variables(os.environ):
                del os.environ[key]
            os.environ.update(saved_vars)
