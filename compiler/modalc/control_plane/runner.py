"""Running the Python code behind a function id, the way a Modal container would, minus the container.

Everything here runs in the worker thread of one input (or of one batch of a
`@modal.batched` function), never on the server's event loop: user code may block, and
it may call other functions (`.remote()`, `.map()`), whose inputs the loop must still
be free to serve. `Runner.run` never raises: whatever happens becomes an `Outcome`.

Finding the code of a function id, in order:

1. a modal object of this process hydrated with that id by a client of this server:
   the module `modalc run` (or a test) imported and is running with `app.run()`;
2. the pickled definition of a `serialized=True` function;
3. the module imported by name, as the container does (`FunctionData.module_name`,
   `implementation_name`): the case of a `modal run` subprocess, whose module only the
   server's own `sys.path` can provide.

This leans on private parts of the `modal` client (`_App._all_apps`, `_raw_f_`,
`get_user_class_instance`, `_find_callables_for_obj`, `deserialize_params`), which is
acceptable only because the client version is pinned (version.py).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from modal_proto import api_pb2

SUCCESS = api_pb2.GenericResult.GENERIC_STATUS_SUCCESS
FAILURE = api_pb2.GenericResult.GENERIC_STATUS_FAILURE
TIMEOUT = api_pb2.GenericResult.GENERIC_STATUS_TIMEOUT
TERMINATED = api_pb2.GenericResult.GENERIC_STATUS_TERMINATED
INTERNAL_FAILURE = api_pb2.GenericResult.GENERIC_STATUS_INTERNAL_FAILURE
PICKLE = api_pb2.DATA_FORMAT_PICKLE
GENERATOR_DONE = api_pb2.DATA_FORMAT_GENERATOR_DONE
TASK_ID = "ta-modalc-local"


@dataclass(frozen=True)
class Target:
    """What a called function id stands for.

    `function_id` is the function (or class service function) that FunctionCreate made;
    `called_id` is the id the client called: the same, or the id FunctionBindParams gave
    a class instance, whose serialized parameters are `params`.
    """

    function_id: str
    called_id: str
    params: bytes
    data: api_pb2.FunctionData
    app_id: str

    @property
    def definition(self) -> api_pb2.Function:
        """Rank 0 of the definition: where retries, timeout and batching live."""
        if self.data.ranked_functions:
            return self.data.ranked_functions[0].function
        return api_pb2.Function()

    @property
    def tag(self) -> str:
        return self.data.function_name

    @property
    def retries(self) -> int:
        definition = self.definition
        return definition.retry_policy.retries if definition.HasField("retry_policy") else 0

    @property
    def timeout(self) -> float | None:
        seconds = self.definition.timeout_secs or self.data.timeout_secs
        return float(seconds) if seconds else None

    @property
    def batch_max_size(self) -> int:
        return self.definition.batch_max_size

    def output_formats(self, method_name: str) -> Sequence[api_pb2.DataFormat.ValueType]:
        if method_name and method_name in self.data.method_definitions:
            return self.data.method_definitions[method_name].supported_output_formats
        return self.data.supported_output_formats


@dataclass
class Outcome:
    """The result of one input, serialized in the worker thread."""

    status: api_pb2.GenericResult.GenericStatus.ValueType
    data: bytes = b""
    data_format: api_pb2.DataFormat.ValueType = PICKLE
    exception: str = ""
    traceback: str = ""
    serialized_tb: bytes = b""
    tb_line_cache: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


def failure(exc: BaseException) -> Outcome:
    """A user exception, pickled so that the client re-raises its own type, remote frames appended."""
    from modal._serialization import pickle_exception, pickle_traceback

    serialized_tb, tb_line_cache = pickle_traceback(exc, TASK_ID)
    return Outcome(
        FAILURE,
        data=pickle_exception(exc),
        exception=repr(exc),
        traceback="".join(traceback.format_exception(exc)),
        serialized_tb=serialized_tb,
        tb_line_cache=tb_line_cache,
    )


def internal_failure(message: str) -> Outcome:
    """A failure of the fake itself (the client raises modal.exception.InternalFailure)."""
    return Outcome(INTERNAL_FAILURE, exception=message)


@dataclass
class _Instance:
    """A class instance for one parameter set: a warm container's `self`, entered once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None
    app_id: str = ""


