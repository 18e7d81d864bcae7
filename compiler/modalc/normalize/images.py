"""Images: a base and its steps, each step one `modal.Image` builder call, in the manifest's order."""

from __future__ import annotations

from typing import Any

from .. import catalog, ir
from ..diagnostics import KeyPath, quote_choices, suggest
from .session import Session


def read_image(s: Session, alias: str, spec: dict[str, Any]) -> ir.Image:
    path: KeyPath = ("images", alias)
    base = spec["base"]
    allowed = {
        "debian_slim": {"python"},
        "micromamba": {"python"},
        "registry": {"tag", "add_python", "registry_secret"},
        "dockerfile": {"path", "context_dir", "build_args", "add_python"},
    }[base]
    for key in ("python", "tag", "add_python", "registry_secret", "path", "context_dir", "build_args"):
        if key in spec and key not in allowed:
            s.report((*path, key), f"{key!r} does not apply to base {base!r}", at_key=True)
    python = spec.get("python") if base in ("debian_slim", "micromamba") else spec.get("add_python")
    python_key = "python" if base in ("debian_slim", "micromamba") else "add_python"
    if python is not None:
        _check_python(s, python, (*path, python_key))
    elif base in ("debian_slim", "micromamba"):
        s.report(
            path,
            f"missing required key 'python' for base {base!r}",
            at_key=True,
            hint='pin the version (e.g. python = "3.12"); otherwise Modal copies the deployer\'s',
        )
    kwargs: list[tuple[str, object]] = []
    args: list[object] = []
    local_path = context_dir = registry_secret = None
    if base in ("debian_slim", "micromamba"):
        constructor = base
        kwargs.append(("python_version", python))
    elif base == "registry":
        constructor = "from_registry"
        if "tag" not in spec:
            s.report(path, "missing required key 'tag' for base 'registry'", at_key=True)
        args.append(spec.get("tag", ""))
        registry_secret = spec.get("registry_secret")
        if registry_secret is not None:
            s.reference("secrets", registry_secret, (*path, "registry_secret"))
        if python is not None:
            kwargs.append(("add_python", python))
    else:
        constructor = "from_dockerfile"
        if "path" not in spec:
            s.report(path, "missing required key 'path' for base 'dockerfile'", at_key=True)
        else:
            local_path = s.local_path(spec["path"], (*path, "path"), want="file")
        if "context_dir" in spec:
            context_dir = s.local_path(spec["context_dir"], (*path, "context_dir"), want="dir")
        if spec.get("build_args"):
            kwargs.append(("build_args", dict(spec["build_args"])))
        if python is not None:
            kwargs.append(("add_python", python))
    steps = _steps(s, spec.get("steps", []), path)
    shipped = {str(arg).split(".")[0] for step in steps if step.kind == "add_local_python_source" for arg in step.args}
    missing = sorted(p for p in _packages_for_image(s, alias) if p not in shipped)
    if missing:
        steps = (*steps, ir.Step("add_local_python_source", tuple(missing), deferred=True))
    return ir.Image(
        alias,
        constructor,
        args=tuple(args),
        kwargs=tuple(kwargs),
        local_path=local_path,
        context_dir=context_dir,
        registry_secret=registry_secret,
        steps=steps,
        key_path=path,
    )


def _packages_for_image(s: Session, alias: str) -> set[str]:
    return {module.split(".")[0] for module, images in s.module_images.items() if alias in images}


def _check_python(s: Session, version: Any, path: KeyPath) -> None:
    supported, deprecated = catalog.python_versions()
    if version not in supported:
        s.report(
            path,
            f"Python {version!r} is not available on Modal{suggest(str(version), supported)}",
            hint=f"Modal offers {quote_choices(supported)}",
        )
    elif version in deprecated:
        s.warn(path, deprecated[version])


STEP_KINDS = (
    "apt",
    "pip",
    "uv_pip",
    "pip_requirements",
    "pip_pyproject",
    "micromamba",
    "run",
    "env",
    "workdir",
    "local_file",
    "local_dir",
    "python_source",
)


