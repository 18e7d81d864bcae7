"""`modalc deploy`: preflight, the no-op check, the confirmation, then the SDK's own deploy of the module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TypeVar

from . import compat, ir
from .prepare import DeployError, Prepared, count, environment_phrase, import_module, select_environment, user_packages
from .requirements import preflight

T = TypeVar("T")

# App tags published with each deployment (Modal tag values are limited to 63 characters). The deploy digest
# covers everything the deploy ships and decides the no-op; the module hash finds the reviewed module in git.
DEPLOY_DIGEST_TAG = "modalc.deploy-sha256"


MODULE_HASH_TAG = "modalc.module-sha256"


async def deployed_tags(app_name: str, modal_environment: str) -> dict[str, str] | None:
    """The tags of the deployed app, or None when it is not deployed."""
    import modal
    from modal.exception import NotFoundError

    try:
        deployed = await modal.App.lookup.aio(app_name, environment_name=modal_environment or None)
        return dict(await deployed.get_tags.aio())
    except NotFoundError:
        return None


def has_credentials() -> bool:
    return bool(compat.configured("token_id") and compat.configured("token_secret"))


# How long a call to the control plane may go unanswered before a deploy or plan gives up. The client retries
# an unreachable server for minutes (162 s for a server that accepts and never answers); a deploy's own build
# steps are not bounded by this, only the calls before it: preflight and the lookup of what is deployed.
ANSWER_SECONDS = 20.0
LOOKUP = "the lookup of what is deployed"


class NoAnswer(DeployError):
    """The control plane did not answer in time, closed the connection or answered with an HTTP error."""


def server_url() -> str:
    """The control plane the client talks to, as configured (Modal's default lists two; the first is tried)."""
    return (compat.configured("server_url") or "Modal").split(",")[0]


def within(seconds: float, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """`await call()`, or NoAnswer if the control plane does not answer in `seconds` or fails below Modal's errors.

    The call runs as a task that the timeout cancels (a thread left waiting would fail noisily at exit).
    """
    import asyncio

    try:
        return asyncio.run(asyncio.wait_for(_awaited(call), seconds))
    except TimeoutError:
        raise NoAnswer(f"{server_url()} did not answer {what} within {seconds:g} s") from None
    except compat.transport_errors() as error:
        if not compat.is_transport_error(error):
            raise
        raise NoAnswer(f"{server_url()} failed {what}: {compat.describe_transport_error(error)}") from None


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


def deployed_tags_within(app_name: str, modal_environment: str, seconds: float) -> dict[str, str] | None:
    """`deployed_tags`, or NoAnswer: an unreachable server makes the client retry for minutes."""
    return within(seconds, LOOKUP, lambda: deployed_tags(app_name, modal_environment))


async def _preflight_and_lookup(app: ir.App, modal_environment: str) -> tuple[list[str], dict[str, str] | None]:
    """Both at once: two round trips, whatever the number of secrets and volumes (issue 15)."""
    import asyncio

    problems, found = await asyncio.gather(
        preflight(app, modal_environment), deployed_tags(app.name, modal_environment)
    )
    return problems, found


def tag_deployment(module: ModuleType, prepared: Prepared) -> None:
    """Add modalc's tags to the app, so they are published with the deployment itself."""
    import modal

    tags = {DEPLOY_DIGEST_TAG: prepared.digest, MODULE_HASH_TAG: prepared.module_hash}
    prepared.modal_app(module).include(modal.App(tags=tags), inherit_tags=True)


@dataclass
class DeployOutcome:
    changed: bool
    endpoints: list[tuple[str, str]] = field(default_factory=list)


def deploy(
    prepared: Prepared,
    *,
    tag: str = "",
    strategy: str = "rolling",
    force: bool = False,
    confirm: Callable[[], bool] = lambda: True,
    show_progress: bool = True,
    say: Callable[[str], None] = print,
) -> DeployOutcome:
    """Preflight, no-op check, confirmation, then the SDK's own deploy of the committed module."""
    import modal

    app = prepared.app
    where = prepared.modal_environment
    select_environment(prepared.modal_environment)
    try:
        problems, found = within(ANSWER_SECONDS, f"preflight and {LOOKUP}", lambda: _preflight_and_lookup(app, where))
    except NoAnswer as error:
        raise NoAnswer(f"{error}; nothing was deployed") from None
    if problems:
        raise DeployError("preflight failed; nothing was deployed:\n" + "\n".join(f"  - {p}" for p in problems))
    digest = prepared.digest
    deployed = found or {}
    if not force and deployed.get(DEPLOY_DIGEST_TAG) == digest:
        say(
            f"{app.name}: no changes in {environment_phrase(prepared.modal_environment)} "
            f"(module {prepared.display_path} and {count(len(prepared.shipped_files), 'shipped file')}, "
            f"digest {digest}); nothing deployed (use --force to redeploy)"
        )
        return DeployOutcome(changed=False)
    if not confirm():
        raise DeployError("deploy cancelled; nothing was deployed")
    module = import_module(prepared.module_path, user_packages(app))
    tag_deployment(module, prepared)
    output = modal.enable_output() if show_progress else _nothing()
    try:
        with output, compat.quiet_heartbeats():
            prepared.modal_app(module).deploy(
                name=app.name, environment_name=prepared.modal_environment, tag=tag, strategy=strategy
            )
    except compat.transport_errors() as error:
        if not compat.is_transport_error(error):
            raise
        raise NoAnswer(
            f"the connection to {server_url()} failed during the deploy ({compat.describe_transport_error(error)}); "
            'it may not have completed: run `modalc deploy` again (it says "no changes" if it did)'
        ) from None
    endpoints = web_endpoints(module, app)
    say(
        f"{app.name}: deployed to {environment_phrase(prepared.modal_environment)} "
        f"(module {prepared.display_path}, digest {digest})"
    )
    for name, url in endpoints:
        say(f"  {name}: {url}")
    return DeployOutcome(changed=True, endpoints=endpoints)


def web_endpoints(module: ModuleType, app: ir.App) -> list[tuple[str, str]]:
    """(name, URL) of every web endpoint of a deployed module."""
    out = []
    for function in app.functions:
        if function.web is not None:
            out.append((function.name, getattr(module, function.name).get_web_url() or ""))
    for cls in app.classes:
        web_methods = [m for m in cls.methods if m.web is not None]
        if web_methods:
            urls = compat.class_web_urls(getattr(module, cls.name))
            out += [(f"{cls.name}.{m.name}", urls.get(m.name, "")) for m in web_methods]
    return out


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
