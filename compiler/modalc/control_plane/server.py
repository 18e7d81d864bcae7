"""Run the fake control plane: a grpclib server plus a tiny HTTP endpoint for blobs.

Both run on one event loop in a background thread, so a test (or the `python -m`
command) keeps its own thread free for the client. With `execute=True` the servicer
also runs function calls (see `execution.py`); user code then runs in threads of its
own, never on this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import aiohttp.web
import grpclib.const
import grpclib.server
from grpclib import GRPCError, Status
from grpclib.server import Stream
from modal_proto import api_grpc

from .execution import ExecutingServicer
from .servicer import ControlPlaneServicer, fail
from .state import ControlPlaneState
from .version import check_client_version

DEFAULT_TOKEN_ID = "ak-modalc-local"
DEFAULT_TOKEN_SECRET = "as-modalc-local"
_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_GRACE = 2.0

log = logging.getLogger("modalc.control_plane")


class _MethodNames:
    """Stand-in `self` for ModalClientBase.__mapping__, so that each handler is its name."""

    def __getattr__(self, name: str) -> str:
        return name


def rpc_table() -> dict[str, grpclib.const.Handler]:
    """Return the client's full RPC table: path -> Handler whose `func` is the RPC name."""
    return api_grpc.ModalClientBase.__mapping__(_MethodNames())  # type: ignore[arg-type]


class ControlPlaneService:
    """grpclib service: authenticates, dispatches to the servicer, reports state changes."""

    def __init__(
        self,
        servicer: ControlPlaneServicer,
        on_change: Callable[[ControlPlaneState], None] | None = None,
    ) -> None:
        self.servicer = servicer
        self.on_change = on_change

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        return {
            path: grpclib.const.Handler(
                self._handler(h.func, h.cardinality),
                h.cardinality,
                h.request_type,
                h.reply_type,
            )
            for path, h in rpc_table().items()
        }

    def _handler(self, name: str, cardinality: grpclib.const.Cardinality) -> Callable[[Stream[Any, Any]], Any]:
        impl: Callable[[Any], Any] | None = getattr(self.servicer, name, None)
        if inspect.iscoroutinefunction(impl) or inspect.isasyncgenfunction(impl):
            return self._waiting_handler(name, impl)
        state = self.servicer.state

        async def handle(stream: Stream[Any, Any]) -> None:
            self.servicer.authenticate(stream.metadata)
            if impl is None:
                fail(
                    Status.UNIMPLEMENTED,
                    f"{name} is not implemented by modalc's local control plane",
                )
            request = await stream.recv_message()
            self.servicer.calls.append(name)
            log.debug("rpc %s", name)
            with state.lock:
                revision = state.revision
                try:
                    reply = impl(request)
                except GRPCError:
                    raise
                except Exception as exc:
                    log.exception("modalc control plane: %s failed", name)
                    fail(Status.INTERNAL, f"modalc control plane bug in {name}: {exc!r}")
                if state.revision != revision and self.on_change is not None:
                    self.on_change(state)
            if cardinality is grpclib.const.Cardinality.UNARY_STREAM:
                for item in reply:
                    await stream.send_message(item)
            else:
                await stream.send_message(reply)

        handle.__name__ = name
        return handle

    def _waiting_handler(self, name: str, impl: Callable[[Any], Any]) -> Callable[[Stream[Any, Any]], Any]:
        """Dispatch to an `async def` handler (or an async generator, for a server stream).

        These handlers wait: for outputs, for generator items, for an app to stop. They
        run without the state lock (they take it only where they read the state), so that
        other requests, such as the inputs they are waiting for, get through.
        """
        streaming = inspect.isasyncgenfunction(impl)

        def bug(exc: Exception) -> NoReturn:
            log.exception("modalc control plane: %s failed", name)
            fail(Status.INTERNAL, f"modalc control plane bug in {name}: {exc!r}")

        async def handle(stream: Stream[Any, Any]) -> None:
            self.servicer.authenticate(stream.metadata)
            request = await stream.recv_message()
            self.servicer.calls.append(name)
            log.debug("rpc %s", name)
            if not streaming:
                try:
                    reply = await impl(request)
                except GRPCError:
                    raise
                except Exception as exc:
                    bug(exc)
                await stream.send_message(reply)
                return
            replies = impl(request)
            try:
                while True:
                    try:
                        item = await replies.__anext__()
                    except StopAsyncIteration:
                        break
                    except GRPCError:
                        raise
                    except Exception as exc:
                        bug(exc)
                    await stream.send_message(item)
            finally:
                await replies.aclose()

        handle.__name__ = name
        return handle


@dataclass
class ControlPlaneHandle:
    """A running fake control plane: where to reach it and the state it serves."""

    url: str
    port: int
    host: str
    blob_url: str
    state: ControlPlaneState
    servicer: ControlPlaneServicer = field(repr=False)
    execute: bool = False

    @property
    def calls(self) -> list[str]:
        """Names of the RPCs served so far, in order (the last 10,000)."""
        return list(self.servicer.calls)

    def credentials(self) -> tuple[str, str]:
        """A token pair the server accepts: the first configured one, else a dummy pair."""
        if self.state.tokens:
            token = self.state.tokens[0]
            return token["token_id"], token["token_secret"]
        return DEFAULT_TOKEN_ID, DEFAULT_TOKEN_SECRET

    def client_env(self, config_dir: str | Path) -> dict[str, str]:
        """Environment variables that point a `modal` client process at this server.

        Creates an empty `modal.toml` in `config_dir` and points MODAL_CONFIG_PATH at it,
        so that no user profile (token, environment, image builder version) leaks in.
        Merge the result over an environment from which other MODAL_* variables (notably
        MODAL_ENVIRONMENT and MODAL_PROFILE) have been removed.
        """
        config_path = Path(config_dir) / "modal.toml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.touch(exist_ok=True)
        token_id, token_secret = self.credentials()
        return {
            "MODAL_SERVER_URL": self.url,
            "MODAL_TOKEN_ID": token_id,
            "MODAL_TOKEN_SECRET": token_secret,
            "MODAL_CONFIG_PATH": str(config_path),
        }