def _steps(s: Session, steps: list[dict[str, Any]], image_path: KeyPath) -> tuple[ir.Step, ...]:
    out: list[ir.Step] = []
    deferred_at: int | None = None
    for index, step in enumerate(steps):
        path = (*image_path, "steps", index)
        kind = next(k for k in STEP_KINDS if k in step)
        built = _step(s, kind, step, path)
        if built is None:
            continue
        if built.deferred:
            deferred_at = deferred_at if deferred_at is not None else index
        elif deferred_at is not None:
            s.report(
                path,
                f"this step builds a layer after step {deferred_at}, which mounts local files "
                "at deploy time; Modal refuses to build on top of a mount",
                hint=f"set copy = true on step {deferred_at}, or move it after every build step",
            )
        out.append(built)
    return tuple(out)


def _step(s: Session, kind: str, step: dict[str, Any], path: KeyPath) -> ir.Step | None:
    common: list[tuple[str, object]] = []
    for key in ("index_url", "extra_index_url", "find_links", "pre", "extra_options"):
        if key in step:
            common.append((key, step[key]))
    secrets: tuple[str, ...] = tuple(s.secret_refs(step.get("secrets", []), (*path, "secrets")))
    if "gpu" in step:
        gpu, problem = catalog.parse_gpu(step["gpu"])
        if problem:
            s.report((*path, "gpu"), problem)
        else:
            common.append(("gpu", gpu))
    if kind == "apt":
        return ir.Step("apt_install", tuple(step["apt"]), key_path=path)
    if kind == "pip":
        return ir.Step("pip_install", tuple(step["pip"]), tuple(common), secrets=secrets, key_path=path)
    if kind == "uv_pip":
        return ir.Step("uv_pip_install", tuple(step["uv_pip"]), tuple(common), secrets=secrets, key_path=path)
    if kind == "pip_requirements":
        local = s.local_path(step["pip_requirements"], (*path, "pip_requirements"), want="file")
        return ir.Step("pip_install_from_requirements", (), tuple(common), local, secrets, key_path=path)
    if kind == "pip_pyproject":
        local = s.local_path(step["pip_pyproject"], (*path, "pip_pyproject"), want="file")
        extra = (
            [("optional_dependencies", list(step["optional_dependencies"]))] if "optional_dependencies" in step else []
        )
        return ir.Step("pip_install_from_pyproject", (), tuple(extra + common), local, secrets, key_path=path)
    if kind == "micromamba":
        extra = [("channels", list(step["channels"]))] if "channels" in step else []
        return ir.Step("micromamba_install", tuple(step["micromamba"]), tuple(extra), key_path=path)
    if kind == "run":
        return ir.Step("run_commands", tuple(step["run"]), tuple(common), secrets=secrets, key_path=path)
    if kind == "env":
        return ir.Step("env", (dict(step["env"]),), key_path=path)
    if kind == "workdir":
        return ir.Step("workdir", (step["workdir"],), key_path=path)
    if kind in ("local_file", "local_dir"):
        if "remote" not in step:
            s.report(path, f"missing required key 'remote' (the container path for {kind})", at_key=True)
            return None
        local = s.local_path(step[kind], (*path, kind), want="file" if kind == "local_file" else "dir")
        copy_files = step.get("copy", False)
        kwargs: list[tuple[str, object]] = [("copy", True)] if copy_files else []
        if kind == "local_dir" and step.get("ignore"):
            kwargs.append(("ignore", list(step["ignore"])))
        method = "add_local_file" if kind == "local_file" else "add_local_dir"
        return ir.Step(method, (step["remote"],), tuple(kwargs), local, deferred=not copy_files, key_path=path)
    # python_source
    copy_files = step.get("copy", False)
    modules = step["python_source"]
    for i, module in enumerate(modules):
        top = module.split(".")[0]
        root = s.tree.root
        s.dependencies.update((root / top, root / f"{top}.py"))
        if not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
            s.report((*path, "python_source", i), f"no package or module {top!r} in the source directory")
    return ir.Step(
        "add_local_python_source",
        tuple(modules),
        (("copy", True),) if copy_files else (),
        deferred=not copy_files,
        key_path=path,
    )
