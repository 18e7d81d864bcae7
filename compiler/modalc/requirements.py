"""What an environment needs to exist in Modal before it is deployed: its secrets, volumes, queues and dicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import ir
from .prepare import environment_phrase


@dataclass
class Requirement:
    kind: str  # "secret" | "volume" | "queue" | "dict"
    name: str
    alias: str
    required_keys: tuple[str, ...] = ()
    create_if_missing: bool = False
    used_by: list[str] = field(default_factory=list)
    environment: str | None = None  # looked up in this Modal environment, not the deploy's

    def where(self, modal_environment: str) -> str:
        """The Modal environment the lookup goes to."""
        return self.environment if self.environment is not None else modal_environment


def requirements(app: ir.App) -> list[Requirement]:
    """Every secret, volume, queue and dict the environment's module looks up by name, with who uses it."""
    secrets = {s.alias: s for s in app.secrets}
    volumes = {v.alias: v for v in app.volumes}
    buckets = {b.alias: b for b in app.cloud_buckets}
    found: dict[tuple[str, str], Requirement] = {}

    def need_secret(alias: str, user: str) -> None:
        secret = secrets[alias]
        entry = found.setdefault(
            ("secret", alias),
            Requirement("secret", secret.name, alias, secret.required_keys, environment=secret.environment),
        )
        if user not in entry.used_by:
            entry.used_by.append(user)

    def need_mounts(mounts: Iterable[ir.Mount], user: str) -> None:
        for mount in mounts:
            if mount.kind == "bucket":
                if buckets[mount.alias].secret:
                    need_secret(buckets[mount.alias].secret, user)  # type: ignore[arg-type]
                continue
            volume = volumes[mount.alias]
            entry = found.setdefault(
                ("volume", mount.alias),
                Requirement(
                    "volume",
                    volume.name,
                    mount.alias,
                    create_if_missing=volume.create_if_missing,
                    environment=volume.environment,
                ),
            )
            if user not in entry.used_by:
                entry.used_by.append(user)

    members = [("function", f.name, f.settings) for f in app.functions] + [
        ("class", c.name, c.settings) for c in app.classes
    ]
    for kind, name, settings in members:
        user = f"{kind} {name}"
        for alias in (*app.default_secrets, *settings.secrets):
            need_secret(alias, user)
        need_mounts((*app.default_mounts, *settings.mounts), user)
    for image in app.images:
        user = f"image {image.alias}"
        if image.registry_secret:
            need_secret(image.registry_secret, user)
        for step in image.steps:
            for alias in step.secrets:
                need_secret(alias, user)
            need_mounts(step.mounts, user)
    for store in app.stores:
        found[(store.kind, store.alias)] = Requirement(
            store.kind,
            store.name,
            store.alias,
            create_if_missing=store.create_if_missing,
            used_by=["handler code"],
            environment=store.environment,
        )
    return sorted(found.values(), key=lambda r: (r.kind, r.name))


async def preflight(app: ir.App, modal_environment: str) -> list[str]:
    """Check, before anything is created, that every secret and volume exists where the deploy goes.

    The lookups go out together, so the check costs one round trip however many there are; the problems come
    back in the order of `requirements`."""
    import asyncio

    checked = [r for r in requirements(app) if not r.create_if_missing]
    answers = await asyncio.gather(*(_problem(r, r.where(modal_environment)) for r in checked))
    for requirement, answer in zip(checked, answers, strict=True):
        if answer is _NO_ENVIRONMENT:
            environment = requirement.where(modal_environment)
            return [
                f"Modal environment {environment!r} does not exist: create it with "
                f"`modal environment create {environment}`"
            ]
    return [answer for answer in answers if answer is not None]


_NO_ENVIRONMENT = "the Modal environment does not exist"


async def _problem(requirement: Requirement, environment: str) -> str | None:
    """What is wrong with one requirement where the deploy looks it up (`_NO_ENVIRONMENT`), or None."""
    import modal
    from modal.exception import ConflictError, NotFoundError

    lookups = {"secret": modal.Secret, "volume": modal.Volume, "queue": modal.Queue, "dict": modal.Dict}
    users = ", ".join(requirement.used_by)
    where = environment_phrase(environment)
    keys = {"required_keys": list(requirement.required_keys)} if requirement.kind == "secret" else {}
    try:
        await (
            lookups[requirement.kind]
            .from_name(  # type: ignore[attr-defined]
                requirement.name, environment_name=environment or None, **keys
            )
            .hydrate.aio()
        )
    except NotFoundError as error:
        if str(error).startswith("Environment "):
            return _NO_ENVIRONMENT
        fix = (
            f"modal secret create --env {environment} {requirement.name} "
            f"{' '.join(k + '=...' for k in requirement.required_keys) or 'KEY=...'}"
            if requirement.kind == "secret"
            else f"modal {requirement.kind} create --env {environment} {requirement.name}"
        )
        if not environment:
            fix = fix.replace(" --env ", " ").replace("  ", " ")
        return (
            f"{requirement.kind} {requirement.name!r} (used by {users}) does not exist in {where}; "
            f"create it with `{fix}`"
        )
    except ConflictError as error:
        return (
            f"secret {requirement.name!r} (used by {users}) in {where} lacks required keys: {_missing_keys(str(error))}"
        )
    return None


def _missing_keys(message: str) -> str:
    return message.split(":", 1)[1].strip() if ":" in message else message
