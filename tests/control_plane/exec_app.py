"""The app whose functions the executing control plane runs in tests/control_plane/test_control_plane_execute.py.

Imported by the tests (as `control_plane.exec_app`) and run with `app.run()` against a local server; never
deployed to Modal. Module-level lists and counters record what ran: the server runs the code in this very
process, so the tests can read them.

No `from __future__ import annotations` here: `modal.parameter` needs real annotations, not strings.
"""

import asyncio
import collections
import threading
import time

import modal

app = modal.App("cp-exec")

ENTERED: list[int] = []
BATCHES: list[int] = []
RECORDED: list[int] = []
ATTEMPTS: collections.Counter[str] = collections.Counter()
THREADS: set[int] = set()


class CustomError(Exception):
    """A user exception with arguments: the client must re-raise this very type."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.code = code


@app.function()
def square(x: int) -> int:
    THREADS.add(threading.get_ident())
    return x * x


@app.function()
def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad input {x}")
    return x


@app.function()
def add(a: int, b: int, scale: int = 1) -> int:
    return (a + b) * scale


@app.function()
def record(x: int) -> None:
    RECORDED.append(x)


@app.function()
def raise_custom(code: int) -> None:
    raise CustomError("custom failure", code)


@app.function()
def countdown(n: int):
    yield from range(n, 0, -1)


@app.function()
async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@app.function()
async def async_letters(word: str):
    for letter in word:
        await asyncio.sleep(0)
        yield letter


@app.function()
def square_plus_one(x: int) -> int:
    return square.remote(x) + 1


@app.function()
def sum_of_squares(n: int) -> int:
    return sum(square.map(range(n)))


@app.function()
def size(data: bytes) -> int:
    return len(data)


@app.function()
def payload(n: int) -> bytes:
    return b"x" * n


@app.function()
def payloads(n: int, size: int):
    for _ in range(n):
        yield b"x" * size


# A long initial delay: the server skips it, so a test taking seconds would show that it did not.
@app.function(retries=modal.Retries(max_retries=2, initial_delay=10.0, backoff_coefficient=1.0))
def flaky(key: str, failures: int) -> int:
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= failures:
        raise RuntimeError(f"transient failure {ATTEMPTS[key]}")
    return ATTEMPTS[key]


@app.function(timeout=1)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.cls()
class Counter:
    start: int = modal.parameter(default=0)

    @modal.enter()
    def load(self) -> None:
        ENTERED.append(self.start)
        self.base = self.start * 100

    @modal.method()
    def add(self, x: int) -> int:
        return self.base + x

    @modal.method()
    def fail(self) -> None:
        raise KeyError("nope")


@app.cls()
class Lengths:
    @modal.batched(max_batch_size=4, wait_ms=1000)
    def of(self, words: list[str]) -> list[int]:
        BATCHES.append(len(words))
        return [len(w) for w in words]


@app.function()
@modal.batched(max_batch_size=3, wait_ms=1000)
def doubled(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@app.function()
@modal.batched(max_batch_size=3, wait_ms=10)
def wrong_length(xs: list[int]) -> list[int]:
    return xs[:1]
