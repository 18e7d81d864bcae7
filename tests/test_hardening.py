"""Hardening: no injection, no leaked credential, no partial write, no nondeterminism.

Hostile strings go into every string-valued field of a manifest: each build either refuses with a clear
error, or emits modules that parse and whose literals equal the input exactly, with the input nowhere else.
"""

from __future__ import annotations

import ast
import copy
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CASES, EXAMPLES, REPO, run_cli, toml_dumps
from modalc.credentials import find_credential, redact
from modalc.pipeline import compile_manifest

PAYLOADS = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "ends with a backslash\\",
    "\n",
    "\r\n",
    "line\nbreak",
    "\x00",
    "\u2028",
    "\u2029",
    "\x1b[31m",
    "\x7f",
    "\ufeff",
    "{{ 7 * 7 }}",
    "{% if true %}x{% endif %}",
    "{# comment #}",
    "__import__('os').system('id')",
    '"); import os; os.system("id"); ("',
    "'); import os #",
    "# not a comment",
    "\\N{BULLET}",
    "\\x41",
    "é ü 漢字 💥",
    "\t tab",
    "a" * 300,
]

# A manifest that uses every string field the generated code carries; FIELDS say where to put a payload.
BASE: dict[str, Any] = {
    "version": 1,
    "app": {"name": "hostile", "image": "base", "tags": {"team": "ml"}},
    "images": {
        "base": {
            "base": "debian_slim",
            "python": "3.12",
            "steps": [
                {"apt": ["ffmpeg"]},
                {"pip": ["torch==2.5.1"], "index_url": "https://example.com/simple", "extra_options": "--no-cache"},
                {"uv_pip": ["numpy"], "extra_index_url": "https://example.com/extra"},
                {"micromamba": ["cudatoolkit"], "channels": ["conda-forge"]},
                {"run": ["echo built"]},
                {"env": {"MODE": "prod"}},
                {"workdir": "/srv"},
            ],
        },
        "registry": {"base": "registry", "tag": "nvcr.io/nvidia/pytorch:24.01-py3", "add_python": "3.12"},
    },
    "volumes": {"data": {"name": "data-volume"}},
    "secrets": {"keys": {"name": "api-keys", "required_keys": ["API_KEY"]}},
    "cloud_buckets": {
        "raw": {"bucket_name": "raw-bucket", "key_prefix": "datasets/", "endpoint_url": "https://r2.example.com"}
    },
    "functions": {
        "process": {
            "handler": "pkg.mod:process",
            "env": {"GREETING": "hello"},
            "volumes": {"/data": {"volume": "data", "sub_path": "models"}, "/raw": {"bucket": "raw"}},
            "secrets": ["keys"],
            "web": {"type": "fastapi", "method": "POST", "label": "process"},
        },
        "on_gpu": {"handler": "pkg.mod:process", "image": "registry", "region": "us-east"},
    },
    "classes": {
        "Model": {
            "handler": "pkg.hostile:Model",
            "parameters": {"name": {"type": "str", "default": "base"}, "blob": {"type": "bytes", "default": "raw"}},
            "methods": ["predict"],
        }
    },
    "entrypoints": {"all": {"map": "on_gpu", "inputs": "items.jsonl", "output": "out.jsonl"}},
}

FIELDS: list[tuple[tuple[str | int, ...], str]] = [
    (("images", "base", "steps", 0, "apt", 0), "{}"),
    (("images", "base", "steps", 1, "pip", 0), "{}"),
    (("images", "base", "steps", 1, "index_url"), "{}"),
    (("images", "base", "steps", 1, "extra_options"), "{}"),
    (("images", "base", "steps", 2, "uv_pip", 0), "{}"),
    (("images", "base", "steps", 2, "extra_index_url"), "{}"),
    (("images", "base", "steps", 3, "micromamba", 0), "{}"),
    (("images", "base", "steps", 3, "channels", 0), "{}"),
    (("images", "base", "steps", 4, "run", 0), "{}"),
    (("images", "base", "steps", 5, "env", "MODE"), "{}"),
    (("images", "base", "steps", 6, "workdir"), "/srv/{}"),
    (("images", "registry", "tag"), "{}"),
    (("functions", "process", "env", "GREETING"), "{}"),
    (("functions", "process", "volumes", "/data", "sub_path"), "{}"),
    (("cloud_buckets", "raw", "key_prefix"), "{}/"),  # Modal wants the trailing /
    (("cloud_buckets", "raw", "endpoint_url"), "https://{}"),
    (("classes", "Model", "parameters", "name", "default"), "{}"),
    (("classes", "Model", "parameters", "blob", "default"), "{}"),
    (("entrypoints", "all", "output"), "{}.jsonl"),
    (("app", "name"), "{}"),
    (("app", "tags", "team"), "{}"),
    (("volumes", "data", "name"), "{}"),
    (("secrets", "keys", "name"), "{}"),
    (("secrets", "keys", "required_keys", 0), "{}"),
    (("functions", "process", "web", "label"), "{}"),
    (("functions", "process", "region"), "{}"),
    (("functions", "process", "handler"), "pkg.mod:{}"),
    (("images", "base", "python"), "{}"),
]


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) and part not in node else node[part]
    node[path[-1]] = value


