"""Whisper transcription, as the seed's example writes it; heavy imports stay inside the container."""

from __future__ import annotations

import tempfile


class Transcriber:
    def __init__(self, *, model_name: str = "large-v3") -> None:
        self.model_name = model_name
        self.model = None

    def load_model(self) -> None:
        import whisper

        self.model = whisper.load_model(self.model_name, download_root="/cache/models")

    def transcribe(self, audio_bytes: bytes) -> str:
        import librosa

        with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
            handle.write(audio_bytes)
            handle.flush()
            audio, _ = librosa.load(handle.name, sr=16000)
        return self.model.transcribe(audio)["text"]
