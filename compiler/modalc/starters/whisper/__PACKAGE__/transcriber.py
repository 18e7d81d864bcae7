"""Whisper transcription. `whisper` is installed in the image only: it is imported where it is used, so this
module imports anywhere (and tests can stand in for it)."""

from __future__ import annotations

import tempfile

WEIGHTS = "/weights"  # the volume's mount path


class Transcriber:
    def __init__(self, *, model_name: str = "base") -> None:
        self.model_name = model_name
        self.model = None

    def load_model(self) -> None:
        import whisper

        self.model = whisper.load_model(self.model_name, download_root=WEIGHTS)

    def transcribe(self, audio: bytes, language: str | None = None) -> str:
        """The text of an audio file's bytes (any format ffmpeg reads); `language` skips detection."""
        with tempfile.NamedTemporaryFile(suffix=".audio") as handle:
            handle.write(audio)
            handle.flush()
            result = self.model.transcribe(handle.name, language=language)
        return result["text"].strip()
