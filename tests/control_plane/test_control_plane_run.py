"""`app.run()` against the local control plane: its lifecycle and log stream, its refusal by a server that does
not execute, calls by name to deployed functions, and servers in another process than the client (`modal run`,
`python -m modalc.control_plane --execute`), which import the app's module by name."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import modal
import modal.exception
import pytest
from grpclib.client import Channel
from modal_proto import api_grpc, api_pb2

from modalc.control_plane import ControlPlaneHandle, ControlPlaneState, client_environ, client_for, serve

MODULE = "cp_run_app"
SOURCE = """
import os

import modal

app = modal.App("APP_NAME")


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def where() -> int:
    return os.getpid()


@app.function()
def nested(x: int) -> int:
    return square.remote(x) + 1


@app.function(serialized=True)
def cube(x: int) -> int:
    return x**3


@app.cls()
class Scaler:
    factor: int = modal.parameter(default=2)

    @modal.method()
    def scale(self, x: int) -> int:
        return self.factor * x


@app.local_entrypoint()
def main(x: int = 4):
    print("RESULT", square.remote(x), list(square.map([1, 2, 3])), Scaler(factor=3).scale.remote(x), cube.remote(x))
    print("PID", where.remote())
"""


def write_app(directory: Path, name: str) -> Path:
    """The app as module `cp_run_app` (a name no other test imports: the server may import it by name)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{MODULE}.py"
    path.write_text(SOURCE.replace("APP_NAME", name))
    return path


def rpc(handle: ControlPlaneHandle, name: str, request: Any) -> Any:
    """One raw gRPC request (the reply, or the list of replies of a stream)."""

    async def call() -> Any:
        channel = Channel(handle.host, handle.port)
        try:
            token_id, token_secret = handle.credentials()
            metadata = {"x-modal-token-id": token_id, "x-modal-token-secret": token_secret}
            return await getattr(api_grpc.ModalClientStub(channel), name)(request, metadata=metadata)
        finally:
            channel.close()

    return asyncio.run(call())


def test_app_run_publishes_an_ephemeral_app_whose_log_stream_ends(kit: Any, tmp_path: Path) -> None:
    path = write_app(tmp_path, "cp-run")
    with serve(ControlPlaneState(), execute=True) as handle, client_for(handle), kit.imported_app(path) as module:
        with modal.enable_output(), module.app.run():
            assert module.square.remote(3) == 9
            spawned = module.square.spawn(4)
            assert spawned.get() == 16
            app_id = module.app.app_id
            lifecycle = rpc(handle, "AppGetLifecycle", api_pb2.AppGetLifecycleRequest(app_id=app_id)).lifecycle
            assert lifecycle.app_state == api_pb2.APP_STATE_EPHEMERAL
            finishing = time.monotonic()
        # The client waits for the log stream's end: it came at once, with the disconnect.
        assert time.monotonic() - finishing < 2
        lifecycle = rpc(handle, "AppGetLifecycle", api_pb2.AppGetLifecycleRequest(app_id=app_id)).lifecycle
        assert lifecycle.app_state == api_pb2.APP_STATE_STOPPED
        with pytest.raises(modal.exception.NotFoundError):  # a stopped run's calls are forgotten
            modal.FunctionCall.from_id(spawned.object_id).get(timeout=1)
    calls = handle.calls
    assert calls.index("AppPublish") < calls.index("FunctionMap") < calls.index("AppClientDisconnect")
    assert "AppGetLogs" in calls
    assert handle.state.deployments == []  # a run is not a deployment


def test_a_detached_run_keeps_running_after_its_client_leaves(kit: Any, tmp_path: Path) -> None:
    path = write_app(tmp_path, "cp-detached")
    with serve(ControlPlaneState(), execute=True) as handle, client_for(handle), kit.imported_app(path) as module:
        with modal.enable_output(), module.app.run(detach=True):
            assert module.square.remote(2) == 4
            app_id = module.app.app_id
            finishing = time.monotonic()
        assert time.monotonic() - finishing < 2  # its log stream ended with the disconnect
        lifecycle = rpc(handle, "AppGetLifecycle", api_pb2.AppGetLifecycleRequest(app_id=app_id)).lifecycle
        assert lifecycle.app_state == api_pb2.APP_STATE_DETACHED


def test_a_server_without_execution_refuses_app_run_before_creating_anything(kit: Any, tmp_path: Path) -> None:
    path = write_app(tmp_path, "cp-refused")
    with serve(ControlPlaneState()) as handle, client_for(handle), kit.imported_app(path) as module:
        with pytest.raises(modal.exception.UnimplementedError, match="started without execution") as refused:
            with modal.enable_output(), module.app.run():
                pass
    assert "serve(state, execute=True)" in str(refused.value) and "--execute" in str(refused.value)
    assert handle.calls.count("AppCreate") == 1 and "FunctionCreate" not in handle.calls


