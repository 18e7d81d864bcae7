"""A local fake of Modal's control plane that the real, unmodified `modal` client talks to.

It records what a `modal deploy` (or `App.deploy()`) sends, answers the lookups of a
preflight check, and never contacts Modal. With `serve(state, execute=True)` it also runs
function calls in-process (`app.run()`, `.remote()`, `.map()`). See docs/control-plane.md.

    from modalc.control_plane import ControlPlaneState, serve, client_for

    state = ControlPlaneState()
    state.add_environment("dev")
    state.add_secret("dev", "api-keys", ["API_KEY"])
    with serve(state) as cp, client_for(cp, environment="dev"):
        app.deploy(name="my-app")
    print(state.deployments[-1])
"""

from __future__ import annotations

from .client import client_environ, client_for
from .server import ControlPlaneHandle, serve
from .state import (
    DEFAULT_ENVIRONMENT,
    DEFAULT_IMAGE_BUILDER_VERSION,
    DEFAULT_WORKSPACE,
    ControlPlaneState,
)
from .urls import web_url
from .version import (
    TESTED_CLIENT_VERSIONS,
    UnsupportedClientVersion,
    check_client_version,
)

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_IMAGE_BUILDER_VERSION",
    "DEFAULT_WORKSPACE",
    "TESTED_CLIENT_VERSIONS",
    "ControlPlaneHandle",
    "ControlPlaneState",
    "UnsupportedClientVersion",
    "check_client_version",
    "client_environ",
    "client_for",
    "serve",
    "web_url",
]
