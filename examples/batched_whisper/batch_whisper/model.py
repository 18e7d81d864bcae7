"""Batched Whisper: Modal collects single calls into lists, so one GPU pass serves many clips."""

from __future__ import annotations


class BatchWhisper:
    def load(self) -> None:
        import whisper

        self.model = whisper.load_model("large-v3", download_root="/cache/models")

    def transcribe(self, audio_samples: list[bytes]) -> list[str]:
        return [self.model.transcribe(sample)["text"] for sample in audio_samples]