def test_the_log_stream_of_a_deployed_app_waits_and_ends_when_it_stops(kit: Any, tmp_path: Path) -> None:
    path = write_app(tmp_path, "cp-logs")
    with serve(ControlPlaneState()) as handle:
        kit.deploy(handle, path, "main")
        app_id = handle.state.app("main", "cp-logs")["app_id"]
        assert rpc(handle, "AppGetLogs", api_pb2.AppGetLogsRequest(app_id=app_id, timeout=0)) == []
        started = time.monotonic()
        assert rpc(handle, "AppGetLogs", api_pb2.AppGetLogsRequest(app_id=app_id, timeout=0.2)) == []
        assert time.monotonic() - started >= 0.2

        async def stop_while_following() -> list[api_pb2.TaskLogsBatch]:
            following = asyncio.create_task(
                asyncio.to_thread(rpc, handle, "AppGetLogs", api_pb2.AppGetLogsRequest(app_id=app_id, timeout=30))
            )
            await asyncio.sleep(0.1)
            await asyncio.to_thread(rpc, handle, "AppStop", api_pb2.AppStopRequest(app_id=app_id))
            return await asyncio.wait_for(following, 5)

        assert [batch.app_done for batch in asyncio.run(stop_while_following())] == [True]


def test_deployed_functions_and_classes_run_when_called_by_name(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_app(tmp_path, "cp-deployed")
    state = ControlPlaneState()
    with serve(state, execute=True) as handle, client_for(handle), kit.imported_app(path) as module:
        # One client for the deploy and the calls: `nested` calls `square` through the deployed module's objects.
        module.app.deploy()
        assert modal.Function.from_name("cp-deployed", "square").remote(5) == 25
        assert modal.Function.from_name("cp-deployed", "nested").remote(2) == 5
        assert modal.Cls.from_name("cp-deployed", "Scaler")(factor=3).scale.remote(2) == 6
        assert set(handle.servicer.runner.origins.values()) == {"local"}  # type: ignore[attr-defined]
    # A new server from the saved state: no object of this process is hydrated against it, so it imports the
    # module by the name the deploy recorded.
    monkeypatch.syspath_prepend(str(tmp_path))
    with serve(ControlPlaneState.from_json(state.to_json()), execute=True) as handle, client_for(handle):
        assert modal.Function.from_name("cp-deployed", "square").remote(6) == 36
        assert modal.Cls.from_name("cp-deployed", "Scaler")().scale.remote(4) == 8
        assert set(handle.servicer.runner.origins.values()) == {"imported"}  # type: ignore[attr-defined]
    sys.modules.pop(MODULE, None)


def test_modal_run_in_a_subprocess_runs_in_the_server_process(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`modal run app.py`: the client is another process, so this server process imports `cp_run_app`."""
    path = write_app(tmp_path, "cp-modal-run")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with serve(ControlPlaneState(), execute=True) as handle:
            environ = client_environ(handle, tmp_path / "config")
            result = subprocess.run(
                [sys.executable, "-m", "modal", "run", str(path), "--x", "5"],
                cwd=tmp_path,
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
            )
            origins = handle.servicer.runner.origins  # type: ignore[attr-defined]
    finally:
        sys.modules.pop(MODULE, None)
    assert result.returncode == 0, result.stderr
    assert "RESULT 25 [1, 4, 9] 15 125\n" in result.stdout
    assert f"PID {os.getpid()}\n" in result.stdout
    assert sorted(origins.values()) == ["imported", "imported", "imported", "serialized"]
    assert "Task exception was never retrieved" not in result.stderr


def test_the_command_executes_with_execute(kit: Any, tmp_path: Path) -> None:
    """`python -m modalc.control_plane --execute` in the app's directory; the client is this process."""
    path = write_app(tmp_path, "cp-command")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "modalc.control_plane", "--execute", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith(f"modalc local control plane listening on http://127.0.0.1:{port}")
        assert server.stdout.readline() == "It executes function calls in this process.\n"
        remote = ControlPlaneHandle(  # a handle on the other process's server, for client_for
            url=f"http://127.0.0.1:{port}",
            port=port,
            host="127.0.0.1",
            blob_url="",
            state=ControlPlaneState(),
            servicer=None,  # type: ignore[arg-type]
            execute=True,
        )
        with client_for(remote), kit.imported_app(path) as module, module.app.run():
            assert module.where.remote() == server.pid
            assert list(module.square.map([2, 3])) == [4, 9]
            assert module.Scaler(factor=4).scale.remote(2) == 8
            # The server's copy of the module is not hydrated: calls from inside functions are not emulated.
            with pytest.raises(modal.exception.ExecutionError, match="not been hydrated"):
                module.nested.remote(2)
    finally:
        server.terminate()
        server.wait(timeout=10)