HOSTILE_MODULE = """
class Model:
    def __init__(self, *, name: str, blob: bytes) -> None:
        self.name, self.blob = name, blob

    def predict(self, x: int) -> int:
        return x
"""


def make_project(directory: Path) -> Path:
    shutil.copytree(CASES / "_project", directory, dirs_exist_ok=True)
    (directory / "pkg" / "hostile.py").write_text(HOSTILE_MODULE)
    (directory / "items.jsonl").write_text('"one"\n')
    return directory


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("hostile"))


def test_the_base_manifest_compiles_and_every_field_reaches_the_code(project: Path) -> None:
    """Otherwise every hostile build below would be refused for an unrelated reason and prove nothing."""
    reached = [check_payload(project, [(field, shape)], "harmless-value") for field, shape in FIELDS]
    emitted = [field for (field, _), outcome in zip(FIELDS, reached, strict=True) if outcome == "emitted"]
    refused = [field for (field, _), outcome in zip(FIELDS, reached, strict=True) if outcome == "refused"]
    assert len(emitted) >= 20, refused
    # These fields only take restricted shapes, so a harmless word is refused there; that is the point.
    assert set(refused) <= {
        ("functions", "process", "handler"),
        ("images", "base", "python"),
        ("secrets", "keys", "required_keys", 0),
        ("functions", "process", "region"),
    }, refused


def build(project: Path, values: dict[tuple[str | int, ...], str]) -> Any:
    data = copy.deepcopy(BASE)
    for field, value in values.items():
        _set(data, field, value)
    manifest = project / "app.toml"
    manifest.write_text(toml_dumps(data), encoding="utf-8")
    return compile_manifest(manifest, display_name="app.toml")


def code_tokens(source: str) -> list[str]:
    """Everything in a module that is not a string literal or layout: names, numbers, operators, comments."""
    layout = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER, tokenize.STRING}
    tokens = [
        token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type not in layout and token.string not in ",()[]{}"
    ]
    return [re.sub(r"sha256 [0-9a-f]{16}", "sha256 <manifest>", t) for t in tokens]  # the header's hash


def check_payload(project: Path, fields: list[tuple[tuple[str | int, ...], str]], payload: str) -> str:
    """Build with `payload` in `fields`; "refused" or "emitted", asserting what must hold either way."""
    values = {field: shape.format(payload) for field, shape in fields}
    result = build(project, values)
    if not result.ok:
        assert result.diagnostics, "a refusal names its reason"
        for diagnostic in result.diagnostics:
            rendered = diagnostic.render()
            assert rendered.startswith("app.toml:") and rendered.isprintable(), rendered
        return "refused"
    baseline = build(project, {field: shape.format("harmless") for field, shape in fields})
    assert baseline.ok
    for source, reference in zip(result.outputs.values(), baseline.outputs.values(), strict=True):
        tree = ast.parse(source)
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))]
        for field, value in values.items():
            expected: str | bytes = value.encode() if field[-2:] == ("blob", "default") else value
            assert expected in strings, (field, value)
        # Only string literals may differ: no name, number, operator or comment came from the payload.
        assert code_tokens(source) == code_tokens(reference)
    return "emitted"


FREE_FIELDS = FIELDS[:19]
RESTRICTED_FIELDS = FIELDS[19:]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: repr(p)[:24])
def test_hostile_payloads_in_every_field(project: Path, payload: str) -> None:
    if check_payload(project, FREE_FIELDS, payload) == "refused":
        for field in FREE_FIELDS:  # find out which field refused it, and check each alone
            check_payload(project, [field], payload)
    for field in RESTRICTED_FIELDS:
        check_payload(project, [field], payload)


HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(list("\"'\\{}%#\n\r\t\x00\u2028\u2029()[];:=.,$`é漢💥 aZ9_-/") + ["\x7f", "\x1b"]),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), payload=HOSTILE_TEXT)
def test_random_hostile_strings(project: Path, field: tuple[tuple[str | int, ...], str], payload: str) -> None:
    check_payload(project, [field], payload)


