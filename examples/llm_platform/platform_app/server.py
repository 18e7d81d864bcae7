"""An OpenAI-compatible server started in the container's enter hook (the snapshot keeps it warm)."""

import subprocess


class Server:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["python", "-m", "vllm.entrypoints.openai.api_server", "--port", "8000"]
        self.process = subprocess.Popen(command)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
