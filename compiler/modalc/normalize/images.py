"""Images: a base (or another declared image, `from`) and its steps, each step one `modal.Image` builder call.

Derived images compile to Modal's method chain on their parent, so the layers they share are the same objects
and are built once. The handlers' packages are shipped as each image's last, deferred layer; an image that
others build on cannot end in one (Modal refuses build steps after a deferred mount), so there the packages
are added once every image is built, and the image is reassigned (`ir.Image.use_packages`).
"""

from __future__ import annotations

import glob
import hashlib
import inspect
import shlex
from collections.abc import Mapping
from typing import Any

from .. import catalog, handlers, ir
from ..diagnostics import KeyPath, quote_choices, suggest
from . import storage
from .session import Session, as_int

REGISTRIES = {  # base -> the modal.Image constructor that pulls from that registry
    "registry": "from_registry",
    "aws_ecr": "from_aws_ecr",
    "gcp_artifact_registry": "from_gcp_artifact_registry",
}
BASE_KEYS = {
    "debian_slim": {"python"},
    "micromamba": {"python"},
    **{registry: {"tag", "add_python", "registry_secret"} for registry in REGISTRIES},
    "dockerfile": {"path", "context_dir", "build_args", "add_python"},
}
CONSTRUCTOR_KEYS = ("python", "tag", "add_python", "registry_secret", "path", "context_dir", "build_args")
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
    "entrypoint",
    "cmd",
    "shell",
    "dockerfile_commands",
    "run_function",
    "local_file",
    "local_dir",
    "python_source",
)
EXEC_FORMS = {"entrypoint": "entrypoint", "cmd": "cmd", "shell": "shell"}
BUILD_WRAPPER_PREFIX = "_build_"  # manifest names cannot start with "_", so these never collide


def read_images(s: Session, specs: Mapping[str, dict[str, Any]]) -> tuple[ir.Image, ...]:
    """Every declared image, parents before the images built on them (else in the manifest's order)."""
    parents = {alias: spec.get("from") for alias, spec in specs.items()}
    for alias, parent in parents.items():
        if parent is not None and not s.reference("images", parent, ("images", alias, "from")):
            parents[alias] = None
    order = _topological(s, parents)
    children = {p for p in parents.values() if p is not None}
    built: dict[str, ir.Image] = {}
    chains: dict[str, list[ir.Step]] = {}  # every step from the root image down to this one
    for alias in order:
        parent = parents[alias]
        inherited = chains.get(parent, []) if parent is not None else []
        image = _read_image(
            s, alias, specs[alias], parent if parent in built else None, inherited, has_children=alias in children
        )
        built[alias] = image
        chains[alias] = [*inherited, *image.steps]
    return tuple(built[alias] for alias in order)


def _topological(s: Session, parents: dict[str, str | None]) -> list[str]:
    """Every image after the image it builds on; a cycle is reported once, where it closes.

    A loop, not a recursive closure: a closure that calls itself is a reference cycle, which would keep the
    whole normalize session (the parsed handlers with it) alive until the collector's next full pass."""
    order: list[str] = []
    done: set[str] = set()
    for start in parents:
        chain: list[str] = []
        alias: str | None = start
        while alias is not None and alias not in done:
            if alias in chain:
                cycle = " -> ".join([*chain[chain.index(alias) :], alias])
                s.report(("images", alias, "from"), f"images build on each other in a cycle: {cycle}")
                break
            chain.append(alias)
            alias = parents[alias]
        for alias in reversed(chain):
            done.add(alias)
            order.append(alias)
    return order