def test_every_template_interpolation_goes_through_an_escaping_filter() -> None:
    import jinja2.nodes

    from modalc.render import template_environment

    environment = template_environment()
    names = environment.list_templates(filter_func=lambda name: name.endswith(".jinja"))
    assert "app.py.jinja" in names
    for name in names:
        source = environment.loader.get_source(environment, name)[0]
        tree = environment.parse(source)
        for output in tree.find_all(jinja2.nodes.Output):
            for node in output.nodes:
                if isinstance(node, jinja2.nodes.TemplateData):
                    continue
                assert isinstance(node, jinja2.nodes.Filter) and node.name in {"py", "ident", "code"}, (
                    f"{name}:{node.lineno}: an interpolation must end in | py, | ident or | code"
                )
        assert not list(tree.find_all(jinja2.nodes.Call)) or all(
            isinstance(call.node, jinja2.nodes.Name) and call.node.name in {"loop"}
            for call in tree.find_all(jinja2.nodes.Call)
        ), f"{name}: templates call nothing"


def test_templates_refuse_a_raw_string_at_render_time() -> None:
    from modalc.pyliteral import UnsafeValue
    from modalc.render import template_environment

    template = template_environment().from_string("x = {{ value }}")
    with pytest.raises(UnsafeValue):
        template.render(value="__import__('os')")
    with pytest.raises(UnsafeValue):
        template_environment().from_string("{{ value | code }}").render(value="raw")


def test_identifiers_are_validated() -> None:
    from modalc.pyliteral import UnsafeValue, identifier

    for bad in ["class", "a b", "x;y", "1x", "", "é", "__import__('os')", "a.b", "None"]:
        with pytest.raises(UnsafeValue):
            identifier(bad)
    assert identifier("ok_name") == "ok_name"


# --- credentials -------------------------------------------------------------------------------------