class Runner:
    """Finds and runs the code of function ids; keeps class instances, like warm containers."""

    def __init__(self) -> None:
        self.server_url = ""
        # How the code of each function id was found: "local", "serialized" or "imported".
        self.origins: dict[str, str] = {}
        self._lock = threading.Lock()
        self._code: dict[str, Any] = {}
        self._instances: dict[tuple[str, bytes], _Instance] = {}

    def forget(self, function_id: str) -> None:
        """A function was (re)created under this id: its code may have changed."""
        with self._lock:
            self._code.pop(function_id, None)
            self.origins.pop(function_id, None)
            for key in [k for k in self._instances if k[0] == function_id]:
                del self._instances[key]

    def forget_app(self, app_id: str) -> None:
        """An app stopped: its class instances go, as its containers would."""
        with self._lock:
            for key in [k for k, v in self._instances.items() if v.app_id == app_id]:
                del self._instances[key]

    # -- one attempt ---------------------------------------------------------------------

    def run(
        self,
        target: Target,
        inputs: Sequence[tuple[api_pb2.FunctionInput, bytes]],
        on_item: Callable[[bytes, api_pb2.DataFormat.ValueType], None],
    ) -> list[Outcome]:
        """Run one attempt of one input, or of one batch of a `@modal.batched` function.

        `inputs` pairs each FunctionInput with its argument bytes (from a blob if it had
        one). A generator's items go to `on_item(serialized, data_format)` as they come.
        Returns one Outcome per input; a failure is every input's failure, as in Modal.
        """
        try:
            return self._run(target, inputs, on_item)
        except BaseException as exc:  # SystemExit from user code too: it is the input's failure
            return [failure(exc)] * len(inputs)

    def _run(
        self,
        target: Target,
        inputs: Sequence[tuple[api_pb2.FunctionInput, bytes]],
        on_item: Callable[[bytes, api_pb2.DataFormat.ValueType], None],
    ) -> list[Outcome]:
        from modal._serialization import deserialize_data_format, serialize_data_format

        client = self._client()
        method_name = inputs[0][0].method_name
        arguments = [deserialize_data_format(data, item.data_format or PICKLE, client) for item, data in inputs]
        formats = [_output_format(item.data_format, target.output_formats(method_name)) for item, _ in inputs]
        function = self._callable(target, method_name, client)
        if target.batch_max_size:
            values = _settle(function(**_batch_arguments(function, arguments)))
            if not isinstance(values, list):
                raise _invalid(f"Output of batched function {target.tag} must be a list.")
            if len(values) != len(inputs):
                raise _invalid(f"Output of batched function {target.tag} must be a list of equal length as its inputs.")
            return [Outcome(SUCCESS, serialize_data_format(v, f), f) for v, f in zip(values, formats, strict=True)]
        args, kwargs = arguments[0]
        value = function(*args, **kwargs)
        if inspect.isgenerator(value) or inspect.isasyncgen(value):
            count = 0
            for item in _iterate(value):
                on_item(serialize_data_format(item, formats[0]), formats[0])
                count += 1
            done = api_pb2.GeneratorDone(items_total=count)
            return [Outcome(SUCCESS, serialize_data_format(done, GENERATOR_DONE), GENERATOR_DONE)]
        return [Outcome(SUCCESS, serialize_data_format(_settle(value), formats[0]), formats[0])]

    def _client(self) -> Any:
        """The client that modal objects among the arguments get (so that they can be called).

        In-process, that is the client singleton when it talks to this server; a separate
        server process has none, and such objects cannot be used there.
        """
        from modal.client import _Client

        client = _Client._client_from_env
        if client is not None and _same_server(client.server_url, self.server_url):
            return client
        return None

    # -- finding the code ------------------------------------------------------------------

    def _callable(self, target: Target, method_name: str, client: Any) -> Callable[..., Any]:
        code: Callable[..., Any] = self._code_of(target, client)
        if not target.data.is_class:
            return code
        from modal._partial_function import _find_callables_for_obj, _PartialFunctionFlags

        instance = self._instance(target, code, client)
        methods = _find_callables_for_obj(instance, _PartialFunctionFlags.interface_flags())
        if method_name not in methods:
            raise _execution_error(f"class {target.tag.removesuffix('.*')} has no method {method_name!r}")
        return methods[method_name]

    def _code_of(self, target: Target, client: Any) -> Any:
        with self._lock:
            code = self._code.get(target.function_id)
        if code is None:
            origin, code = self._find_code(target, client)
            with self._lock:
                self._code[target.function_id] = code
                self.origins[target.function_id] = origin
        return code

    def _find_code(self, target: Target, client: Any) -> tuple[str, Any]:
        """Where the code was found, and the raw function, or for a class a factory `(args, kwargs) -> instance`."""
        local = self._local_object(target)
        if local is not None:
            return "local", local
        definition = target.definition
        if definition.definition_type == api_pb2.Function.DEFINITION_TYPE_SERIALIZED and definition.function_serialized:
            from modal._serialization import deserialize

            return "serialized", deserialize(definition.function_serialized, client)
        return "imported", self._imported(target)

    def _local_object(self, target: Target) -> Any:
        """The object of this process hydrated with the function id, by a client of this server.

        Ids are counters that restart with every server, and `_App._all_apps` keeps every
        app ever built in the process: an object with the same id may belong to an earlier
        server. The app running under this very app id comes first; otherwise the object
        must match id, tag and the port of this server.
        """
        from modal.app import _App

        candidates: list[Any] = []
        for apps in list(_App._all_apps.values()):
            for app in list(apps):
                try:
                    local = app._local_state
                except AttributeError:  # an app that is not locally defined
                    continue
                function = local.functions.get(target.tag)
                if function is None or function._object_id != target.function_id:
                    continue
                running = app._running_app
                if running is not None and running.app_id == target.app_id:
                    candidates.insert(0, (local, function))
                elif function._client is not None and _same_server(function._client.server_url, self.server_url):
                    candidates.append((local, function))
        if not candidates:
            return None
        local, function = candidates[0]
        if not target.data.is_class:
            return function._raw_f_
        cls = local.classes.get(target.tag.removesuffix(".*"))
        return None if cls is None else _class_factory(cls)

    def _imported(self, target: Target) -> Any:
        import modal
        from modal._utils.async_utils import synchronizer

        module_name = target.data.module_name or target.definition.module_name
        name = (target.data.implementation_name or target.tag).removesuffix(".*")
        try:
            module = importlib.import_module(module_name)
            found = getattr(module, name)
        except Exception as exc:
            raise _execution_error(
                f"modalc's local control plane cannot find the code of {target.tag!r} ({target.function_id}): "
                f"no app of this process runs it, and importing {name!r} from module {module_name!r} failed "
                f"({type(exc).__name__}: {exc}). A server in another process than the client imports the module "
                "by name: start it where that module is importable (its directory, or PYTHONPATH)"
            ) from exc
        if isinstance(found, modal.Function):
            return synchronizer._translate_in(found)._raw_f_  # type: ignore[no-untyped-call]
        if isinstance(found, modal.Cls):
            return _class_factory(synchronizer._translate_in(found))  # type: ignore[no-untyped-call]
        if target.data.is_class and isinstance(found, type):
            return lambda args, kwargs: found(*args, **kwargs)
        return found

    def _instance(self, target: Target, factory: Callable[..., Any], client: Any) -> Any:
        """The instance for this parameter set, created and entered once (concurrent first calls wait)."""
        key = (target.function_id, target.params)
        with self._lock:
            slot = self._instances.get(key)
            if slot is None:
                slot = self._instances[key] = _Instance(app_id=target.app_id)
        with slot.lock:
            if slot.value is None:
                from modal._partial_function import _find_callables_for_obj, _PartialFunctionFlags
                from modal._serialization import deserialize_params

                args, kwargs = (
                    deserialize_params(target.params, target.definition, client) if target.params else ((), {})
                )
                instance = factory(args, kwargs)
                for flag in (_PartialFunctionFlags.ENTER_PRE_SNAPSHOT, _PartialFunctionFlags.ENTER_POST_SNAPSHOT):
                    for hook in _find_callables_for_obj(instance, flag).values():
                        _settle(hook())
                slot.value = instance
            return slot.value