def _read_image(
    s: Session,
    alias: str,
    spec: dict[str, Any],
    parent: str | None,
    inherited: list[ir.Step],
    *,
    has_children: bool,
) -> ir.Image:
    path: KeyPath = ("images", alias)
    no_base: tuple[str, list[object], list[tuple[str, object]], str | None, str | None, str | None]
    no_base = ("", [], [], None, None, None)
    if "from" in spec:
        for key in ("base", *CONSTRUCTOR_KEYS):
            if key in spec:
                s.report((*path, key), f"{key!r} does not apply to an image built `from` another", at_key=True)
        constructor, args, kwargs, local_path, context_dir, registry_secret = no_base
    elif "base" not in spec:
        s.report(path, "missing required key 'base' (or 'from', to build on another declared image)", at_key=True)
        constructor, args, kwargs, local_path, context_dir, registry_secret = ("debian_slim", *no_base[1:])
    else:
        constructor, args, kwargs, local_path, context_dir, registry_secret = _base(s, path, spec)
    steps = _steps(s, spec.get("steps", []), path, inherited)
    chain = [*inherited, *steps]
    shipped = {str(arg).split(".")[0] for step in chain if step.kind == "add_local_python_source" for arg in step.args}
    missing = tuple(sorted(p for p in _packages_for_image(s, alias) if p not in shipped))
    use_packages: tuple[str, ...] = ()
    if missing and has_children:
        use_packages = missing
    elif missing:
        steps = [*steps, ir.Step("add_local_python_source", missing, deferred=True)]
    return ir.Image(
        alias,
        constructor,
        args=tuple(args),
        kwargs=tuple(kwargs),
        local_path=local_path,
        context_dir=context_dir,
        registry_secret=registry_secret,
        steps=tuple(steps),
        parent=parent,
        use_packages=use_packages,
        key_path=path,
    )


def _base(
    s: Session, path: KeyPath, spec: dict[str, Any]
) -> tuple[str, list[object], list[tuple[str, object]], str | None, str | None, str | None]:
    base = spec["base"]
    allowed = BASE_KEYS[base]
    for key in CONSTRUCTOR_KEYS:
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
    elif base in REGISTRIES:
        constructor = REGISTRIES[base]
        if "tag" not in spec:
            s.report(path, f"missing required key 'tag' for base {base!r}", at_key=True)
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
        # COPY sources resolve against the build context; without one Modal takes the deployer's working
        # directory, so the module always names the manifest's directory (or the declared one).
        context_dir = s.local_path(spec.get("context_dir", "."), (*path, "context_dir"), want="dir")
        if spec.get("build_args"):
            kwargs.append(("build_args", dict(spec["build_args"])))
        if python is not None:
            kwargs.append(("add_python", python))
    if spec.get("force_build"):
        kwargs.append(("force_build", True))
    return constructor, args, kwargs, local_path, context_dir, registry_secret


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


def _steps(s: Session, steps: list[dict[str, Any]], image_path: KeyPath, inherited: list[ir.Step]) -> list[ir.Step]:
    out: list[ir.Step] = []
    deferred_at = next((_shown(step.key_path, image_path) for step in inherited if step.deferred), None)
    for index, step in enumerate(steps):
        path = (*image_path, "steps", index)
        kind = step_kind(step)
        if kind == "run_function":
            source_step = _build_source(s, step, path, [*inherited, *out])
            if source_step is not None:
                out.append(source_step)
        built = _step(s, kind, step, path)
        if built is None:
            continue
        if built.deferred:
            deferred_at = deferred_at if deferred_at is not None else _shown(path, image_path)
        elif deferred_at is not None:
            s.report(
                path,
                f"this step builds a layer after {deferred_at}, which mounts local files at deploy time; Modal "
                "refuses to build on top of a mount",
                hint=f"set copy = true on {deferred_at}, or move it after every build step",
            )
        out.append(built)
    return out


def _shown(path: KeyPath, image_path: KeyPath) -> str:
    """A step as a message names it: `step 2` in the same image, `step 2 of image 'base'` up the chain."""
    if tuple(path[:2]) == tuple(image_path):
        return f"step {path[3]}"
    return f"step {path[3]} of image {path[1]!r}"


def step_kind(step: dict[str, Any]) -> str:
    """What a step builds. `env` is a step of its own and an option of the others (their build's variables)."""
    return next((k for k in STEP_KINDS if k in step and k != "env"), "env")


