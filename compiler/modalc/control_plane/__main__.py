"""Serve a fake Modal control plane until interrupted.

    python -m modalc.control_plane --port 8765 --state state.json [--host 127.0.0.1] [--execute]

Loads the state file if it exists, saves it (atomically) after every change, and prints
the environment variables that point `modal deploy` at this server. With `--execute` it
also runs function calls (`modal run`), importing the app's modules in this process.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from .server import serve
from .state import ControlPlaneState
from .version import UnsupportedClientVersion, check_client_version


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m modalc.control_plane",
        description="Serve a local fake of Modal's control plane for offline deploy tests.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="state file: loaded at startup if it exists, rewritten after every change",
    )
    parser.add_argument(
        "--execute",
        action="store_true",
        help="also run function calls (modal run, .remote, .map) in this process, which imports the app's "
        "module by name: start it where that module is importable",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground; return the process exit code."""
    args = _parse_args(argv)
    try:
        check_client_version()
    except UnsupportedClientVersion as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state_path: Path | None = args.state
    if state_path is not None and state_path.exists():
        state = ControlPlaneState.load(state_path)
    else:
        state = ControlPlaneState()
    if state_path is not None:
        state.save(state_path)

    def save(changed: ControlPlaneState) -> None:
        if state_path is not None:
            changed.save(state_path)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with tempfile.TemporaryDirectory(prefix="modalc-control-plane-") as config_dir:
        with serve(state, host=args.host, port=args.port, on_change=save, execute=args.execute) as handle:
            print(f"modalc local control plane listening on {handle.url}", flush=True)
            if args.execute:
                print("It executes function calls in this process.", flush=True)
            print("Point the modal client at it with:", flush=True)
            for key, value in handle.client_env(config_dir).items():
                print(f"export {key}={shlex.quote(value)}", flush=True)
            print("unset MODAL_ENVIRONMENT MODAL_PROFILE", flush=True)
            while not stop.wait(0.5):
                pass
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