class _ServerThread(threading.Thread):
    def __init__(
        self,
        state: ControlPlaneState,
        host: str,
        port: int,
        on_change: Callable[[ControlPlaneState], None] | None,
        execute: bool = False,
    ) -> None:
        super().__init__(name="modalc-control-plane", daemon=True)
        self.servicer = ExecutingServicer(state) if execute else ControlPlaneServicer(state)
        self.service = ControlPlaneService(self.servicer, on_change)
        self.host = host
        self.port = port
        self.blob_port = 0
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        from modal._utils.grpc_utils import custom_detail_codec

        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = grpclib.server.Server([self.service], status_details_codec=custom_detail_codec)
        await server.start(self.host, self.port)
        self.port = _bound_port(server._server)
        app = aiohttp.web.Application()
        app.router.add_put("/blobs/{blob_id}", self._put_blob)
        app.router.add_get("/blobs/{blob_id}", self._get_blob)
        runner = aiohttp.web.AppRunner(app, access_log=None)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, self.host, 0)
        await site.start()
        self.blob_port = _bound_port(site._server)
        self.servicer.blob_base_url = f"http://{_connect_host(self.host)}:{self.blob_port}"
        self.servicer.started(self._loop, f"http://{_connect_host(self.host)}:{self.port}")
        self.ready.set()
        try:
            await self._stop_event.wait()
        finally:
            # Wake the handlers that wait (long polls, log streams) so that they end now.
            self.servicer.stopping()
            server.close()
            # Clients keep their HTTP/2 connections open; don't wait for them forever.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), _SHUTDOWN_GRACE)
            await runner.cleanup()

    async def _put_blob(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
        # Only an executing server needs the bytes (function arguments); a deploy keeps hashes.
        chunks: list[bytes] | None = [] if self.servicer.keeps_blob_data else None
        # Streamed: aiohttp's request.read() refuses bodies over 1 MiB.
        async for chunk in request.content.iter_chunked(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
            if chunks is not None:
                chunks.append(chunk)
        data = b"".join(chunks) if chunks is not None else None
        with self.servicer.state.lock:
            known = self.servicer.blob_uploaded(request.match_info["blob_id"], size, sha256.hexdigest(), data)
        if not known:
            return aiohttp.web.Response(status=404, text="unknown blob id")
        # The client checks the ETag against the MD5 of what it sent, like S3's.
        return aiohttp.web.Response(headers={"ETag": f'"{md5.hexdigest()}"'})

    async def _get_blob(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        with self.servicer.state.lock:
            data = self.servicer.blob_data(request.match_info["blob_id"])
        if data is None:
            return aiohttp.web.Response(status=404, text="unknown blob id")
        return aiohttp.web.Response(body=data)

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout=_SHUTDOWN_GRACE + 5)


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def _wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def serve(
    state: ControlPlaneState | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_change: Callable[[ControlPlaneState], None] | None = None,
    allow_untested_client: bool | None = None,
    execute: bool = False,
) -> Iterator[ControlPlaneHandle]:
    """Run a fake Modal control plane in a background thread for the duration of the block.

    `port=0` picks a free port. Yields once the port accepts connections. `on_change` is
    called (on the server thread, under the state lock) after every request that changed
    the state. Raises `UnsupportedClientVersion` for an untested `modal` client unless
    `allow_untested_client` (or MODALC_CONTROL_PLANE_ALLOW_UNTESTED_CLIENT=1) allows it.

    With `execute=True` the server also runs function calls (`app.run()`, `.remote()`,
    `.map()`, ...) in this process: see "Executing function calls" in docs/control-plane.md.
    """
    check_client_version(allow_untested_client)
    state = state if state is not None else ControlPlaneState()
    thread = _ServerThread(state, host, port, on_change, execute)
    thread.start()
    try:
        if not thread.ready.wait(_STARTUP_TIMEOUT):
            raise TimeoutError("the local control plane did not start in time")
        if thread.error is not None:
            raise RuntimeError(f"the local control plane failed to start: {thread.error}") from thread.error
        connect_host = _connect_host(host)
        _wait_for_port(connect_host, thread.port, _STARTUP_TIMEOUT)
        yield ControlPlaneHandle(
            url=f"http://{connect_host}:{thread.port}",
            port=thread.port,
            host=host,
            blob_url=thread.servicer.blob_base_url,
            state=state,
            servicer=thread.servicer,
            execute=execute,
        )
    finally:
        thread.stop()


def _bound_port(server: asyncio.AbstractServer | None) -> int:
    """The port a server listening on port 0 was given."""
    assert isinstance(server, asyncio.Server)
    port: int = server.sockets[0].getsockname()[1]
    return port
