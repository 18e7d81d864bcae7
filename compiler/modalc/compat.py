"""Every use of the `modal` SDK's private API, in one place, pinned to the series modalc is tested with.

Modal's public API says what to build; a few things modalc needs are only reachable through private names:
the files an image's Dockerfile context takes, the web URLs of a deployed class, the environment a client
has selected. When Modal changes, this is the one file to change; `tests/test_compat.py` fails first.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

SUPPORTED_SERIES = "1.6"


def client_version() -> str:
    from modal_version import __version__  # type: ignore[import-untyped]

    return str(__version__)


# How a generated module asks which Modal environment the deploying client has selected (`--env`,
# MODAL_ENVIRONMENT or the profile). The module runs where modalc may not be installed, so this is the
# expression's text, which render puts into the module's environment guard.
SELECTED_ENVIRONMENT_EXPRESSION = 'modal.config.config.get("environment")'


def configured(key: str) -> str | None:
    """A setting of the client's configuration (environment variables, then the profile)."""
    from modal.config import config

    value = config.get(key)
    return str(value) if value else None


def select_environment(modal_environment: str) -> None:
    """Select the Modal environment for this process, as `modal deploy --env` does."""
    from modal.config import config

    config.override_locally("environment", modal_environment)


def ignore_matcher(patterns: Sequence[str]) -> Callable[[Path], bool]:
    """Modal's dockerignore-style matcher for `add_local_dir(ignore=[...])` (public: modal.FilePatternMatcher)."""
    from modal import FilePatternMatcher

    return FilePatternMatcher(*patterns) if patterns else (lambda _: False)


def dockerfile_context_files(dockerfile: Path, context_dir: Path) -> Iterator[Path]:
    """The files a Dockerfile's COPY commands take from the build context, as `Image.from_dockerfile` selects
    them (its .dockerignore applied)."""
    from modal._image import _create_context_mount
    from modal._utils.docker_utils import find_dockerignore_file
    from modal.file_pattern_matcher import FilePatternMatcher, _ignore_fn

    context_dir = context_dir.resolve()
    dockerignore = find_dockerignore_file(context_dir, dockerfile.resolve())
    ignore = FilePatternMatcher(*dockerignore.read_text("utf8").splitlines()) if dockerignore else _ignore_fn(())
    lines = dockerfile.read_text("utf8").splitlines()
    mount = _create_context_mount(lines, ignore_fn=ignore, context_dir=context_dir)
    if mount is None:
        return
    for entry in mount._entries or []:
        for local_path, _ in entry.get_files_to_upload():
            yield Path(local_path)


@contextlib.contextmanager
def output_on_stderr() -> Iterator[None]:
    """`modal.enable_output()`, with everything Modal prints (status, progress, container logs) on stderr, so a
    command's results can own stdout. Modal's rich output manager writes status to stdout by default."""
    from modal._output.manager import OutputManager
    from modal._output.rich import RichOutputManager

    class _OnStderr(RichOutputManager):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._console = self._stderr_console

        def _flush_log_buffer(self) -> None:
            if self._log_buffer.tell() > 0:
                sys.stderr.write(self._log_buffer.getvalue())
                sys.stderr.flush()
                self._log_buffer.seek(0)
                self._log_buffer.truncate()

    previous = OutputManager.get()
    OutputManager._set(_OnStderr())
    try:
        yield
    finally:
        OutputManager._set(previous)


def object_id(obj: Any) -> str | None:
    """A Modal object's id once it is hydrated, else None (the public property raises before that)."""
    from modal._utils.async_utils import synchronizer

    inner = synchronizer._translate_in(obj)  # type: ignore[no-untyped-call]
    return str(inner.object_id) if inner._is_hydrated else None


def class_web_urls(cls: Any) -> dict[str, str]:
    """Method -> URL of a deployed class. Modal 1.6 keeps them in the class service function's metadata (what
    `modal deploy` prints); the public way, `Cls().method.get_web_url()`, would bind parameter values first."""
    from modal._utils.async_utils import synchronizer

    service = synchronizer._translate_in(cls)._get_class_service_function()  # type: ignore[no-untyped-call]
    metadata = service._method_handle_metadata or {}
    return {name: data.web_url for name, data in metadata.items() if data.web_url}
