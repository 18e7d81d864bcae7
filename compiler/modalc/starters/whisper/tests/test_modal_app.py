"""The app's functions, run in this process with `.local()`: no Modal account, no container, no network.

`modalc build` wrote generated/app_dev.py (and `modalc build --check` keeps it current); these tests import it
the way `modal` does and call through the generated wrappers, so they also check the wiring. Run them with
`python -m pytest tests`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

GENERATED = Path(__file__).resolve().parents[1] / "generated" / "app_dev.py"
# Locally, the class has no volume: modal says so once per call. The weights are on the volume in the container.
pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally and will not have access:UserWarning")


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


class FakeModel:
    """Stands in for a Whisper model: "transcribes" a file by reading it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def transcribe(self, path: str, language: str | None = None) -> dict:
        text = Path(path).read_bytes().decode()
        return {"text": f" {text} ({self.name}, {language or 'detected'}) "}


@pytest.fixture
def fake_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import whisper` in the handler finds this: the real package (and a GPU) are in the image only."""
    loaded = SimpleNamespace(load_model=lambda name, download_root: FakeModel(name))
    monkeypatch.setitem(sys.modules, "whisper", loaded)


@pytest.mark.usefixtures("fake_whisper")
def test_transcribe_runs_the_enter_hook_then_the_method(app: ModuleType) -> None:
    assert app.Transcriber().transcribe.local(b"hello") == "hello (base, detected)"


@pytest.mark.usefixtures("fake_whisper")
def test_model_name_is_a_class_parameter(app: ModuleType) -> None:
    transcriber = app.Transcriber(model_name="small")
    assert transcriber.transcribe.local(b"hola", language="es") == "hola (small, es)"