def _step(s: Session, kind: str, step: dict[str, Any], path: KeyPath) -> ir.Step | None:
    # The keywords Modal's builder method takes besides its own arguments; the schema allows each only where
    # that method takes it.
    common: list[tuple[str, object]] = []
    for key in ("index_url", "extra_index_url", "find_links", "pre", "extra_options", "uv_version"):
        if key in step:
            common.append((key, step[key]))
    if kind != "env" and step.get("env"):
        common.append(("env", dict(step["env"])))
    if step.get("force_build"):
        common.append(("force_build", True))
    secrets: tuple[str, ...] = tuple(s.secret_refs(step.get("secrets", []), (*path, "secrets")))
    if "gpu" in step and kind != "run_function":
        gpu, problem = catalog.parse_gpu(step["gpu"])
        if problem:
            s.report((*path, "gpu"), problem)
        else:
            common.append(("gpu", gpu))
    if kind == "apt":
        return ir.Step("apt_install", tuple(step["apt"]), tuple(common), secrets=secrets, key_path=path)
    if kind == "uv_pip" and "requirements" in step:
        files = [s.local_path(p, (*path, "requirements", i), want="file") for i, p in enumerate(step["requirements"])]
        requirements = tuple(f for f in files if f is not None)
        return ir.Step(
            "uv_pip_install",
            tuple(step["uv_pip"]),
            tuple(common),
            secrets=secrets,
            requirements=requirements,
            key_path=path,
        )
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
        return ir.Step(
            "micromamba_install", tuple(step["micromamba"]), tuple(extra + common), secrets=secrets, key_path=path
        )
    if kind == "run":
        mounts = storage.read_mounts(s, step.get("volumes", {}), (*path, "volumes"))
        return ir.Step("run_commands", tuple(step["run"]), tuple(common), secrets=secrets, mounts=mounts, key_path=path)
    if kind == "env":
        return ir.Step("env", (dict(step["env"]),), key_path=path)
    if kind == "workdir":
        return ir.Step("workdir", (step["workdir"],), key_path=path)
    if kind in EXEC_FORMS:
        return ir.Step(EXEC_FORMS[kind], (list(step[kind]),), key_path=path)
    if kind == "dockerfile_commands":
        return _dockerfile_commands(s, step, path, common, secrets)
    if kind == "run_function":
        return _run_function(s, step, path, secrets, common)
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
    options: list[tuple[str, object]] = [("copy", True)] if copy_files else []
    if "ignore" in step:
        options.append(("ignore", list(step["ignore"])))
    modules = step["python_source"]
    for i, module in enumerate(modules):
        top = module.split(".")[0]
        root = s.tree.root
        s.dependencies.update((root / top, root / f"{top}.py"))
        if not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
            s.report((*path, "python_source", i), f"no package or module {top!r} in the source directory")
    return ir.Step("add_local_python_source", tuple(modules), tuple(options), deferred=not copy_files, key_path=path)


# --- dockerfile_commands ------------------------------------------------------------------------------


def _dockerfile_commands(
    s: Session, step: dict[str, Any], path: KeyPath, common: list[tuple[str, object]], secrets: tuple[str, ...]
) -> ir.Step | None:
    context_dir = s.local_path(step.get("context_dir", "."), (*path, "context_dir"), want="dir")
    context_files: list[tuple[str, str]] = []
    for name, local in step.get("context_files", {}).items():
        found = s.local_path(local, (*path, "context_files", name), want="file")
        if found is not None:
            context_files.append((name, found))
    commands = list(step["dockerfile_commands"])
    if context_dir is not None:
        for index, source in _copy_sources(commands):
            if source in dict(context_files) or source.lstrip("/") in {n.lstrip("/") for n, _ in context_files}:
                continue
            root = s.project.directory / context_dir
            s.dependencies.add(root)  # observed before it is searched: a file added or removed there matters
            matches = glob.glob(source.lstrip("/"), root_dir=root, recursive=True)
            s.dependencies.update(root / match for match in matches)
            if not matches:
                s.report(
                    (*path, "dockerfile_commands", index),
                    f"COPY source {source!r} matches nothing in the build context ({context_dir!r}) or context_files",
                )
    kwargs = list(common)
    if step.get("build_args"):
        kwargs.append(("build_args", dict(step["build_args"])))
    if "ignore" in step:
        kwargs.append(("ignore", list(step["ignore"])))
    return ir.Step(
        "dockerfile_commands",
        (commands,),
        tuple(kwargs),
        secrets=secrets,
        context_files=tuple(context_files),
        context_dir=context_dir,
        key_path=path,
    )


def _copy_sources(commands: list[str]) -> list[tuple[int, str]]:
    """(command index, source) of every COPY that reads the build context (not `COPY --from=`)."""
    found = []
    for index, command in enumerate(commands):
        words = command.strip().split(None, 1)
        if len(words) < 2 or words[0].upper() != "COPY":
            continue
        try:
            parts = [p for p in shlex.split(words[1]) if not p.startswith("--")]
        except ValueError:
            continue
        if any(p.startswith("--from=") for p in shlex.split(words[1])) or len(parts) < 2:
            continue
        found += [(index, source) for source in parts[:-1]]
    return found


# --- run_function -------------------------------------------------------------------------------------


