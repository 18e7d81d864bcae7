"""The app's functions, run in this process with `.local()`: no Modal account, no container, no network.

`modalc build` wrote generated/app_dev.py (and `modalc build --check` keeps it current); these tests import it
the way `modal` does and call through the generated wrappers, so they also check the wiring. Run them with
`python -m pytest tests`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

GENERATED = Path(__file__).resolve().parents[1] / "generated" / "app_dev.py"


@pytest.fixture(scope="module")
def app() -> ModuleType:
    """The dev module. It refuses to be imported for another Modal environment, so dev is selected."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODAL_ENVIRONMENT", "dev")
        spec = importlib.util.spec_from_file_location("app_dev", GENERATED)
        assert spec is not None and spec.loader is not None, f"run `modalc build` first: {GENERATED}"
        module = importlib.util.module_from_spec(spec)
        sys.modules["app_dev"] = module  # the module registers itself as `modalc_app` for handler code
        spec.loader.exec_module(module)
    return module


def test_hello_greets_by_name(app: ModuleType) -> None:
    assert app.hello.local("Ada") == "Hello, Ada!"


def test_hello_has_a_default(app: ModuleType) -> None:
    assert app.hello.local() == "Hello, world!"
