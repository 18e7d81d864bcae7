"""A control plane that misbehaves: deploy and plan end in a clear exit 1, in seconds, never a traceback.

Each server here is a few lines of socket code in this file: one that closes every connection, one that
answers an HTTP/1.1 500, one that speaks HTTP/2 and answers every request with :status 500, and one that
accepts and never answers (the client alone waited 162 s for that one). A control plane restarting mid-deploy
is the real local control plane with the SDK's heartbeat failing as it does against a restarting server.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import EXAMPLES, run_cli
from modalc.control_plane import ControlPlaneState, client_for, serve


def _close(connection: socket.socket) -> None:
    connection.close()


def _http1_500(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    connection.close()


def _h2_500(connection: socket.socket) -> None:
    """A real HTTP/2 server (the h2 library, which the client's grpclib uses) answering :status 500."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    h2c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    h2c.initiate_connection()
    with contextlib.suppress(OSError):
        connection.sendall(h2c.data_to_send())
        while data := connection.recv(65536):
            for event in h2c.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    # The client may have reset the stream in the same read (it gave up on an earlier answer).
                    with contextlib.suppress(h2.exceptions.StreamClosedError):
                        h2c.send_headers(
                            event.stream_id, [(":status", "500"), ("content-length", "0")], end_stream=True
                        )
            connection.sendall(h2c.data_to_send())
    connection.close()


def _silent(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while connection.recv(65536):
            pass  # read everything, answer nothing


BEHAVIOURS = {"closes": _close, "http1-500": _http1_500, "h2-500": _h2_500, "never-answers": _silent}


class _Handle:
    """What `client_for` needs of a control plane: the variables that point the client at it."""

    def __init__(self, url: str):
        self.url = url

    def client_env(self, config_dir: str | Path) -> dict[str, str]:
        config = Path(config_dir) / "modal.toml"
        config.write_text("")
        return {
            "MODAL_SERVER_URL": self.url,
            "MODAL_TOKEN_ID": "ak-misbehaving",
            "MODAL_TOKEN_SECRET": "as-misbehaving",
            "MODAL_CONFIG_PATH": str(config),
        }


@contextlib.contextmanager
def misbehaving(behaviour: str) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(connection)
            threading.Thread(target=BEHAVIOURS[behaviour], args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "inference_api"
    shutil.copytree(EXAMPLES / "inference_api", destination)
    return destination


@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
@pytest.mark.parametrize("command", ["deploy", "plan"])
def test_a_misbehaving_control_plane_is_a_clear_exit_1(
    project: Path, behaviour: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modalc.deploy

    monkeypatch.setattr(modalc.deploy, "ANSWER_SECONDS", 3.0)
    started = time.monotonic()
    with misbehaving(behaviour) as url, client_for(_Handle(url)):  # type: ignore[arg-type]
        result = run_cli([command, "--env", "dev"], cwd=project)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"modalc: {url} "), line
    if behaviour == "never-answers":
        assert "did not answer" in line and "within 3 s" in line
    if command == "deploy":
        assert line.endswith("nothing was deployed"), line
    else:
        assert "plan with --offline" in line, line
    assert elapsed < 20, f"took {elapsed:.0f} s"


def test_plan_offline_never_asks(project: Path) -> None:
    with misbehaving("never-answers") as url, client_for(_Handle(url)):  # type: ignore[arg-type]
        result = run_cli(["plan", "--env", "dev", "--offline"], cwd=project)
    assert result.exit_code == 0, result.stderr


def test_a_heartbeat_failing_mid_deploy_is_one_line_not_a_traceback(
    project: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A control plane restarting mid-deploy fails the SDK's heartbeat call, which the SDK logs with a traceback
    (its `infinite_loop` uses `logger.exception`), while the deploy itself retries and completes."""
    import modal.runner
    from grpclib.exceptions import StreamTerminatedError

    beats: list[int] = []

    async def restarting_server(client: Any, app_id: str) -> None:
        beats.append(1)
        raise StreamTerminatedError("Connection lost")

    monkeypatch.setattr(modal.runner, "_heartbeat", restarting_server)
    state = ControlPlaneState()
    state.add_environment("dev")
    state.add_secret("dev", "sentiment-api-keys", ["API_KEY"])
    state.add_secret("dev", "huggingface", ["HF_TOKEN"])
    with serve(state) as handle, client_for(handle):
        result = run_cli(["deploy", "--env", "dev"], cwd=project)
    captured = capfd.readouterr()
    assert result.exit_code == 0, result.stderr
    assert beats, "the heartbeat ran"
    assert "sentiment-api: deployed to Modal environment 'dev'" in result.stdout
    everything = result.stderr + captured.err + captured.out
    assert "Traceback" not in everything and "Loop attempt" not in everything, everything
    assert everything.count("modalc: a heartbeat to Modal failed (StreamTerminatedError: Connection lost)") == 1
