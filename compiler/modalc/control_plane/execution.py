"""An executing control plane: `app.run()`, `.remote()`, `.map()`, `.spawn()`, generators, classes.

`ExecutingServicer` is the deploy-only servicer plus the function-call RPCs of Modal's
control-plane path (the client never uses the input plane, since no function handle
here carries an `input_plane_url`):

- `FunctionMap` opens a function call (`fc-…`); a `.remote()`/`.spawn()` sends its one
  input with it, a `.map()` sends its inputs with `FunctionPutInputs`;
- every input starts at once, in a thread of its own (`runner.Runner` runs it): a
  bounded pool would deadlock as soon as functions call each other;
- `FunctionGetOutputs` long-polls: by index (`.remote()`, `.get()`), or from a cursor
  (`.map()`, whose client reorders outputs itself);
- `FunctionCallGetDataOut` streams a generator's items, `FunctionCallFromId`,
  `FunctionFinishInputs` and `FunctionCallCancel` serve `FunctionCall`s and `spawn_map`,
  `BlobGet` (with the server's HTTP GET) serves large arguments and results.

Retries follow the function's policy on the server side, without the delays (the
client is told `sync_client_retries_enabled=False`, as Modal's server-side retries do).
A function's `timeout` is reported as a timeout once it passes, but the thread goes on
(Python cannot stop it); its late result is dropped.

All bookkeeping of calls happens on the server's event loop; worker threads hand their
results back with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import empty_pb2
from google.protobuf.json_format import ParseDict
from grpclib import Status
from modal_proto import api_pb2

from .runner import TASK_ID, TERMINATED, TIMEOUT, Outcome, Runner, Target, internal_failure
from .servicer import ControlPlaneServicer, fail

log = logging.getLogger("modalc.control_plane")

# The client's own limits (modal._utils.blob_utils): results bigger than this go through a blob.
MAX_OBJECT_SIZE_BYTES = 2 * 1024 * 1024
MAX_ASYNC_OBJECT_SIZE_BYTES = 8 * 1024
MAX_INPUTS_OUTSTANDING = 1000
_ASYNC = api_pb2.FUNCTION_CALL_INVOCATION_TYPE_ASYNC
_UNARY = api_pb2.FUNCTION_CALL_TYPE_UNARY


def _jwt(payload: dict[str, Any]) -> str:
    """An unsigned JWT: the client decodes (never verifies) the payload of input JWTs."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


@dataclass
class _Input:
    idx: int
    input_id: str
    item: api_pb2.FunctionInput
    args: bytes
    retry_count: int = 0


@dataclass
class _Unit:
    """What runs at once: one input, or one batch of a `@modal.batched` function."""

    inputs: list[_Input]
    attempt: int = 0
    items_sent: int = 0
    abandoned: bool = False  # timed out or cancelled: whatever the thread still sends is dropped


@dataclass
class _Call:
    """One function call (`fc-…`): its inputs, outputs and generator items."""

    call_id: str
    target: Target
    invocation_type: int
    num_inputs: int | None = None
    inputs: dict[int, _Input] = field(default_factory=dict)
    outputs: dict[int, api_pb2.FunctionGetOutputsItem] = field(default_factory=dict)
    entries: list[int] = field(default_factory=list)  # idx of each output, in completion order: the map cursor
    chunks: list[api_pb2.DataChunk] = field(default_factory=list)
    units: list[_Unit] = field(default_factory=list)
    blob_ids: list[str] = field(default_factory=list)  # its arguments' and results' blobs, freed with it
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    @property
    def unfinished(self) -> int:
        return sum(1 for idx in self.inputs if idx not in self.outputs)


