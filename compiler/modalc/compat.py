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

    class _OnStderr(RichOutputManager):
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


def is_transport_error(error: BaseException) -> bool:
    """Whether the client failed because the control plane misbehaved rather than refused: a connection closed or
    reset (`StreamTerminatedError`, `ConnectionError`), an HTTP error status where a gRPC answer belongs (Modal's
    `ServiceError`, or a bare grpclib `GRPCError`), an HTTP/2 protocol violation, a timeout. Modal's other errors
    (`InvalidError`, `NotFoundError`, ...) subclass `GRPCError` too, for now; they are refusals, not this."""
    from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
    from h2.exceptions import ProtocolError as H2ProtocolError
    from modal.exception import Error, ServiceError

    if isinstance(error, (StreamTerminatedError, ProtocolError, H2ProtocolError, ConnectionError, TimeoutError)):
        return True
    return isinstance(error, ServiceError) or (isinstance(error, GRPCError) and not isinstance(error, Error))


def transport_errors() -> tuple[type[BaseException], ...]:
    """The exception types `is_transport_error` sorts from (an `except` clause, then `is_transport_error`)."""
    from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
    from h2.exceptions import ProtocolError as H2ProtocolError

    return (StreamTerminatedError, GRPCError, ProtocolError, H2ProtocolError, ConnectionError, TimeoutError)


def describe_transport_error(error: BaseException) -> str:
    """One line for a transport error (Modal's wrappers warn when grpclib's attributes are read: not here)."""
    from grpclib.exceptions import GRPCError
    from modal.exception import Error

    if isinstance(error, GRPCError) and not isinstance(error, Error):
        return f"GRPCError: {error.status.name}: {error.message or 'no message'}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@contextlib.contextmanager
def quiet_heartbeats() -> Iterator[None]:
    """While deploying or running: a failed app heartbeat is one line, not the SDK's traceback.

    The SDK beats for the app in a background loop (`TaskContext.infinite_loop`) and logs every failure with
    `logger.exception`. When the control plane restarts mid-deploy, the deploy's own calls retry and either
    succeed or fail with their own error, so the heartbeat's traceback only buries the outcome.
    """
    import logging

    loggers = [logging.getLogger(name) for name in ("modal-utils", "modal-client")]  # the loop logs to the first
    said: list[bool] = []

    def one_line(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not (message.startswith("Loop attempt for ") and "heartbeat" in message):
            return True
        if not said:
            said.append(True)
            error = record.exc_info[1] if record.exc_info else None
            reason = describe_transport_error(error) if error is not None else "no answer"
            print(f"modalc: a heartbeat to Modal failed ({reason}); carrying on", file=sys.stderr, flush=True)
        return False

    for logger in loggers:
        logger.addFilter(one_line)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(one_line)
