"""The RPC handlers of the fake control plane.

Handlers are methods named after the RPC, taking the request message and returning the
reply. Most are plain synchronous methods returning the reply (a list of replies for
server-streaming RPCs); they run on the server's event loop under the state lock, so each
one is atomic. Handlers that must wait (`AppGetLogs` here, the function-call RPCs of
`execution.py`) are `async def` methods or async generators: they run on the loop
without the lock and take it only around their own reads. Every RPC of
`modal_proto.api_grpc.ModalClientBase` without a handler here answers UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from google.protobuf import empty_pb2
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from .protos import function_data_from, named_id, stripped
from .records import CLASS_SERVICE_SUFFIX, Registry, deployment_record
from .state import ControlPlaneState
from .urls import web_url

_CREATE = api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING
_CREATE_NEW = api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS
_OVERWRITE = api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS
_ANONYMOUS = (
    api_pb2.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP,
    api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL,
)
_APP_STATES = {
    "initializing": api_pb2.APP_STATE_INITIALIZING,
    "deployed": api_pb2.APP_STATE_DEPLOYED,
    "stopped": api_pb2.APP_STATE_STOPPED,
    # `app.run()` apps of an executing server (never persisted: they live as drafts).
    "ephemeral": api_pb2.APP_STATE_EPHEMERAL,
    "detached": api_pb2.APP_STATE_DETACHED,
}
NOT_EXECUTING = (
    "modalc's local control plane was started without execution, so it accepts deploys only; "
    "to run functions (`app.run()`, `modal run`, `modalc run`), start it with `serve(state, execute=True)` "
    "or `python -m modalc.control_plane --execute`"
)
_SUCCESS = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS)


def fail(status: Status, message: str, details: Sequence[Message] | None = None) -> NoReturn:
    """Abort the current RPC with this gRPC status."""
    raise GRPCError(status, message, details)


def _is_app_id(text: str) -> bool:
    return text.startswith("ap-") and len(text) == 25 and text[3:].isalnum()


@dataclass
class _AppRef:
    """Where an app id lives: a published entry in the state, or an unpublished draft."""

    app_id: str
    environment: str
    name: str
    entry: dict[str, Any] | None
    draft: dict[str, Any] | None

    @property
    def record(self) -> dict[str, Any]:
        found = self.entry if self.entry is not None else self.draft
        assert found is not None
        return found


class ControlPlaneServicer:
    """Implements the RPCs a deploy, redeploy and lookups of modal 1.6 make."""

    # Whether function calls run (ExecutingServicer), and whether uploaded blob bytes are kept
    # (an executing server reads large function arguments from them).
    executes = False
    keeps_blob_data = False

    def __init__(self, state: ControlPlaneState) -> None:
        self.state = state
        self.reg = Registry()
        self.blob_base_url = ""
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        # Replaced by a fresh event at every app state change; waiters hold the old one.
        self._app_changed = asyncio.Event()
        self._closing = False
        self.calls: collections.deque[str] = collections.deque(maxlen=10_000)
        # The contents of named queues and dicts, by id (pickled values as the client sends them); in memory only.
        self._queue_items: dict[str, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        self._dict_items: dict[str, dict[bytes, bytes]] = collections.defaultdict(dict)
        self._drafts: dict[str, dict[str, Any]] = {}
        self._functions: dict[str, dict[str, Any]] = {}
        self._file_sizes: dict[str, int] = {}
        self._blobs: dict[str, dict[str, Any]] = {}
        self._image_ids: dict[tuple[bytes, str], str] = {}
        self._built_images: set[str] = set()
        from modal.mount import client_mount_name

        # The client mount object is created per function at decoration time, so it may
        # have been hydrated against another server: know its id from the start.
        self.reg.mount_names[named_id("mo", "global", client_mount_name())] = client_mount_name()

    # -- lifecycle ---------------------------------------------------------------------

    def started(self, loop: asyncio.AbstractEventLoop, url: str) -> None:
        """Called on the server loop once it listens at `url`."""
        self.loop = loop
        self.url = url

    def stopping(self) -> None:
        """Called on the server loop before it closes: every waiting handler returns."""
        self._closing = True
        self._notify_apps()

    def _notify_apps(self) -> None:
        changed, self._app_changed = self._app_changed, asyncio.Event()
        changed.set()

    # -- helpers -----------------------------------------------------------------------

    def authenticate(self, metadata: Any) -> None:
        """Reject requests without a token, or with an unlisted one when tokens are configured."""
        token_id = metadata.get("x-modal-token-id", "")
        token_secret = metadata.get("x-modal-token-secret", "")
        if not token_id or not token_secret:
            fail(Status.UNAUTHENTICATED, "Token missing. Could not authenticate client.")
        allowed = self.state.tokens
        if allowed and {"token_id": token_id, "token_secret": token_secret} not in allowed:
            fail(
                Status.UNAUTHENTICATED,
                f"Invalid token: token id '{token_id}' is not accepted.",
            )

    def _env(self, name: str) -> str:
        resolved = self.state.resolve_environment(name)
        if resolved is None:
            fail(Status.NOT_FOUND, f"Environment '{name}' not found")
        return resolved

    def _index_named_objects(self) -> None:
        """Make named secrets/volumes resolvable by id even if the client hydrated them
        earlier (hydrated `from_name` objects are never looked up again by the client).
        """
        for env_name, env in self.state.environments.items():
            for name in env["secrets"]:
                ref = {"name": name, "environment": env_name}
                self.reg.secrets.setdefault(named_id("st", env_name, name), ref)
            for name in env["volumes"]:
                ref = {"name": name, "environment": env_name}
                self.reg.volumes.setdefault(named_id("vo", env_name, name), ref)

    def _app(self, app_id: str) -> _AppRef:
        if app_id in self._drafts:
            draft = self._drafts[app_id]
            return _AppRef(app_id, draft["environment"], draft["name"], None, draft)
        for env_name, env in self.state.environments.items():
            for name, entry in env["apps"].items():
                if entry["app_id"] == app_id:
                    return _AppRef(app_id, env_name, name, entry, None)
        fail(Status.NOT_FOUND, f"App '{app_id}' not found")

    def _lifecycle(self, ref: _AppRef) -> api_pb2.AppLifecycle:
        record = ref.record
        return api_pb2.AppLifecycle(app_state=_APP_STATES[record["state"]], version=record.get("version", 0))

    def _app_metadata(self, ref: _AppRef) -> api_pb2.AppHandleMetadata:
        objects = (ref.entry or {}).get("objects", {})
        return api_pb2.AppHandleMetadata(
            description=ref.name,
            app_id=ref.app_id,
            environment_name=ref.environment,
            lifecycle=self._lifecycle(ref),
            functions={
                tag: obj["id"]
                for tag, obj in objects.items()
                if obj["kind"] == "function" and not tag.endswith(CLASS_SERVICE_SUFFIX)
            },
        )

    def _web_url(
        self, ref: _AppRef, function_name: str, config: api_pb2.WebhookConfig
    ) -> tuple[str, api_pb2.WebUrlInfo]:
        url, truncated = web_url(
            workspace=self.state.workspace,
            web_suffix=self.state.environments[ref.environment]["web_suffix"],
            app_name=ref.name,
            function_name=function_name,
            label=config.requested_suffix,
        )
        return url, api_pb2.WebUrlInfo(truncated=truncated, has_unique_hash=truncated)

    def _method_handles(self, app_id: str, methods: Any) -> dict[str, api_pb2.FunctionHandleMetadata]:
        return {
            name: api_pb2.FunctionHandleMetadata(
                function_name=method.function_name,
                function_type=method.function_type,
                web_url=method.web_url,
                is_method=True,
                use_method_name=name,
                function_schema=method.function_schema,
                supported_input_formats=method.supported_input_formats,
                supported_output_formats=method.supported_output_formats,
                app_id=app_id,
            )
            for name, method in methods.items()
        }

    def _stored_function(self, ref: _AppRef, tag: str) -> tuple[str, dict[str, Any]]:
        obj = (ref.entry or {}).get("objects", {}).get(tag)
        if obj is None or obj["kind"] != "function":
            details = []
            if obj is not None:
                details = [api_pb2.FunctionLookupError(reason=api_pb2.FunctionLookupError.REASON_CLASS_NAME_USED)]
            fail(
                Status.NOT_FOUND,
                f"Function '{tag}' not found in app '{ref.name}'",
                details,
            )
        return obj["id"], obj

    def _deployed(self, env_name: str, app_name: str) -> _AppRef:
        env = self._env(env_name)
        entry = self.state.app(env, app_name)
        if entry is None or entry["state"] != "deployed":
            fail(Status.NOT_FOUND, f"App '{app_name}' not found in environment '{env}'")
        return _AppRef(entry["app_id"], env, app_name, entry, None)

    # -- client, workspace, environments --------------------------------------------------

    def ClientHello(self, req: empty_pb2.Empty) -> api_pb2.ClientHelloResponse:
        return api_pb2.ClientHelloResponse()

    def WorkspaceNameLookup(self, req: empty_pb2.Empty) -> api_pb2.WorkspaceNameLookupResponse:
        return api_pb2.WorkspaceNameLookupResponse(workspace_name=self.state.workspace, username="modalc")

    def WorkspaceBillingRates(self, req: api_pb2.WorkspaceBillingRatesRequest) -> api_pb2.WorkspaceBillingRatesResponse:
        return api_pb2.WorkspaceBillingRatesResponse(rates=dict(self.state.billing_rates))

    def EnvironmentGetOrCreate(
        self, req: api_pb2.EnvironmentGetOrCreateRequest
    ) -> api_pb2.EnvironmentGetOrCreateResponse:
        name = req.deployment_name or self.state.default_environment
        if name not in self.state.environments:
            if req.object_creation_type != _CREATE:
                fail(Status.NOT_FOUND, f"Environment '{name}' not found")
            self.state.add_environment(name)
        settings = api_pb2.EnvironmentSettings(
            image_builder_version=self.state.image_builder_version,
            webhook_suffix=self.state.environments[name]["web_suffix"],
        )
        return api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=named_id("en", "", name),
            metadata=api_pb2.EnvironmentMetadata(name=name, settings=settings),
        )

    def EnvironmentList(self, req: empty_pb2.Empty) -> api_pb2.EnvironmentListResponse:
        return api_pb2.EnvironmentListResponse(
            items=[
                api_pb2.EnvironmentListItem(
                    name=name,
                    webhook_suffix=env["web_suffix"],
                    default=name == self.state.default_environment,
                    image_builder_version=self.state.image_builder_version,
                    environment_id=named_id("en", "", name),
                )
                for name, env in sorted(self.state.environments.items())
            ]
        )

    def EnvironmentCreate(self, req: api_pb2.EnvironmentCreateRequest) -> empty_pb2.Empty:
        if req.name in self.state.environments:
            fail(Status.ALREADY_EXISTS, f"Environment '{req.name}' already exists")
        self.state.add_environment(req.name)
        return empty_pb2.Empty()

    # -- apps -----------------------------------------------------------------------------

    def AppGetByDeploymentName(
        self, req: api_pb2.AppGetByDeploymentNameRequest
    ) -> api_pb2.AppGetByDeploymentNameResponse:
        env = self._env(req.environment_name)
        entry = self.state.app(env, req.name)
        resp = api_pb2.AppGetByDeploymentNameResponse(environment_name=env)
        if entry is not None:
            ref = _AppRef(entry["app_id"], env, req.name, entry, None)
            resp.lifecycle.CopyFrom(self._lifecycle(ref))
            if entry["state"] == "deployed":
                resp.app_id = entry["app_id"]
            else:
                resp.previous_app_id = entry["app_id"]
        return resp

    def AppCreate(self, req: api_pb2.AppCreateRequest) -> api_pb2.AppCreateResponse:
        env = self._env(req.environment_name)
        if not self.executes and req.app_state in (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED):
            # Refused before anything is created or uploaded, rather than at AppPublish.
            fail(Status.UNIMPLEMENTED, NOT_EXECUTING)
        app_id = self.state.new_id("ap")
        self._drafts[app_id] = {
            "environment": env,
            "name": req.description,
            "state": "initializing",
            "tags": dict(req.tags),
        }
        page = f"https://modal.com/apps/{self.state.workspace}/{env}/{app_id}"
        return api_pb2.AppCreateResponse(app_id=app_id, app_page_url=page, app_logs_url=page)

    def AppGetOrCreate(self, req: api_pb2.AppGetOrCreateRequest) -> api_pb2.AppGetOrCreateResponse:
        if _is_app_id(req.app_name):
            ref = self._app(req.app_name)
        else:
            env = self._env(req.environment_name)
            entry = self.state.app(env, req.app_name)
            if entry is None or entry["state"] != "deployed":
                if req.object_creation_type != _CREATE:
                    fail(
                        Status.NOT_FOUND,
                        f"App '{req.app_name}' not found in environment '{env}'",
                    )
                entry = {
                    "app_id": self.state.new_id("ap"),
                    "state": "deployed",
                    "tags": {},
                    "version": 0,
                    "history": [],
                    "objects": {},
                }
                self.state.environments[env]["apps"][req.app_name] = entry
                self.state.touch()
            ref = _AppRef(entry["app_id"], env, req.app_name, entry, None)
        return api_pb2.AppGetOrCreateResponse(app_id=ref.app_id, handle_metadata=self._app_metadata(ref))

    def AppGetInfo(self, req: api_pb2.AppGetInfoRequest) -> api_pb2.AppGetInfoResponse:
        return api_pb2.AppGetInfoResponse(info=self._app_metadata(self._app(req.app_id)))

    def AppGetLifecycle(self, req: api_pb2.AppGetLifecycleRequest) -> api_pb2.AppGetLifecycleResponse:
        return api_pb2.AppGetLifecycleResponse(lifecycle=self._lifecycle(self._app(req.app_id)))

    def AppGetLayout(self, req: api_pb2.AppGetLayoutRequest) -> api_pb2.AppGetLayoutResponse:
        ref = self._app(req.app_id)
        layout = api_pb2.AppLayout()
        for tag, obj in (ref.entry or {}).get("objects", {}).items():
            if obj["kind"] == "class":
                layout.class_ids[tag] = obj["id"]
                continue
            layout.function_ids[tag] = obj["id"]
            handle = ParseDict(obj["handle"], api_pb2.FunctionHandleMetadata())
            layout.objects.add(object_id=obj["id"], function_handle_metadata=handle)
        return api_pb2.AppGetLayoutResponse(app_layout=layout)

    def AppHeartbeat(self, req: api_pb2.AppHeartbeatRequest) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def AppClientDisconnect(self, req: api_pb2.AppClientDisconnectRequest) -> empty_pb2.Empty:
        # Like Modal: a disconnect stops an app that was never deployed (a failed deploy, or
        # the end of an `app.run()`), but neither a deployed nor a detached one.
        draft = self._drafts.get(req.app_id)
        if draft is not None:
            if draft["state"] != "detached":
                draft["state"] = "stopped"
            draft["disconnected"] = True
            self._notify_apps()
        return empty_pb2.Empty()

    async def AppGetLogs(self, req: api_pb2.AppGetLogsRequest) -> AsyncIterator[api_pb2.TaskLogsBatch]:
        """No logs are ever produced (executed code prints to this process's own stdout).

        The stream says `app_done` once the app has stopped (or, for a detached app, once
        its client has disconnected: no log will ever come), and otherwise ends after the
        request's timeout, when the client asks again. That is what lets `app.run()`
        (whose log loop runs whenever output is enabled, as under `modal run`) finish at
        once, even after a failed start, instead of waiting for its logs timeout.
        """
        deadline = time.monotonic() + max(req.timeout, 0)
        while True:
            with self.state.lock:
                done = self._app_done(req.app_id)
            if done or self._closing:
                if done:
                    yield api_pb2.TaskLogsBatch(app_done=True)
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            changed = self._app_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _app_done(self, app_id: str) -> bool:
        if not app_id:  # logs of a task or a sandbox: there are none
            return True
        record = self._app(app_id).record
        return record["state"] == "stopped" or bool(record.get("disconnected"))

    def AppPublish(self, req: api_pb2.AppPublishRequest) -> api_pb2.AppPublishResponse:
        ref = self._app(req.app_id)
        self._index_named_objects()
        if req.app_state != api_pb2.APP_STATE_DEPLOYED:
            fail(Status.UNIMPLEMENTED, NOT_EXECUTING)
        name = req.name or ref.name
        previous = self.state.app(ref.environment, name)
        same_app = previous is not None and previous["app_id"] == req.app_id
        version = (previous["version"] if same_app and previous else 0) + 1
        functions: dict[str, api_pb2.FunctionData] = {}
        objects: dict[str, dict[str, Any]] = {}
        for tag, function_id in req.function_ids.items():
            stored = self._functions.get(function_id)
            if stored is None:
                fail(
                    Status.FAILED_PRECONDITION,
                    f"Function '{tag}' ({function_id}) was not created",
                )
            functions[tag] = stored["data"]
            objects[tag] = {
                "kind": "function",
                "id": function_id,
                "handle": MessageToDict(stored["handle"]),
                "function_data": MessageToDict(stripped(stored["data"])),
            }
        for tag, class_id in req.class_ids.items():
            objects[tag] = {"kind": "class", "id": class_id}
        history = list(previous["history"]) if same_app and previous else []
        history.append({"version": version, "tag": req.deployment_tag or None})
        self.state.environments[ref.environment]["apps"][name] = {
            "app_id": req.app_id,
            "state": "deployed",
            "tags": dict(sorted(req.tags.items())),
            "version": version,
            "history": history,
            "objects": dict(sorted(objects.items())),
        }
        self._drafts.pop(req.app_id, None)
        self.state.deployments.append(
            deployment_record(
                app=name,
                environment=ref.environment,
                version=version,
                deployment_tag=req.deployment_tag,
                tags=dict(req.tags),
                functions=functions,
                reg=self.reg,
                image_keys=self.state.last_image_keys,
            )
        )
        self.state.touch()
        url = f"https://modal.com/apps/{self.state.workspace}/{ref.environment}/deployed/{name}"
        return api_pb2.AppPublishResponse(url=url, deployed_at=time.time())

    def AppDeploymentHistory(self, req: api_pb2.AppDeploymentHistoryRequest) -> api_pb2.AppDeploymentHistoryResponse:
        ref = self._app(req.app_id)
        history = ref.record.get("history", [])
        return api_pb2.AppDeploymentHistoryResponse(
            app_deployment_histories=[
                api_pb2.AppDeploymentHistory(
                    app_id=ref.app_id,
                    version=h["version"],
                    tag=h["tag"] or "",
                    deployed_by="modalc",
                )
                for h in reversed(history)
            ]
        )

    def AppList(self, req: api_pb2.AppListRequest) -> api_pb2.AppListResponse:
        env = self._env(req.environment_name)
        items = []
        for name, entry in sorted(self.state.environments[env]["apps"].items()):
            ref = _AppRef(entry["app_id"], env, name, entry, None)
            items.append(
                api_pb2.AppListResponse.AppListItem(
                    app_id=ref.app_id,
                    description=name,
                    name=name,
                    state=_APP_STATES[entry["state"]],
                    metadata=self._app_metadata(ref),
                )
            )
        return api_pb2.AppListResponse(apps=items)

    def AppStop(self, req: api_pb2.AppStopRequest) -> empty_pb2.Empty:
        ref = self._app(req.app_id)
        ref.record["state"] = "stopped"
        self.state.touch()
        self._notify_apps()
        return empty_pb2.Empty()

    def AppGetTags(self, req: api_pb2.AppGetTagsRequest) -> api_pb2.AppGetTagsResponse:
        return api_pb2.AppGetTagsResponse(tags=self._app(req.app_id).record.get("tags", {}))

    def AppSetTags(self, req: api_pb2.AppSetTagsRequest) -> empty_pb2.Empty:
        self._app(req.app_id).record["tags"] = dict(sorted(req.tags.items()))
        self.state.touch()
        return empty_pb2.Empty()

    def TaskList(self, req: api_pb2.TaskListRequest) -> api_pb2.TaskListResponse:
        return api_pb2.TaskListResponse()

    # -- secrets, volumes -----------------------------------------------------------------

    def SecretGetOrCreate(self, req: api_pb2.SecretGetOrCreateRequest) -> api_pb2.SecretGetOrCreateResponse:
        env = self._env(req.environment_name)
        if req.object_creation_type in _ANONYMOUS:
            secret_id = self.state.new_id("st")
            keys = sorted(req.env_dict)
            self.reg.secrets[secret_id] = {"inline_keys": keys}
            return api_pb2.SecretGetOrCreateResponse(
                secret_id=secret_id,
                metadata=api_pb2.SecretMetadata(keys=keys, environment_name=env),
            )
        name = req.deployment_name
        secrets = self.state.environments[env]["secrets"]
        exists = name in secrets
        if req.object_creation_type == _CREATE_NEW and exists:
            fail(
                Status.ALREADY_EXISTS,
                f"Secret '{name}' already exists in environment '{env}'",
            )
        if req.object_creation_type in (_CREATE_NEW, _OVERWRITE) or (
            req.object_creation_type == _CREATE and not exists
        ):
            self.state.add_secret(env, name, req.env_dict)
        elif not exists and self.state.permissive:
            self.state.add_secret(env, name, list(req.required_keys))
        elif not exists:
            fail(Status.NOT_FOUND, f"Secret '{name}' not found in environment '{env}'")
        keys = secrets[name]["keys"]
        if missing := [k for k in req.required_keys if k not in keys]:
            # Modal answers FAILED_PRECONDITION with this text (the Python client raises
            # modal.exception.ConflictError for it; Modal's JS/Go SDKs map it to NotFound).
            fail(
                Status.FAILED_PRECONDITION,
                f"Secret is missing key(s): {', '.join(missing)}",
            )
        secret_id = named_id("st", env, name)
        self.reg.secrets[secret_id] = {"name": name, "environment": env}
        return api_pb2.SecretGetOrCreateResponse(
            secret_id=secret_id,
            metadata=api_pb2.SecretMetadata(name=name, keys=keys, environment_name=env),
        )

    def _store(self, kind: str, req: Any) -> tuple[str, str]:
        """A named queue or dict: found, created if the request says so, else NOT_FOUND (as Modal answers)."""
        env = self._env(req.environment_name)
        name = req.deployment_name
        prefix = {"queues": "qu", "dicts": "di"}[kind]
        if req.object_creation_type in _ANONYMOUS:
            return self.state.new_id(prefix), env
        stores = self.state.environments[env][kind]
        if name not in stores:
            if req.object_creation_type in (_CREATE, _CREATE_NEW) or self.state.permissive:
                self.state.add_store(env, kind, name)
            else:
                fail(Status.NOT_FOUND, f"{kind[:-1].capitalize()} '{name}' not found in environment '{env}'")
        return named_id(prefix, env, name), env

    def QueuePut(self, req: api_pb2.QueuePutRequest) -> empty_pb2.Empty:
        self._queue_items[req.queue_id].extend(req.values)
        return empty_pb2.Empty()

    def QueueGet(self, req: api_pb2.QueueGetRequest) -> api_pb2.QueueGetResponse:
        # What is there now, at most n_values; the client asks again until its own timeout.
        items = self._queue_items[req.queue_id]
        values = [items.popleft() for _ in range(min(len(items), max(req.n_values, 1)))]
        return api_pb2.QueueGetResponse(values=values)

    def QueueLen(self, req: api_pb2.QueueLenRequest) -> api_pb2.QueueLenResponse:
        return api_pb2.QueueLenResponse(len=len(self._queue_items[req.queue_id]))

    def DictUpdate(self, req: api_pb2.DictUpdateRequest) -> api_pb2.DictUpdateResponse:
        items = self._dict_items[req.dict_id]
        for entry in req.updates:
            if not (req.if_not_exists and entry.key in items):
                items[entry.key] = entry.value
        return api_pb2.DictUpdateResponse(created=True)

    def DictGet(self, req: api_pb2.DictGetRequest) -> api_pb2.DictGetResponse:
        items = self._dict_items[req.dict_id]
        return api_pb2.DictGetResponse(found=req.key in items, value=items.get(req.key, b""))

    def DictContains(self, req: api_pb2.DictContainsRequest) -> api_pb2.DictContainsResponse:
        return api_pb2.DictContainsResponse(found=req.key in self._dict_items[req.dict_id])

    def DictLen(self, req: api_pb2.DictLenRequest) -> api_pb2.DictLenResponse:
        return api_pb2.DictLenResponse(len=len(self._dict_items[req.dict_id]))

    def DictPop(self, req: api_pb2.DictPopRequest) -> api_pb2.DictPopResponse:
        items = self._dict_items[req.dict_id]
        return api_pb2.DictPopResponse(found=req.key in items, value=items.pop(req.key, b""))

    def DictClear(self, req: api_pb2.DictClearRequest) -> empty_pb2.Empty:
        self._dict_items[req.dict_id].clear()
        return empty_pb2.Empty()

    def DictContents(self, req: api_pb2.DictContentsRequest) -> list[api_pb2.DictEntry]:
        # A server stream of whole entries: the client reads the halves it asked for.
        return [api_pb2.DictEntry(key=key, value=value) for key, value in self._dict_items[req.dict_id].items()]

    def QueueClear(self, req: api_pb2.QueueClearRequest) -> empty_pb2.Empty:
        self._queue_items[req.queue_id].clear()
        return empty_pb2.Empty()

    def QueueGetOrCreate(self, req: api_pb2.QueueGetOrCreateRequest) -> api_pb2.QueueGetOrCreateResponse:
        queue_id, _ = self._store("queues", req)
        return api_pb2.QueueGetOrCreateResponse(
            queue_id=queue_id, metadata=api_pb2.QueueMetadata(name=req.deployment_name)
        )

    def DictGetOrCreate(self, req: api_pb2.DictGetOrCreateRequest) -> api_pb2.DictGetOrCreateResponse:
        dict_id, _ = self._store("dicts", req)
        return api_pb2.DictGetOrCreateResponse(dict_id=dict_id, metadata=api_pb2.DictMetadata(name=req.deployment_name))

    def VolumeGetOrCreate(self, req: api_pb2.VolumeGetOrCreateRequest) -> api_pb2.VolumeGetOrCreateResponse:
        env = self._env(req.environment_name)
        metadata = api_pb2.VolumeMetadata(name=req.deployment_name, version=req.version)
        if req.object_creation_type in _ANONYMOUS:
            volume_id = self.state.new_id("vo")
            self.reg.volumes[volume_id] = {"name": None, "environment": env}
            return api_pb2.VolumeGetOrCreateResponse(volume_id=volume_id, version=req.version, metadata=metadata)
        name = req.deployment_name
        volumes = self.state.environments[env]["volumes"]
        if name in volumes:
            if req.object_creation_type == _CREATE_NEW:
                fail(
                    Status.ALREADY_EXISTS,
                    f"Volume '{name}' already exists in environment '{env}'",
                )
        elif req.object_creation_type in (_CREATE, _CREATE_NEW) or self.state.permissive:
            self.state.add_volume(env, name, version=req.version)
        else:
            fail(Status.NOT_FOUND, f"Volume '{name}' not found in environment '{env}'")
        volume_id = named_id("vo", env, name)
        self.reg.volumes[volume_id] = {"name": name, "environment": env}
        # A volume keeps the file system version it was created with; a lookup's `version` does not change it.
        version = volumes[name].get("version", 0)
        metadata.version = version
        return api_pb2.VolumeGetOrCreateResponse(volume_id=volume_id, version=version, metadata=metadata)

    # -- mounts and blobs -------------------------------------------------------------------

    def MountBatchedCheckExistence(
        self, req: api_pb2.MountBatchedCheckExistenceRequest
    ) -> api_pb2.MountBatchedCheckExistenceResponse:
        missing = [h for h in req.sha256_hex_hashes if h not in self._file_sizes]
        return api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing)

    def MountPutFile(self, req: api_pb2.MountPutFileRequest) -> api_pb2.MountPutFileResponse:
        # An empty file arrives as data=b"": set but falsy, so test the oneof, not the bytes.
        which = req.WhichOneof("data_oneof")
        if which == "data":
            self._file_sizes[req.sha256_hex] = len(req.data)
        elif which == "data_blob_id":
            blob = self._blobs.get(req.data_blob_id)
            if blob is None or "size" not in blob:
                fail(Status.NOT_FOUND, f"Blob '{req.data_blob_id}' was never uploaded")
            self._file_sizes[req.sha256_hex] = blob["size"]
        return api_pb2.MountPutFileResponse(exists=req.sha256_hex in self._file_sizes)

    def MountGetOrCreate(self, req: api_pb2.MountGetOrCreateRequest) -> api_pb2.MountGetOrCreateResponse:
        env = self._app(req.app_id).environment if req.app_id else self._env(req.environment_name)
        files = sorted(
            (
                {
                    "path": f.filename,
                    "size": self._file_sizes.get(f.sha256_hex),
                    "sha256": f.sha256_hex,
                }
                for f in req.files
            ),
            key=lambda f: str(f["path"]),
        )
        if req.namespace == api_pb2.DEPLOYMENT_NAMESPACE_GLOBAL:
            # Modal-provided mounts (the client package, standalone Pythons) always exist.
            mount_id = named_id("mo", "global", req.deployment_name)
            self.reg.mount_names[mount_id] = req.deployment_name
        elif req.deployment_name:
            mount_id = named_id("mo", f"{env}/{req.namespace}", req.deployment_name)
            known = mount_id in self.reg.mounts
            if req.object_creation_type == api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED and not known:
                fail(
                    Status.NOT_FOUND,
                    f"Mount '{req.deployment_name}' not found in environment '{env}'",
                )
            if req.object_creation_type == _CREATE_NEW and known:
                fail(
                    Status.ALREADY_EXISTS,
                    f"Mount '{req.deployment_name}' already exists",
                )
            if req.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED:
                self.reg.mounts[mount_id] = files
        else:
            mount_id = self.state.new_id("mo")
            self.reg.mounts[mount_id] = files
        checksum = hashlib.sha256(
            "".join(f"{f['path']}:{f['sha256']}\n" for f in self.reg.mounts.get(mount_id, [])).encode()
        ).hexdigest()
        return api_pb2.MountGetOrCreateResponse(
            mount_id=mount_id,
            handle_metadata=api_pb2.MountHandleMetadata(content_checksum_sha256_hex=checksum),
        )

    def BlobCreate(self, req: api_pb2.BlobCreateRequest) -> api_pb2.BlobCreateResponse:
        if not self.blob_base_url:
            fail(Status.UNAVAILABLE, "blob uploads are not available on this server")
        blob_id = self.state.new_id("bl")
        self._blobs[blob_id] = {"expected_size": req.content_length}
        url = f"{self.blob_base_url}/blobs/{blob_id}"
        return api_pb2.BlobCreateResponse(
            blob_id=blob_id,
            blob_ids=[blob_id],
            upload_urls=api_pb2.UploadUrlList(items=[url]),
        )

    def blob_uploaded(self, blob_id: str, size: int, sha256_hex: str, data: bytes | None = None) -> bool:
        """Record an HTTP PUT to a blob URL; False if the blob id was never created.

        `data` is the uploaded bytes, given only when `keeps_blob_data` is set.
        """
        blob = self._blobs.get(blob_id)
        if blob is None:
            return False
        blob.update(size=size, sha256=sha256_hex)
        if data is not None:
            blob["data"] = data
        return True

    def blob_data(self, blob_id: str) -> bytes | None:
        """The bytes of a blob, for an HTTP GET of its URL; None if they are not kept."""
        return self._blobs.get(blob_id, {}).get("data")

    # -- images ---------------------------------------------------------------------------

    def ImageGetOrCreate(self, req: api_pb2.ImageGetOrCreateRequest) -> api_pb2.ImageGetOrCreateResponse:
        self._app(req.app_id)
        key = (req.image.SerializeToString(deterministic=True), req.builder_version)
        image_id = self._image_ids.get(key)
        if image_id is None:
            image_id = self._image_ids[key] = self.state.new_id("im")
            self.reg.images[image_id] = (req.image, req.builder_version)
        if req.force_build:
            self.reg.forced_images.add(image_id)
        metadata = api_pb2.ImageMetadata(image_builder_version=req.builder_version)
        resp = api_pb2.ImageGetOrCreateResponse(image_id=image_id, metadata=metadata)
        if image_id in self._built_images and not req.force_build:
            resp.result.CopyFrom(_SUCCESS)
        return resp

    def ImageJoinStreaming(self, req: api_pb2.ImageJoinStreamingRequest) -> list[api_pb2.ImageJoinStreamingResponse]:
        if req.image_id not in self.reg.images:
            fail(Status.NOT_FOUND, f"Image '{req.image_id}' not found")
        self._built_images.add(req.image_id)
        builder_version = self.reg.images[req.image_id][1]
        return [
            api_pb2.ImageJoinStreamingResponse(
                result=_SUCCESS,
                metadata=api_pb2.ImageMetadata(image_builder_version=builder_version),
                eof=True,
            )
        ]

    # -- functions and classes --------------------------------------------------------------

    def FunctionPrecreate(self, req: api_pb2.FunctionPrecreateRequest) -> api_pb2.FunctionPrecreateResponse:
        ref = self._app(req.app_id)
        function_id = req.existing_function_id or self.state.new_id("fu")
        methods = {}
        for name, method in req.method_definitions.items():
            copy = api_pb2.MethodDefinition()
            copy.CopyFrom(method)
            if copy.webhook_config.type:
                copy.web_url, _ = self._web_url(ref, copy.function_name, copy.webhook_config)
            methods[name] = copy
        url = ""
        if req.webhook_config.type:
            url, _ = self._web_url(ref, req.function_name, req.webhook_config)
        return api_pb2.FunctionPrecreateResponse(
            function_id=function_id,
            handle_metadata=api_pb2.FunctionHandleMetadata(
                function_name=req.function_name,
                function_type=req.function_type,
                web_url=url,
                method_handle_metadata=self._method_handles(req.app_id, methods),
                function_schema=req.function_schema,
                supported_input_formats=req.supported_input_formats,
                supported_output_formats=req.supported_output_formats,
                app_id=req.app_id,
            ),
        )

    def FunctionCreate(self, req: api_pb2.FunctionCreateRequest) -> api_pb2.FunctionCreateResponse:
        ref = self._app(req.app_id)
        if req.function_data.ranked_functions:
            data = api_pb2.FunctionData()
            data.CopyFrom(req.function_data)
        else:
            data = function_data_from(req.function)
        definitions: list[Any] = [data] + [r.function for r in data.ranked_functions]
        if data.webhook_config.type:
            url, info = self._web_url(ref, data.function_name, data.webhook_config)
            for d in definitions:
                d.web_url = url
                d.web_url_info.CopyFrom(info)
        for name, method in data.method_definitions.items():
            if method.webhook_config.type:
                url, info = self._web_url(ref, method.function_name, method.webhook_config)
                for d in definitions:
                    d.method_definitions[name].web_url = url
                    d.method_definitions[name].web_url_info.CopyFrom(info)
        function_id = req.existing_function_id or self.state.new_id("fu")
        first = data.ranked_functions[0].function
        handle = api_pb2.FunctionHandleMetadata(
            function_name=data.function_name,
            function_type=data.function_type,
            web_url=data.web_url,
            is_method=data.is_method,
            definition_id=self.state.new_id("de"),
            class_parameter_info=data.class_parameter_info,
            method_handle_metadata=self._method_handles(req.app_id, data.method_definitions),
            function_schema=data.function_schema,
            supported_input_formats=data.supported_input_formats,
            supported_output_formats=data.supported_output_formats,
            app_id=req.app_id,
        )
        self._functions[function_id] = {
            "app_id": req.app_id,
            "data": data,
            "handle": handle,
        }
        return api_pb2.FunctionCreateResponse(
            function_id=function_id,
            function=first,
            function_data=data,
            handle_metadata=handle,
        )

    def FunctionGet(self, req: api_pb2.FunctionGetRequest) -> api_pb2.FunctionGetResponse:
        ref = self._deployed(req.environment_name, req.app_name)
        function_id, obj = self._stored_function(ref, req.object_tag)
        return api_pb2.FunctionGetResponse(
            function_id=function_id,
            handle_metadata=ParseDict(obj["handle"], api_pb2.FunctionHandleMetadata()),
            function=ParseDict(obj["function_data"], api_pb2.FunctionData()),
        )

    def FunctionBindParams(self, req: api_pb2.FunctionBindParamsRequest) -> api_pb2.FunctionBindParamsResponse:
        handle = self._function_handle(req.function_id)
        bound_id = named_id("fu", req.function_id, req.serialized_params.hex())
        return api_pb2.FunctionBindParamsResponse(bound_function_id=bound_id, handle_metadata=handle)

    def _function_handle(self, function_id: str) -> api_pb2.FunctionHandleMetadata:
        if function_id in self._functions:
            handle: api_pb2.FunctionHandleMetadata = self._functions[function_id]["handle"]
            return handle
        for env in self.state.environments.values():
            for entry in env["apps"].values():
                for obj in entry.get("objects", {}).values():
                    if obj["id"] == function_id and obj["kind"] == "function":
                        return ParseDict(obj["handle"], api_pb2.FunctionHandleMetadata())
        fail(Status.NOT_FOUND, f"Function '{function_id}' not found")

    def ClassCreate(self, req: api_pb2.ClassCreateRequest) -> api_pb2.ClassCreateResponse:
        self._app(req.app_id)
        class_id = req.existing_class_id or self.state.new_id("cs")
        return api_pb2.ClassCreateResponse(class_id=class_id, handle_metadata=api_pb2.ClassHandleMetadata())

    def ClassGet(self, req: api_pb2.ClassGetRequest) -> api_pb2.ClassGetResponse:
        ref = self._deployed(req.environment_name, req.app_name)
        obj = ref.record["objects"].get(req.object_tag)
        if obj is None or obj["kind"] != "class":
            fail(
                Status.NOT_FOUND,
                f"Class '{req.object_tag}' not found in app '{ref.name}'",
            )
        return api_pb2.ClassGetResponse(class_id=obj["id"], handle_metadata=api_pb2.ClassHandleMetadata())