class ExecutingServicer(ControlPlaneServicer):
    """The deploy-only servicer, plus ephemeral apps and in-process execution of function calls."""

    executes = True
    keeps_blob_data = True

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.runner = Runner()
        self._calls: dict[str, _Call] = {}
        self._bound: dict[str, tuple[str, bytes]] = {}  # bound id -> (class service function id, params)
        self._tasks: set[asyncio.Task[None]] = set()

    def started(self, loop: asyncio.AbstractEventLoop, url: str) -> None:
        super().started(loop, url)
        self.runner.server_url = url

    def stopping(self) -> None:
        super().stopping()
        for call in self._calls.values():
            call.notify()

    # -- apps -----------------------------------------------------------------------------

    def AppPublish(self, req: api_pb2.AppPublishRequest) -> api_pb2.AppPublishResponse:
        if req.app_state == api_pb2.APP_STATE_DEPLOYED:
            return super().AppPublish(req)
        ref = self._app(req.app_id)
        if ref.draft is None:
            fail(Status.FAILED_PRECONDITION, f"App '{req.app_id}' is deployed: it cannot be run as well")
        for tag, function_id in req.function_ids.items():
            if function_id not in self._functions:
                fail(Status.FAILED_PRECONDITION, f"Function '{tag}' ({function_id}) was not created")
        # Running, until AppClientDisconnect (ephemeral) or AppStop; drafts are never persisted.
        ref.draft["state"] = "detached" if req.app_state == api_pb2.APP_STATE_DETACHED else "ephemeral"
        page = f"https://modal.com/apps/{self.state.workspace}/{ref.environment}/{req.app_id}"
        return api_pb2.AppPublishResponse(url=page)

    def AppClientDisconnect(self, req: api_pb2.AppClientDisconnectRequest) -> empty_pb2.Empty:
        reply = super().AppClientDisconnect(req)
        draft = self._drafts.get(req.app_id)
        if draft is not None and draft["state"] == "stopped":
            self._forget_app(req.app_id)
        return reply

    def AppStop(self, req: api_pb2.AppStopRequest) -> empty_pb2.Empty:
        reply = super().AppStop(req)
        self._forget_app(req.app_id)
        return reply

    def _forget_app(self, app_id: str) -> None:
        # A stopped app's calls and instances go (bounded memory for a long-lived server);
        # threads still running finish into calls nobody can reach any more.
        for call_id in [c for c, call in self._calls.items() if call.target.app_id == app_id]:
            call = self._calls.pop(call_id)
            for unit in call.units:
                unit.abandoned = True
            for blob_id in call.blob_ids:
                self._blobs.pop(blob_id, None)
            call.notify()
        self.runner.forget_app(app_id)

    # -- functions --------------------------------------------------------------------------

    def FunctionCreate(self, req: api_pb2.FunctionCreateRequest) -> api_pb2.FunctionCreateResponse:
        reply = super().FunctionCreate(req)
        self.runner.forget(reply.function_id)  # a redeploy keeps the id, not the code
        return reply

    def FunctionBindParams(self, req: api_pb2.FunctionBindParamsRequest) -> api_pb2.FunctionBindParamsResponse:
        reply = super().FunctionBindParams(req)
        self._bound[reply.bound_function_id] = (req.function_id, req.serialized_params)
        return reply

    def _target(self, function_id: str) -> Target:
        service_id, params = self._bound.get(function_id, (function_id, b""))
        stored = self._functions.get(service_id)
        if stored is not None:
            return Target(service_id, function_id, params, stored["data"], stored["app_id"])
        # Deployed before a restart of the server: the persisted layout still describes it.
        for env in self.state.environments.values():
            for entry in env["apps"].values():
                for obj in entry.get("objects", {}).values():
                    if obj["id"] == service_id and obj["kind"] == "function":
                        data = ParseDict(obj["function_data"], api_pb2.FunctionData())
                        return Target(service_id, function_id, params, data, entry["app_id"])
        fail(Status.NOT_FOUND, f"Function '{function_id}' not found")

    # -- function calls ---------------------------------------------------------------------

    def _get_call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            fail(Status.NOT_FOUND, f"Function call '{call_id}' not found")
        return call

    def FunctionMap(self, req: api_pb2.FunctionMapRequest) -> api_pb2.FunctionMapResponse:
        target = self._target(req.function_id)
        call_id = self.state.new_id("fc")
        call = self._calls[call_id] = _Call(call_id, target, req.function_call_invocation_type)
        if req.function_call_type == _UNARY:
            call.num_inputs = 1
        items = self._add_inputs(call, req.pipelined_inputs)
        definition = target.definition
        return api_pb2.FunctionMapResponse(
            function_call_id=call_id,
            function_call_jwt=_jwt({"function_id": req.function_id, "function_call_id": call_id}),
            pipelined_inputs=items,
            retry_policy=definition.retry_policy if definition.HasField("retry_policy") else None,
            # False: retries are the server's business (done here, without the delays).
            sync_client_retries_enabled=False,
            max_inputs_outstanding=MAX_INPUTS_OUTSTANDING,
        )

    def FunctionPutInputs(self, req: api_pb2.FunctionPutInputsRequest) -> api_pb2.FunctionPutInputsResponse:
        call = self._get_call(req.function_call_id)
        return api_pb2.FunctionPutInputsResponse(inputs=self._add_inputs(call, req.inputs))

    def _add_inputs(
        self, call: _Call, items: Sequence[api_pb2.FunctionPutInputsItem]
    ) -> list[api_pb2.FunctionPutInputsResponseItem]:
        added = []
        for item in items:
            if item.input.WhichOneof("args_oneof") == "args_blob_id":
                args = self.blob_data(item.input.args_blob_id)
                if args is None:
                    fail(Status.NOT_FOUND, f"Blob '{item.input.args_blob_id}' was never uploaded")
                call.blob_ids.append(item.input.args_blob_id)
            else:
                args = item.input.args
            new = _Input(item.idx, self.state.new_id("in"), item.input, args)
            call.inputs[item.idx] = new
            added.append(new)
        size = call.target.batch_max_size
        if size:
            # Batches form from the inputs of one request (a `.map()` sends up to 49 at a
            # time), so no timer is needed: `wait_ms` is not waited.
            for start in range(0, len(added), size):
                self._start(call, added[start : start + size])
        else:
            for new in added:
                self._start(call, [new])
        return [
            api_pb2.FunctionPutInputsResponseItem(
                idx=new.idx,
                input_id=new.input_id,
                input_jwt=_jwt(
                    {
                        "idx": new.idx,
                        "input_id": new.input_id,
                        "function_call_id": call.call_id,
                        "retry_count": new.retry_count,
                    }
                ),
            )
            for new in added
        ]

    def _start(self, call: _Call, inputs: list[_Input]) -> None:
        assert self.loop is not None
        unit = _Unit(inputs)
        call.units.append(unit)
        task = self.loop.create_task(self._execute(call, unit))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    def FunctionFinishInputs(self, req: api_pb2.FunctionFinishInputsRequest) -> empty_pb2.Empty:
        self._get_call(req.function_call_id).num_inputs = req.num_inputs
        return empty_pb2.Empty()

    def FunctionCallFromId(self, req: api_pb2.FunctionCallFromIdRequest) -> api_pb2.FunctionCallFromIdResponse:
        call = self._get_call(req.function_call_id)
        return api_pb2.FunctionCallFromIdResponse(
            function_call_id=call.call_id,
            num_inputs=call.num_inputs if call.num_inputs is not None else len(call.inputs),
            metadata=api_pb2.FunctionCallHandleMetadata(function_id=call.target.called_id, app_id=call.target.app_id),
        )

    def FunctionCallCancel(self, req: api_pb2.FunctionCallCancelRequest) -> empty_pb2.Empty:
        # A running thread cannot be stopped: its inputs end now as terminated, and what
        # the thread produces later is dropped.
        call = self._get_call(req.function_call_id)
        terminated = Outcome(TERMINATED, exception="the function call was cancelled")
        for unit in call.units:
            if not unit.abandoned and any(i.idx not in call.outputs for i in unit.inputs):
                unit.abandoned = True
                self._publish(call, unit.inputs, [terminated] * len(unit.inputs), time.time())
        return empty_pb2.Empty()

    async def FunctionGetOutputs(self, req: api_pb2.FunctionGetOutputsRequest) -> api_pb2.FunctionGetOutputsResponse:
        call = self._get_call(req.function_call_id)
        deadline = time.monotonic() + max(req.timeout, 0)
        by_index = req.HasField("start_idx")
        while True:
            if by_index:
                # `.remote()`, `.get()`, `FunctionCall.iter()`: the outputs of these indexes.
                indexes = sorted(i for i in call.outputs if req.start_idx <= i <= req.end_idx)
                last_entry_id = req.last_entry_id
            else:
                # `.map()`: the outputs completed since the cursor, in completion order.
                seen = _entry_number(req.last_entry_id)
                indexes = call.entries[seen : seen + req.max_values] if req.max_values else call.entries[seen:]
                last_entry_id = f"{seen + len(indexes)}-0"
            remaining = deadline - time.monotonic()
            if indexes or remaining <= 0 or self._closing or call.call_id not in self._calls:
                break
            changed = call.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return api_pb2.FunctionGetOutputsResponse(
            outputs=[call.outputs[i] for i in indexes],
            last_entry_id=last_entry_id,
            num_unfinished_inputs=call.unfinished,
        )

    async def FunctionCallGetDataOut(self, req: api_pb2.FunctionCallGetDataRequest) -> AsyncIterator[api_pb2.DataChunk]:
        """A generator's items after `last_index`, as they come.

        The stream stays open: the client closes it once it has all the items (it reopens
        a stream that ends, at once), and the server's stop ends it.
        """
        call = self._get_call(req.function_call_id)
        sent = req.last_index
        while not self._closing and call.call_id in self._calls:
            for chunk in call.chunks[sent:]:
                sent = chunk.index
                yield chunk
            changed = call.changed
            if len(call.chunks) <= sent:
                await changed.wait()

    def BlobGet(self, req: api_pb2.BlobGetRequest) -> api_pb2.BlobGetResponse:
        if self.blob_data(req.blob_id) is None:
            fail(Status.NOT_FOUND, f"Blob '{req.blob_id}' not found")
        return api_pb2.BlobGetResponse(download_url=f"{self.blob_base_url}/blobs/{req.blob_id}")

    def _new_blob(self, call: _Call, data: bytes) -> str:
        blob_id = self.state.new_id("bl")
        self._blobs[blob_id] = {"size": len(data), "data": data}
        call.blob_ids.append(blob_id)
        return blob_id

    # -- running ----------------------------------------------------------------------------

    async def _execute(self, call: _Call, unit: _Unit) -> None:
        started = time.time()
        try:
            outcomes = await self._attempts(call, unit)
        except Exception as exc:  # a bug here: the client must still get an output, or it polls forever
            log.exception("modalc control plane: running %s failed", call.target.tag)
            outcomes = [internal_failure(f"modalc control plane bug: {exc!r}")] * len(unit.inputs)
        if not unit.abandoned:
            self._publish(call, unit.inputs, outcomes, started)

    async def _attempts(self, call: _Call, unit: _Unit) -> list[Outcome]:
        target = call.target
        arguments = [(i.item, i.args) for i in unit.inputs]
        outcomes: list[Outcome] = []
        for attempt in range(target.retries + 1):
            unit.attempt = attempt
            on_item = functools.partial(self._item_from_thread, call, unit, attempt)
            future = self._in_thread(functools.partial(self.runner.run, target, arguments, on_item), len(arguments))
            try:
                outcomes = await asyncio.wait_for(asyncio.shield(future), target.timeout)
            except TimeoutError:
                seconds = f"{target.timeout:g}"
                message = f"Task's current input {unit.inputs[0].input_id} hit its timeout of {seconds}s"
                outcomes = [Outcome(TIMEOUT, exception=message)] * len(unit.inputs)
            # A generator that already yielded is not run again: its items are out.
            if all(o.ok for o in outcomes) or unit.abandoned or unit.items_sent:
                break
            log.debug("retrying %s (attempt %d failed)", target.tag, attempt + 1)
        return outcomes

    def _in_thread(self, work: Callable[[], list[Outcome]], count: int) -> asyncio.Future[list[Outcome]]:
        """Run `work` in a new thread (one per input: nested calls must never wait for a free worker)."""
        assert self.loop is not None
        future: asyncio.Future[list[Outcome]] = self.loop.create_future()

        def settle(outcomes: list[Outcome]) -> None:
            if not future.done():
                future.set_result(outcomes)

        def thread() -> None:
            try:
                outcomes = work()
            except BaseException as exc:  # Runner.run does not raise; this is a last resort
                outcomes = [internal_failure(f"modalc control plane bug: {exc!r}")] * count
            self._from_thread(settle, outcomes)

        threading.Thread(target=thread, name="modalc-control-plane-input", daemon=True).start()
        return future

    def _from_thread(self, callback: Callable[..., None], *args: Any) -> None:
        assert self.loop is not None
        with contextlib.suppress(RuntimeError):  # the server has stopped: nobody is listening
            self.loop.call_soon_threadsafe(callback, *args)

    def _item_from_thread(
        self, call: _Call, unit: _Unit, attempt: int, data: bytes, data_format: api_pb2.DataFormat.ValueType
    ) -> None:
        self._from_thread(self._add_item, call, unit, attempt, data, data_format)

    def _add_item(
        self, call: _Call, unit: _Unit, attempt: int, data: bytes, data_format: api_pb2.DataFormat.ValueType
    ) -> None:
        if unit.abandoned or unit.attempt != attempt:
            return
        chunk = api_pb2.DataChunk(data_format=data_format, index=len(call.chunks) + 1)
        if len(data) > MAX_OBJECT_SIZE_BYTES:
            chunk.data_blob_id = self._new_blob(call, data)
        else:
            chunk.data = data
        call.chunks.append(chunk)
        unit.items_sent += 1
        call.notify()

    def _publish(self, call: _Call, inputs: list[_Input], outcomes: list[Outcome], started: float) -> None:
        limit = MAX_OBJECT_SIZE_BYTES
        if call.invocation_type == _ASYNC:
            limit = min(MAX_OBJECT_SIZE_BYTES, MAX_ASYNC_OBJECT_SIZE_BYTES)
        now = time.time()
        for new, outcome in zip(inputs, outcomes, strict=True):
            if new.idx in call.outputs:
                continue
            result = api_pb2.GenericResult(
                status=outcome.status,
                exception=outcome.exception,
                traceback=outcome.traceback,
                serialized_tb=outcome.serialized_tb,
                tb_line_cache=outcome.tb_line_cache,
            )
            if len(outcome.data) > limit:
                result.data_blob_id = self._new_blob(call, outcome.data)
            elif outcome.data:
                result.data = outcome.data
            call.outputs[new.idx] = api_pb2.FunctionGetOutputsItem(
                result=result,
                idx=new.idx,
                input_id=new.input_id,
                data_format=outcome.data_format,
                task_id=TASK_ID,
                input_started_at=started,
                output_created_at=now,
                retry_count=new.retry_count,
            )
            call.entries.append(new.idx)
        call.notify()


def _entry_number(last_entry_id: str) -> int:
    try:
        return max(int(last_entry_id.split("-")[0]), 0)
    except ValueError:
        return 0