def _class_factory(cls: Any) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    from modal._runtime.user_code_imports import get_user_class_instance

    # What the container does: parameters set, and `_entered` so that no enter hook runs twice.
    return lambda args, kwargs: get_user_class_instance(cls, args, kwargs)


def _same_server(url: str, other: str) -> bool:
    a, b = urllib.parse.urlparse(url), urllib.parse.urlparse(other)
    return bool(a.port) and a.port == b.port


def _output_format(
    input_format: api_pb2.DataFormat.ValueType, supported: Sequence[api_pb2.DataFormat.ValueType]
) -> api_pb2.DataFormat.ValueType:
    # As the container decides: the input's format if the function supports it.
    requested = input_format or PICKLE
    if requested in supported:
        return requested
    return supported[0] if supported else PICKLE


def _batch_arguments(function: Callable[..., Any], arguments: list[Any]) -> dict[str, list[Any]]:
    """The inputs of a batch as one list per parameter, checked like the container checks them."""
    names = list(inspect.signature(function).parameters)
    per_input: list[dict[str, Any]] = []
    for args, kwargs in arguments:
        if len(args) + len(kwargs) != len(names):
            raise _invalid(
                f"Modal batched function {function.__name__} takes {len(names)} positional arguments, "
                f"but one invocation in the batch has {len(args) + len(kwargs)}."
            )
        bound = dict(zip(names, args, strict=False))  # fewer positional than parameters: kwargs follow
        for key, value in kwargs.items():
            if key not in names or key in bound:
                raise _invalid(f"Modal batched function {function.__name__} got an unexpected argument {key}.")
            bound[key] = value
        per_input.append(bound)
    return {name: [bound[name] for bound in per_input] for name in names}


def _settle(value: Any) -> Any:
    """The value of a coroutine (async functions and hooks), on a private loop of this thread."""
    return asyncio.run(value) if inspect.iscoroutine(value) else value


def _iterate(generator: Any) -> Iterator[Any]:
    if inspect.isgenerator(generator):
        yield from generator
        return
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(generator.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(generator.aclose())
        loop.close()


def _invalid(message: str) -> Exception:
    from modal.exception import InvalidError

    return InvalidError(message)


def _execution_error(message: str) -> Exception:
    from modal.exception import ExecutionError

    return ExecutionError(message)
