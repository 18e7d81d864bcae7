"""A one-line progress bar on stderr that never shares a line with anything else.

`modalc run` prints results as JSON lines on stdout while the bar counts them on stderr; in a terminal both
reach the same screen. Every write that goes through `above()` first clears the bar's line, then redraws the
bar below what was written, so a result line never starts after a half-drawn bar. When the run ends the bar
is cleared. Without a terminal on stderr there is no bar at all (CI logs get the summary line only).
"""

from __future__ import annotations

import io
from typing import TextIO, cast

CLEAR_LINE = "\r\x1b[2K"
WIDTH = 30


class LineProgress:
    def __init__(self, label: str, total: int, stream: TextIO):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = _is_terminal(stream)
        self._shown = False

    def __enter__(self) -> LineProgress:
        self.draw()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

    def update(self, count: int) -> None:
        self.done += count
        self.draw()

    def draw(self) -> None:
        if not self.enabled:
            return
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(f"{CLEAR_LINE}{self.label} [{bar}] {self.done}/{self.total}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._shown = False

    def above(self, target: TextIO) -> TextIO:
        """A stream that writes to `target` above the bar."""
        return cast(TextIO, _AboveTheBar(self, target))


class _AboveTheBar(io.TextIOBase):
    def __init__(self, bar: LineProgress, target: TextIO):
        self.bar = bar
        self.target = target

    def write(self, text: str) -> int:
        self.bar.clear()
        written = self.target.write(text)
        self.target.flush()
        if text.endswith("\n"):
            self.bar.draw()
        return written

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return _is_terminal(self.target)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False
