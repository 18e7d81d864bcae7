"""Function calls that the local control plane executes (`serve(execute=True)`), through the real client.

One server and one `app.run()` of tests/control_plane/exec_app.py serve every test here: the functions run
in this process, in threads of the server, so the tests read what they recorded in the module.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Iterator

import modal
import modal.exception
import pytest

from modalc.control_plane import ControlPlaneHandle, ControlPlaneState, client_for, serve

from . import exec_app


@pytest.fixture(scope="module")
def running() -> Iterator[ControlPlaneHandle]:
    """An executing server, and exec_app running on it for the whole module."""
    with serve(ControlPlaneState(), execute=True) as handle, client_for(handle), exec_app.app.run():
        yield handle


def test_remote_map_starmap_and_for_each(running: ControlPlaneHandle) -> None:
    assert exec_app.square.remote(7) == 49
    assert list(exec_app.square.map(range(6))) == [0, 1, 4, 9, 16, 25]
    assert sorted(exec_app.square.map(range(20), order_outputs=False)) == [i * i for i in range(20)]
    assert list(exec_app.add.starmap([(1, 2), (3, 4)], kwargs={"scale": 10})) == [30, 70]
    assert exec_app.add.remote(1, b=2) == 3
    exec_app.record.for_each([101, 102, 103])
    assert {101, 102, 103} <= set(exec_app.RECORDED)


def test_map_keeps_order_and_returns_exceptions(running: ControlPlaneHandle) -> None:
    results = list(exec_app.fail_on_two.map([1, 2, 3], return_exceptions=True))
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad input 2"
    with pytest.raises(ValueError, match="bad input 2"):
        list(exec_app.fail_on_two.map([1, 2, 3]))


def test_exceptions_come_back_as_their_own_type_with_remote_frames(running: ControlPlaneHandle) -> None:
    with pytest.raises(exec_app.CustomError) as raised:
        exec_app.raise_custom.remote(7)
    assert raised.value.code == 7 and raised.value.args == ("custom failure", 7)
    assert "in raise_custom" in "".join(traceback.format_exception(raised.value))


def test_spawn_get_and_function_call_lookup(running: ControlPlaneHandle) -> None:
    call = exec_app.square.spawn(6)
    assert call.get() == 36
    assert call.get() == 36  # a spawned call's output stays
    assert modal.FunctionCall.from_id(call.object_id).get(timeout=5) == 36
    assert list(exec_app.square.experimental_spawn_map([6, 7]).iter()) == [36, 49]
    exec_app.record.spawn_map([201, 202])
    with pytest.raises(TimeoutError):
        exec_app.sleepy.spawn(0.5).get(timeout=0.01)
    cancelled = exec_app.sleepy.spawn(0.5)
    cancelled.cancel()
    with pytest.raises(modal.exception.RemoteError):
        cancelled.get(timeout=5)


def test_generators_sync_and_async(running: ControlPlaneHandle) -> None:
    assert list(exec_app.countdown.remote_gen(3)) == [3, 2, 1]
    assert list(exec_app.countdown.remote_gen(0)) == []
    assert list(exec_app.async_letters.remote_gen("abc")) == ["a", "b", "c"]


def test_async_functions(running: ControlPlaneHandle) -> None:
    assert exec_app.async_double.remote(21) == 42
    assert asyncio.run(exec_app.async_double.remote.aio(5)) == 10
    assert list(exec_app.async_double.map([1, 2])) == [2, 4]


def test_nested_calls_do_not_deadlock(running: ControlPlaneHandle) -> None:
    """Functions that call functions, many at once: each input has its own thread, none waits for a free one."""
    assert exec_app.square_plus_one.remote(3) == 10
    assert list(exec_app.square_plus_one.map(range(12))) == [i * i + 1 for i in range(12)]
    assert list(exec_app.sum_of_squares.map([4, 5, 6])) == [14, 30, 55]


def test_class_methods_with_parameters_enter_once_per_parameter_set(running: ControlPlaneHandle) -> None:
    assert exec_app.Counter(start=7).add.remote(1) == 701
    assert list(exec_app.Counter(start=7).add.map([1, 2, 3])) == [701, 702, 703]
    assert exec_app.Counter(start=8).add.spawn(1).get() == 801
    assert exec_app.Counter().add.remote(5) == 5
    assert (exec_app.ENTERED.count(7), exec_app.ENTERED.count(8)) == (1, 1)
    with pytest.raises(KeyError, match="nope"):
        exec_app.Counter(start=7).fail.remote()


def test_batched_methods_and_functions(running: ControlPlaneHandle) -> None:
    before = len(exec_app.BATCHES)
    words = ["a", "bb", "ccc", "dddd", "eeeee", "ff", "g", "hh", "iii"]
    assert list(exec_app.Lengths().of.map(words)) == [len(w) for w in words]
    assert exec_app.Lengths().of.remote("four") == 4
    batches = exec_app.BATCHES[before:]
    assert sum(batches) == len(words) + 1 and max(batches) <= 4
    assert list(exec_app.doubled.map(range(7))) == [2 * i for i in range(7)]


def test_large_arguments_and_results_go_through_blobs(running: ControlPlaneHandle) -> None:
    uploads, downloads = running.calls.count("BlobCreate"), running.calls.count("BlobGet")
    big = 3 * 1024 * 1024  # over the client's 2 MiB limit
    assert exec_app.size.remote(b"y" * big) == big
    assert len(exec_app.payload.remote(big)) == big
    assert exec_app.size.spawn(b"z" * 20_000).get() == 20_000  # a spawn's limit is 8 KiB
    assert len(exec_app.payload.spawn(20_000).get()) == 20_000
    assert len(b"".join(exec_app.payload.map([big, 1]))) == big + 1
    assert [len(item) for item in exec_app.payloads.remote_gen(2, big)] == [big, big]
    assert running.calls.count("BlobCreate") - uploads == 2
    assert running.calls.count("BlobGet") - downloads == 5


def test_retries_run_on_the_server_without_their_delays(running: ControlPlaneHandle) -> None:
    started = time.monotonic()
    assert exec_app.flaky.remote("remote", 2) == 3  # two failures, then the third attempt
    with pytest.raises(RuntimeError, match="transient failure 3"):
        exec_app.flaky.remote("exhausted", 5)  # max_retries=2: three attempts in all
    assert list(exec_app.flaky.starmap([("map-a", 1), ("map-b", 0)])) == [2, 1]
    assert time.monotonic() - started < 5  # the policy's 10 s delays were skipped
    assert exec_app.ATTEMPTS["exhausted"] == 3
    assert "FunctionRetryInputs" not in running.calls


def test_timeout_is_reported(running: ControlPlaneHandle) -> None:
    started = time.monotonic()
    with pytest.raises(modal.exception.FunctionTimeoutError, match="hit its timeout of 1s"):
        exec_app.sleepy.remote(3)
    assert time.monotonic() - started < 2.5


def test_the_code_is_this_process_s_running_app(running: ControlPlaneHandle) -> None:
    """Functions and classes alike are found as the objects `app.run()` hydrated, never imported anew."""
    exec_app.square.remote(1)
    exec_app.Counter(start=1).add.remote(1)
    origins = running.servicer.runner.origins  # type: ignore[attr-defined]
    assert len(origins) >= 2 and set(origins.values()) == {"local"}
