"""Pinning of the `modal` client versions the fake control plane was tested against.

Modal's gRPC API is internal: field meanings and the sequence of calls a deploy makes
change between client releases without notice. The fake therefore refuses to run with
a client it was not verified against, unless the caller explicitly opts out.
"""

from __future__ import annotations

import os
from importlib import metadata

#: Exact `modal` versions whose deploy protocol this package was verified against.
TESTED_CLIENT_VERSIONS: tuple[str, ...] = ("1.6.4",)

#: Set to "1" to run against an untested client version anyway (for experts).
ALLOW_UNTESTED_ENV_VAR = "MODALC_CONTROL_PLANE_ALLOW_UNTESTED_CLIENT"


class UnsupportedClientVersion(RuntimeError):
    """The installed `modal` client is not one the fake control plane was tested with."""

    def __init__(self, installed: str | None, tested: tuple[str, ...]) -> None:
        self.installed = installed
        self.tested = tested
        shown = installed if installed is not None else "not installed"
        super().__init__(
            f"modalc's local control plane was tested with modal=={', '.join(tested)}, "
            f"but the installed modal client is {shown}. Modal's gRPC API is internal and "
            f"changes between releases, so deploys against the fake could silently differ "
            f"from real ones. Install a tested version (pip install 'modal=={tested[-1]}'), "
            f"or set {ALLOW_UNTESTED_ENV_VAR}=1 to try anyway."
        )


def installed_client_version() -> str | None:
    """Return the version of the installed `modal` distribution, or None if absent."""
    try:
        return metadata.version("modal")
    except metadata.PackageNotFoundError:
        return None


def check_client_version(allow_untested: bool | None = None) -> str:
    """Raise `UnsupportedClientVersion` unless the installed `modal` is a tested version.

    `allow_untested=None` reads the `MODALC_CONTROL_PLANE_ALLOW_UNTESTED_CLIENT` environment
    variable. Returns the installed version string.
    """
    installed = installed_client_version()
    if allow_untested is None:
        allow_untested = os.environ.get(ALLOW_UNTESTED_ENV_VAR, "") == "1"
    if installed is None or (installed not in TESTED_CLIENT_VERSIONS and not allow_untested):
        raise UnsupportedClientVersion(installed, TESTED_CLIENT_VERSIONS)
    return installed
