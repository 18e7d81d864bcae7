"""Tier 3: wrappers called with .local() reach the user's handler with the same arguments and return its result."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from helpers import REPO, import_module_from, run_cli
from modal_introspection import raw_function

FIXTURE = REPO / "tests" / "fixtures" / "signatures"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    project = tmp_path_factory.mktemp("signatures") / "project"
    shutil.copytree(FIXTURE, project)
    result = run_cli(["build", "app.toml"], cwd=project)
    assert result.exit_code == 0, result.stderr
    module = import_module_from(project / "generated" / "app_dev.py", "dev", ["sigs"])
    import sigs.handlers

    return module, sigs.handlers


def test_every_parameter_kind_is_forwarded(generated) -> None:
    module, _ = generated
    result = module.echo.local(1, 5, "x", "y", c=3, d={"k": 1}, extra=0.5)
    assert result == {"a": 1, "b": 5, "args": ["x", "y"], "c": 3, "d": {"k": 1}, "kwargs": {"extra": 0.5}}
    assert module.echo.local("a", c=None) == {"a": "a", "b": 2, "args": [], "c": None, "d": None, "kwargs": {}}


def test_positional_only_parameters_stay_positional(generated) -> None:
    module, _ = generated
    assert module.positional_only.local(1, 2) == [1, 2, 3]
    with pytest.raises(TypeError):
        module.positional_only.local(x=1, y=2)


def test_async_and_generator_handlers_keep_their_kind(generated) -> None:
    module, _ = generated
    assert asyncio.run(module.double.local(21)) == 42
    assert list(module.count_to.local(3)) == [0, 1, 2]

    async def collect() -> list[int]:
        return [i async for i in module.acount_to.local(3)]

    assert asyncio.run(collect()) == [0, 1, 2]


def test_scheduled_function_is_callable_without_arguments(generated) -> None:
    module, handlers = generated
    assert module.tick.local() == "tick now"


def test_user_types_in_annotations_resolve_in_the_user_module(generated) -> None:
    module, handlers = generated
    item = handlers.Item("x", 1)
    assert module.typed.local(item, [item]) == handlers.Item("x!", 4)
    import typing

    hints = typing.get_type_hints(raw_function(module.typed))
    assert hints["item"] is handlers.Item and hints["return"] is handlers.Item


def test_reexported_handler_resolves_to_its_definition(generated) -> None:
    module, _ = generated
    assert module.reexported.local(0, c=1)["c"] == 1


def test_batched_function_passes_lists(generated) -> None:
    module, _ = generated
    assert module.doubled_batch.local([1, 2]) == [2, 4]


def test_web_handlers_return_the_users_app(generated) -> None:
    module, _ = generated
    assert raw_function(module.app_object)() == {"kind": "asgi-app-object"}
    assert raw_function(module.app_factory)().__name__ == "_wsgi"
    assert module.hello.local("modal") == {"hello": "modal"}


def test_class_parameters_hooks_and_methods(generated) -> None:
    module, _ = generated
    counter = module.Counter(name="n")
    assert counter.add.local(2, y=3) == 16
    assert asyncio.run(counter.aadd.local(4)) == 20
    assert counter.static_double.local(5) == 10
    assert list(counter.stream.local(2)) == ["n-0", "n-1"]
    state = counter.state.local()
    assert state == {"total": 20, "name": "n", "flag": False, "blob": b"raw", "events": ["setup", "warm"]}
    other = module.Counter(start=1, name="m", flag=True, blob=b"z")
    assert other.state.local()["total"] == 1 and other.state.local()["blob"] == b"z"


def test_batched_method_passes_lists(generated) -> None:
    module, _ = generated
    assert module.Batcher().process.local([1, 2, 3]) == [101, 102, 103]


def test_wrappers_repeat_the_exact_signature(generated) -> None:
    import inspect

    module, handlers = generated
    for name in ("echo", "positional_only", "double", "count_to", "tick"):
        wrapper = inspect.signature(raw_function(getattr(module, name)))
        original = inspect.signature(getattr(handlers, name))
        assert [(p.name, p.kind, p.default) for p in wrapper.parameters.values()] == [
            (p.name, p.kind, p.default) for p in original.parameters.values()
        ], name