CREDENTIALS = [
    "sk-proj-Abc123Def456Ghi789Jkl012Mno345",
    "sk-ant-api03-AbCdEf0123456789AbCdEf0123",
    "sk_live_51HxAbCdEfGhIjKlMnOpQr",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "glpat-AbCdEfGhIjKlMnOpQrSt",
    "xoxb-123456789012-123456789012-AbCdEfGhIjKlMnOpQr",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "-----BEGIN RSA PRIVATE KEY-----",
    "https://admin:hunter2@db.example.com/app",
    "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]
LOOK_ALIKES = [
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "pip install x --hash=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "5f3a2b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
    "nvcr.io/nvidia/pytorch@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "sentence-transformers/all-MiniLM-L6-v2",
    "openai-whisper==20240930",
    "https://download.pytorch.org/whl/cu124",
    "/cache/models/large-v3",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
    "apt-get install -y build-essential libsndfile1",
    "task-management-service-production-deployment",
]


@pytest.mark.parametrize("secret", CREDENTIALS)
def test_credentials_are_found_and_redacted(secret: str) -> None:
    assert find_credential(f"value {secret} here") is not None
    assert secret not in redact(f"TOKEN={secret}")


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_what_only_looks_random_is_allowed(text: str) -> None:
    assert find_credential(text) is None
    assert redact(text) == text


def test_a_credential_anywhere_in_a_manifest_is_refused_and_never_printed(tmp_path: Path) -> None:
    shutil.copytree(CASES / "_project", tmp_path, dirs_exist_ok=True)
    data = copy.deepcopy(BASE)
    data["functions"]["process"]["env"]["OPENAI_API_KEY"] = CREDENTIALS[0]
    data["environments"] = {"prod": {"functions": {"process": {"gpu": CREDENTIALS[3]}}}}
    (tmp_path / "app.toml").write_text(toml_dumps(data))
    for command in (["build", "app.toml"], ["validate", "app.toml", "--format", "json"]):
        result = run_cli(command, cwd=tmp_path)
        assert result.exit_code == 1
        output = result.stdout + result.stderr
        assert "looks like an API key (sk-...)" in output and "looks like a Hugging Face token" in output
        assert CREDENTIALS[0] not in output and CREDENTIALS[3] not in output
    assert not (tmp_path / "generated").exists()


# --- atomic, deterministic --------------------------------------------------------------------------


@pytest.fixture
def whisper(tmp_path: Path) -> Path:
    destination = tmp_path / "whisper"
    shutil.copytree(EXAMPLES / "whisper_service", destination)
    return destination


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_write_failing_part_way_leaves_the_previous_output_whole(
    whisper: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = whisper / "app.toml"
    manifest.write_text(manifest.read_text().replace("timeout = 600", "timeout = 900"))
    before = _snapshot(whisper / "generated")
    real_replace = os.replace
    calls = {"n": 0}

    def failing_replace(source: str, target: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device", str(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    result = run_cli(["build", "app.toml"], cwd=whisper)
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "No space left on device" in result.stderr
    assert "the previous output is unchanged" in result.stderr
    assert _snapshot(whisper / "generated") == before, "rolled back, and no temporary files left"


def test_a_failure_before_writing_writes_nothing(whisper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import modalc.render

    manifest = whisper / "app.toml"
    manifest.write_text(manifest.read_text().replace("timeout = 600", "timeout = 900"))
    before = _snapshot(whisper / "generated")
    real = modalc.render.render_app

    def render_then_fail(app: Any, path: str) -> str:
        if app.environment.name == "prod":
            raise RuntimeError("simulated crash while rendering prod")
        return real(app, path)

    monkeypatch.setattr(modalc.render, "render_app", render_then_fail)
    result = run_cli(["build", "app.toml"], cwd=whisper)
    assert result.exit_code == 123
    assert _snapshot(whisper / "generated") == before


def _build_in_subprocess(cwd: Path, manifest: str, seed: str, out: Path) -> dict[str, bytes]:
    environment = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run(
        [sys.executable, "-m", "modalc", "build", manifest, "--out", str(out)],
        cwd=cwd,
        env=environment,
        check=True,
        capture_output=True,
    )
    return _snapshot(out)


def test_output_is_identical_across_hash_seeds_directories_and_path_styles(whisper: Path, tmp_path: Path) -> None:
    committed = _snapshot(EXAMPLES / "whisper_service" / "generated")
    out = whisper / "generated"
    runs = [
        _build_in_subprocess(whisper, "app.toml", "0", out),
        _build_in_subprocess(whisper, "./app.toml", "1", out),
        _build_in_subprocess(whisper.parent, "whisper/app.toml", "12345", out),
        _build_in_subprocess(tmp_path, str(whisper / "app.toml"), "random", out),
        _build_in_subprocess(whisper / "whisper_app", "../app.toml", "7", out),
        _build_in_subprocess(whisper, "app.toml", "3", whisper / "generated" / ".." / "generated"),
    ]
    for snapshot in runs:
        assert snapshot == committed


def test_yaml_and_toml_spellings_compile_alike(tmp_path: Path) -> None:
    """The same manifest written as TOML and as JSON-flavoured YAML compiles to the same code."""
    for fmt in ("toml", "yaml"):
        directory = make_project(tmp_path / fmt)
        text = toml_dumps(BASE) if fmt == "toml" else __import__("json").dumps(BASE, indent=1)
        (directory / f"app.{fmt}").write_text(text)
    toml = compile_manifest(tmp_path / "toml" / "app.toml", display_name="app.toml")
    yaml = compile_manifest(tmp_path / "yaml" / "app.yaml", display_name="app.yaml")
    assert toml.ok and yaml.ok, [d.render() for d in toml.diagnostics + yaml.diagnostics]
    strip = lambda text: "\n".join(text.splitlines()[1:])  # noqa: E731 - the header names the file
    assert [strip(s) for s in toml.outputs.values()] == [strip(s) for s in yaml.outputs.values()]


def test_repository_examples_contain_no_credentials() -> None:
    for manifest in list(EXAMPLES.glob("*/app.*")) + list((REPO / "tests" / "fixtures").glob("*/app.*")):
        assert find_credential(manifest.read_text()) is None, manifest


def test_a_string_annotation_stays_a_string(tmp_path: Path) -> None:
    """`x: "exec(...)"` in a handler is a forward reference; the wrapper must not turn it into code."""
    make_project(tmp_path)
    (tmp_path / "pkg" / "typed.py").write_text(
        'def f(x: "exec(\'raise SystemExit(99)\')", y: "list[int]" = None) -> "print(1)":\n    return x\n'
    )
    manifest = tmp_path / "app.toml"
    manifest.write_text(
        'version = 1\n[app]\nname = "typed"\nimage = "base"\n[images.base]\nbase = "debian_slim"\npython = "3.12"\n'
        '[functions.f]\nhandler = "pkg.typed:f"\n'
    )
    result = compile_manifest(manifest)
    assert result.ok, [d.render() for d in result.diagnostics]
    (source,) = result.outputs.values()
    assert 'def f(x: "exec(\'raise SystemExit(99)\')", y: "list[int]" = None) -> "print(1)":' in source
    function = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "f")
    annotations = [a.annotation for a in function.args.args] + [function.returns]
    assert all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in annotations)
