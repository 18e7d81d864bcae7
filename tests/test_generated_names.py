"""No name from a manifest or from the user's code collides with a name the generated module uses.

A function named `str` replaced the builtin for the whole module (its entrypoint defaults and run helpers call
`str`, `open`, `print`, `len`, `zip`, `isinstance`); one named `int` broke every later `x: int` annotation; a
handler parameter named `_pkg_mod` shadowed the module alias its wrapper calls through. The sets of names in
`pyliteral` are checked here against what the templates actually render.
"""

from __future__ import annotations

import ast
import builtins
import shutil
from pathlib import Path

import pytest

from helpers import CASES, EXAMPLES, REPO, import_module_from, run_cli
from modalc import pyliteral
from modalc.pipeline import compile_manifest

HEADER = 'version = 1\n[app]\nname = "demo"\nimage = "base"\n[images.base]\nbase = "debian_slim"\npython = "3.12"\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(CASES / "_project", tmp_path, dirs_exist_ok=True)
    (tmp_path / "items.jsonl").write_text('"a"\n')
    return tmp_path


def build(project: Path, body: str) -> tuple[int, str]:
    (project / "app.toml").write_text(HEADER + body)
    result = run_cli(["build"], cwd=project)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr


@pytest.mark.parametrize("name", ["str", "open", "print", "len", "zip", "isinstance"])
@pytest.mark.parametrize("section", ["functions", "classes", "entrypoints"])
def test_builtins_the_module_calls_cannot_name_anything(project: Path, name: str, section: str) -> None:
    body = {
        "functions": f'[functions.{name}]\nhandler = "pkg.mod:process"\n',
        "classes": f'[classes.{name}]\nhandler = "pkg.mod:Model"\nmethods = ["predict"]\n',
        "entrypoints": '[functions.process]\nhandler = "pkg.mod:process"\n'
        f'[entrypoints.{name}]\nmap = "process"\ninputs = "items.jsonl"\n',
    }[section]
    code, stderr = build(project, body)
    assert code == 1
    assert f"error: {section}.{name}: {name!r} is a Python builtin that the generated module calls" in stderr


def test_builtins_the_annotations_use_cannot_name_a_function_or_class(project: Path) -> None:
    (project / "pkg" / "blob.py").write_text(
        "class Model:\n    def __init__(self, *, blob: bytes) -> None:\n        pass\n\n"
        "    def predict(self, x: int) -> int:\n        return x\n"
    )
    code, stderr = build(
        project,
        '[functions.int]\nhandler = "pkg.mod:needs_args"\n'  # needs_args(x: int, y: int) -> int
        '[classes.bytes]\nhandler = "pkg.mod:Model"\nmethods = ["predict"]\n'
        '[classes.M]\nhandler = "pkg.blob:Model"\nparameters = { blob = "bytes" }\nmethods = ["predict"]\n',
    )
    assert code == 1
    assert "error: functions.int: 'int' would replace the builtin int that the generated module's annotations" in stderr
    assert "error: classes.bytes: 'bytes' would replace the builtin bytes" in stderr


def test_a_class_member_cannot_shadow_a_builtin_its_class_body_uses(project: Path) -> None:
    (project / "pkg" / "members.py").write_text(
        "class M:\n    def __init__(self, *, str: str = 'x', n: int = 1) -> None:\n        pass\n\n"
        "    def int(self, x: int) -> int:\n        return x\n"
    )
    code, stderr = build(
        project,
        '[classes.M]\nhandler = "pkg.members:M"\nparameters = { str = "str", n = "int" }\nmethods = ["int"]\n',
    )
    assert code == 1
    assert "error: classes.M.parameters.str: 'str' cannot name a member of class M" in stderr
    assert "error: classes.M.methods: 'int' cannot name a member of class M" in stderr


def test_an_entrypoint_cannot_map_a_function_named_like_its_locals(project: Path) -> None:
    for local in sorted(pyliteral.ENTRYPOINT_LOCALS):
        code, stderr = build(
            project, f'[functions.{local}]\nhandler = "pkg.mod:process"\n[entrypoints.go]\nmap = "{local}"\n'
        )
        assert code == 1
        assert f"error: entrypoints.go.map: an entrypoint cannot call a function named {local!r}" in stderr


def test_harmless_builtins_still_name_functions_and_they_work(project: Path) -> None:
    """Only what the module uses is refused: `filter` and `format` are fine names, and the module imports."""
    code, stderr = build(
        project,
        '[functions.filter]\nhandler = "pkg.mod:process"\n[functions.format]\nhandler = "pkg.mod:needs_args"\n'
        '[entrypoints.run_all]\nmap = "filter"\ninputs = "items.jsonl"\n',
    )
    assert code == 0, stderr
    module = import_module_from(project / "generated" / "app_default.py", "", ["pkg"])
    assert module.filter.local("a") == "A" and module.format.local(2, 3) == 5
    assert module._load_inputs(str(project / "items.jsonl"), "", "map", ("item",)) == ["a"]


