"""`modalc deploy`: preflight, the no-op check, the confirmation, then the SDK's own deploy of the module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from . import compat, ir
from .prepare import DeployError, Prepared, count, environment_phrase, import_module, select_environment, user_packages
from .requirements import preflight

# App tags published with each deployment (Modal tag values are limited to 63 characters). The deploy digest
# covers everything the deploy ships and decides the no-op; the module hash finds the reviewed module in git.
DEPLOY_DIGEST_TAG = "modalc.deploy-sha256"


MODULE_HASH_TAG = "modalc.module-sha256"


def deployed_tags(app_name: str, modal_environment: str) -> dict[str, str] | None:
    """The tags of the deployed app, or None when it is not deployed."""
    import modal
    from modal.exception import NotFoundError

    try:
        deployed = modal.App.lookup(app_name, environment_name=modal_environment or None)
        return dict(deployed.get_tags())
    except NotFoundError:
        return None


def has_credentials() -> bool:
    return bool(compat.configured("token_id") and compat.configured("token_secret"))


def deployed_tags_within(app_name: str, modal_environment: str, seconds: float) -> dict[str, str] | None:
    """`deployed_tags`, or TimeoutError: an unreachable server makes the client retry for a minute."""
    import threading

    answer: list[Any] = []

    def look() -> None:
        try:
            answer.append(deployed_tags(app_name, modal_environment))
        except BaseException as error:
            answer.append(error)

    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    thread.join(seconds)
    if not answer:
        raise TimeoutError(app_name)
    if isinstance(answer[0], BaseException):
        raise answer[0]
    tags: dict[str, str] | None = answer[0]
    return tags


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
    select_environment(prepared.modal_environment)
    problems = preflight(app, prepared.modal_environment)
    if problems:
        raise DeployError("preflight failed; nothing was deployed:\n" + "\n".join(f"  - {p}" for p in problems))
    digest = prepared.digest
    deployed = deployed_tags(app.name, prepared.modal_environment) or {}
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
    with output:
        prepared.modal_app(module).deploy(
            name=app.name, environment_name=prepared.modal_environment, tag=tag, strategy=strategy
        )
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