def _build_source(s: Session, step: dict[str, Any], path: KeyPath, before: list[ir.Step]) -> ir.Step | None:
    """The layer that puts the function's package in the image first: the builder imports it from there."""
    top = step["run_function"].partition(":")[0].split(".")[0]
    copied = any(
        b.kind == "add_local_python_source"
        and dict(b.kwargs).get("copy")
        and top in {str(a).split(".")[0] for a in b.args}
        for b in before
    )
    return None if copied else ir.Step("add_local_python_source", (top,), (("copy", True),), key_path=path)


def _run_function(
    s: Session, step: dict[str, Any], path: KeyPath, secrets: tuple[str, ...], common: list[tuple[str, object]]
) -> ir.Step | None:
    where = (*path, "run_function")
    module, _, qualname = step["run_function"].partition(":")
    if module.split(".")[0] == "modal":
        s.report(where, "a package named 'modal' would shadow the modal package")
        return None
    try:
        _, node = s.tree.find(module, qualname)
    except handlers.HandlerError as error:
        s.report(where, error.message, hint=error.hint)
        return None
    if not isinstance(node, handlers.FunctionFacts):
        s.report(where, f"{qualname!r} is {handlers.describe(node)}; run_function runs a function")
        return None
    try:
        signature = s.tree.signature(node, "_")
    except handlers.HandlerError as error:
        s.report(where, error.message, hint=error.hint)
        return None
    if signature.is_generator:
        s.report(where, f"{qualname}() is a generator; run_function runs a function once")
    args, kwargs = list(step.get("args", [])), dict(step.get("kwargs", {}))
    if problem := _binding_problem(signature, args, kwargs):
        s.report(where, f"{qualname}() cannot be called with these args and kwargs: {problem}")
    options: list[tuple[str, object]] = []
    if args:
        options.append(("args", args))
    if kwargs:
        options.append(("kwargs", kwargs))
    if "gpu" in step:
        gpus = _gpu_list(s, step["gpu"], (*path, "gpu"))
        if gpus:
            options.append(("gpu", gpus[0] if len(gpus) == 1 else list(gpus)))
    for key in ("cpu", "memory", "timeout", "cloud"):
        if key in step:
            options.append((key, as_int(step[key]) if key in ("memory", "timeout") else step[key]))
    if "region" in step:
        region = step["region"]
        options.append(("region", list(region) if isinstance(region, list) else region))
    options += common  # env, force_build
    mounts = storage.read_mounts(s, step.get("volumes", {}), (*path, "volumes"))
    builder = ir.BuildFunction(_wrapper_name(s, step["run_function"]), module, qualname)
    return ir.Step("run_function", (), tuple(options), secrets=secrets, mounts=mounts, builder=builder, key_path=path)


def _wrapper_name(s: Session, handler: str) -> str:
    """The build wrapper's name, from the handler alone: Modal hashes the wrapper's source into the layer, so
    neither the image nor the step's position may change it. One handler, one wrapper, whatever its arguments."""
    if handler in s.build_wrappers:
        return s.build_wrappers[handler]
    module, _, qualname = handler.partition(":")
    name = BUILD_WRAPPER_PREFIX + "_".join([*module.split("."), qualname])
    if name in s.build_wrappers.values():  # a.b_c:d and a_b.c:d
        name += "_" + hashlib.sha256(handler.encode()).hexdigest()[:8]
    s.build_wrappers[handler] = name
    return name


def _gpu_list(s: Session, value: str | list[str], path: KeyPath) -> list[str]:
    out = []
    for index, text in enumerate([value] if isinstance(value, str) else value):
        gpu, problem = catalog.parse_gpu(text)
        if problem or gpu is None:
            s.report(path if isinstance(value, str) else (*path, index), problem or f"{text!r} is not a GPU")
        else:
            out.append(gpu)
    return out


def _binding_problem(signature: ir.Signature, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    kinds = {
        "positional_only": inspect.Parameter.POSITIONAL_ONLY,
        "positional_or_keyword": inspect.Parameter.POSITIONAL_OR_KEYWORD,
        "var_positional": inspect.Parameter.VAR_POSITIONAL,
        "keyword_only": inspect.Parameter.KEYWORD_ONLY,
        "var_keyword": inspect.Parameter.VAR_KEYWORD,
    }
    parameters = [
        inspect.Parameter(p.name, kinds[p.kind], default=None if p.default is not None else inspect.Parameter.empty)
        for p in signature.parameters
    ]
    try:
        inspect.Signature(parameters).bind(*args, **kwargs)
    except TypeError as error:
        return str(error)
    return None