def test_a_parameter_named_like_the_module_alias_does_not_shadow_it(project: Path) -> None:
    (project / "pkg" / "shadow.py").write_text(
        "def f(_pkg_shadow: str, _pkg_shadow_2: str = 'b') -> str:\n    return _pkg_shadow + _pkg_shadow_2\n"
    )
    code, stderr = build(project, '[functions.f]\nhandler = "pkg.shadow:f"\n')
    assert code == 0, stderr
    source = (project / "generated" / "app_default.py").read_text()
    assert "import pkg.shadow as _pkg_shadow_3\n" in source
    assert "return _pkg_shadow_3.f(_pkg_shadow, _pkg_shadow_2)" in source
    module = import_module_from(project / "generated" / "app_default.py", "", ["pkg"])
    assert module.f.local("a") == "ab"


def test_a_parameter_of_a_re_exported_handler_named_like_the_alias_is_refused(project: Path) -> None:
    (project / "pkg" / "impl.py").write_text("def f(_pkg_api: str) -> str:\n    return _pkg_api\n")
    (project / "pkg" / "api.py").write_text("from .impl import f\n")
    code, stderr = build(project, '[functions.f]\nhandler = "pkg.api:f"\n')
    assert code == 1
    assert "f() has a parameter named '_pkg_api', the name the generated module imports its module as" in stderr


def test_a_module_named_like_a_helper_gets_another_alias(project: Path) -> None:
    (project / "load_inputs.py").write_text("def g(item: str) -> str:\n    return item * 2\n")
    code, stderr = build(
        project,
        '[functions.g]\nhandler = "load_inputs:g"\n[entrypoints.go]\nmap = "g"\ninputs = "items.jsonl"\n',
    )
    assert code == 0, stderr
    module = import_module_from(project / "generated" / "app_default.py", "", ["load_inputs"])
    assert module.g.local("a") == "aa"
    assert module._load_inputs(str(project / "items.jsonl"), "", "map", ("item",)) == ["a"]


# --- the sets in pyliteral against the templates -----------------------------------------------------


def _rendered_modules() -> list[tuple[str, set[str], set[str]]]:
    """(source, names the manifest declared, module aliases) of modules that use every template part."""
    out = []
    for manifest in [
        REPO / "tests" / "fixtures" / "kitchen_sink" / "app.toml",
        EXAMPLES / "batch_job" / "app.toml",
        EXAMPLES / "inference_api" / "app.toml",
        EXAMPLES / "whisper_service" / "app.toml",
    ]:
        result = compile_manifest(manifest)
        assert result.ok, [d.render() for d in result.diagnostics]
        for app in result.apps.values():
            declared = (
                {f.name for f in app.functions} | {c.name for c in app.classes} | {e.name for e in app.entrypoints}
            )
            aliases = {alias for _, alias, _ in app.source.user_modules}
            source = next(s for p, s in result.outputs.items() if p.stem == f"app_{app.environment.name}")
            out.append((source, declared, aliases))
    return out


def _free_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names read outside annotations that no enclosing function binds, and names bound at module level."""
    annotations = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.update(id(n) for n in ast.walk(node.annotation))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.update(id(n) for n in ast.walk(node.returns))
        elif isinstance(node, ast.AnnAssign):
            annotations.update(id(n) for n in ast.walk(node.annotation))
    read: set[str] = set()

    def visit(node: ast.AST, local: set[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                visit(decorator, local)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    visit(default, local)
            arguments = node.args
            inner = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
            inner |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
            inner |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            inner |= {h.name for h in ast.walk(node) if isinstance(h, ast.ExceptHandler) and h.name}
            for statement in node.body:
                visit(statement, local | inner)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in annotations:
            if node.id not in local:
                read.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(tree, set())
    bound = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(statement.name)
        elif isinstance(statement, ast.Assign):
            bound |= {t.id for t in statement.targets if isinstance(t, ast.Name)}
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in statement.names}
        elif isinstance(statement, ast.If):
            bound |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        elif isinstance(statement, ast.With):
            bound |= {(a.asname or a.name) for n in statement.body if isinstance(n, ast.Import) for a in n.names}
    return read, bound


def test_every_name_the_templates_use_is_reserved() -> None:
    """Whatever the templates render: every builtin they call is in TEMPLATE_BUILTINS, every name they define
    or read is in RESERVED_NAMES (or is a module alias, which starts with `_` where manifest names cannot)."""
    python_builtins = set(dir(builtins))
    for source, declared, aliases in _rendered_modules():
        read, bound = _free_names(ast.parse(source))
        own = (read | bound) - declared - aliases - {"__file__", "__name__"}  # dunders: no manifest name can be one
        assert own & python_builtins <= pyliteral.TEMPLATE_BUILTINS, own & python_builtins
        assert own - python_builtins <= pyliteral.RESERVED_NAMES, own - python_builtins
        assert all(alias.startswith("_") for alias in aliases)


def test_the_entrypoint_locals_are_what_the_template_binds() -> None:
    source = next(s for s, declared, _ in _rendered_modules() if "embed_all" in declared)
    entrypoint = next(
        n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "embed_all"
    )
    bound = {a.arg for a in entrypoint.args.args}
    bound |= {n.id for n in ast.walk(entrypoint) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assert bound == pyliteral.ENTRYPOINT_LOCALS
