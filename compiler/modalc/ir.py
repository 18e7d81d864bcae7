"""The intermediate representation: one frozen App per environment, everything resolved.

Normalize builds it from a validated manifest; render reads it and nothing else. NamedTuples rather than
frozen dataclasses: as immutable, and five times cheaper to define, which every command pays at start-up. Every tuple is ordered the
way the generated module shows it, so rendering is a plain walk. `Ref` fields name manifest entries by their
alias (data, never identifiers); `name` fields of functions, classes, methods and parameters are validated
Python identifiers.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from .diagnostics import KeyPath


class Environment(NamedTuple):
    name: str  # the manifest's name for it ("default" when the manifest declares none)
    modal_environment: str  # "" means Modal's default environment
    protected: bool = False
    declared: bool = True  # False for the implicit environment of a manifest without environments


# --- images -----------------------------------------------------------------------------------------


class BuildFunction(NamedTuple):
    """The user's function a `run_function` step runs in the image builder, through a generated wrapper."""

    wrapper: str  # the module-level function the generated module defines for it
    module: str  # the user's module (imported inside the wrapper, in the builder container only)
    qualname: str


class Step(NamedTuple):
    """One image builder call: `kind` is the modal.Image method, with positional and keyword arguments.

    Paths that point at the user's project are kept apart (`local_path`, `context_files`, `context_dir`)
    because the generated module resolves them against its own location, not against the deployer's working
    directory.
    """

    kind: str
    args: tuple[object, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()
    local_path: str | None = None  # project-relative path, rendered as MANIFEST_DIR / path
    secrets: tuple[str, ...] = ()
    deferred: bool = False  # a mount layer that must stay last (copy=False)
    context_files: tuple[tuple[str, str], ...] = ()  # build-context name -> project-relative path
    context_dir: str | None = None  # project-relative; dockerfile_commands always gets one
    mounts: tuple[Mount, ...] = ()  # the volumes of run_function and run_commands
    requirements: tuple[str, ...] = ()  # uv_pip's requirements files, project-relative
    builder: BuildFunction | None = None  # run_function's function
    key_path: KeyPath = ()


class Image(NamedTuple):
    alias: str
    constructor: str  # debian_slim | micromamba | from_registry | from_dockerfile; "" for a derived image
    args: tuple[object, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()
    local_path: str | None = None  # the Dockerfile
    context_dir: str | None = None
    registry_secret: str | None = None
    steps: tuple[Step, ...] = ()
    parent: str | None = None  # the declared image this one is built on (`from`)
    # Packages to ship where the image is used (its handlers' code) when other images build on it: their build
    # steps cannot follow the deferred mount, so it is added at each use instead of at the image's end.
    use_packages: tuple[str, ...] = ()
    key_path: KeyPath = ()


# --- storage and secrets ---------------------------------------------------------------------------


class Volume(NamedTuple):
    alias: str
    name: str
    environment: str | None = None
    create_if_missing: bool = False
    read_only: bool = False
    version: int | None = None  # Modal's VolumeFsVersion: 1 or 2


class Secret(NamedTuple):
    alias: str
    name: str
    required_keys: tuple[str, ...] = ()
    environment: str | None = None


class Store(NamedTuple):
    """A named modal.Queue or modal.Dict, handed to handler code as modalc_app.QUEUES / modalc_app.DICTS."""

    kind: Literal["queue", "dict"]
    alias: str
    name: str
    environment: str | None = None
    create_if_missing: bool = False


class CloudBucket(NamedTuple):
    alias: str
    bucket_name: str
    options: tuple[tuple[str, object], ...] = ()  # CloudBucketMount keyword arguments, in signature order
    secret: str | None = None


class Mount(NamedTuple):
    path: str
    kind: Literal["volume", "bucket"]
    alias: str
    read_only: bool | None = None  # None: the volume's default
    sub_path: str | None = None


# --- handlers ---------------------------------------------------------------------------------------


class Annotation(NamedTuple):
    """A handler's annotation as the wrapper repeats it.

    `expression` is the annotation's source with the user's names reached through the module alias
    (`_pkg_mod.Item`); `quoted` annotations are written as strings: they name the user's types (importable only
    in the container) or were strings in the user's code, and a string must never become live code.
    """

    expression: str
    quoted: bool = False


class Default(NamedTuple):
    """A parameter's default: a literal value (render writes it through pyliteral)."""

    value: object


class Parameter(NamedTuple):
    """One parameter of a handler, as data: render turns annotation and default into code."""

    name: str
    kind: Literal["positional_only", "positional_or_keyword", "var_positional", "keyword_only", "var_keyword"]
    annotation: Annotation | None = None
    default: Default | None = None


class Signature(NamedTuple):
    parameters: tuple[Parameter, ...] = ()
    returns: Annotation | None = None
    is_async: bool = False
    is_generator: bool = False

    @property
    def is_nullary(self) -> bool:
        return all(p.default is not None or p.kind in ("var_positional", "var_keyword") for p in self.parameters)


class Handler(NamedTuple):
    module: str  # dotted module path in the user's source tree
    qualname: str
    module_alias: str  # the identifier the generated module imports `module` as
    kind: Literal["function", "class", "value"] = "function"  # value: a module-level object (an ASGI app)
    signature: Signature = Signature()


# --- functions and classes -------------------------------------------------------------------------


class Retries(NamedTuple):
    max_retries: int
    backoff_coefficient: float | None = None
    initial_delay: float | None = None
    max_delay: float | None = None
    is_policy: bool = False  # written as a table in the manifest: rendered as modal.Retries(...)


class Schedule(NamedTuple):
    cron: str | None = None
    timezone: str | None = None
    period: tuple[tuple[str, float | int], ...] = ()


class WebEndpoint(NamedTuple):
    type: Literal["fastapi", "asgi", "wsgi", "web_server"]
    method: str | None = None
    label: str | None = None
    docs: bool | None = None
    custom_domains: tuple[str, ...] = ()
    requires_proxy_auth: bool | None = None
    port: int | None = None
    startup_timeout: float | None = None


class Concurrency(NamedTuple):
    max_inputs: int | None  # None: target_inputs alone (only http_server classes)
    target_inputs: int | None = None


class Cluster(NamedTuple):
    size: int
    rdma: bool | None = None


class HttpServer(NamedTuple):
    """modal.experimental.http_server on a class."""

    port: int
    proxy_regions: tuple[str, ...]
    startup_timeout: int | None = None
    exit_grace_period: int | None = None
    h2_enabled: bool | None = None


class Batching(NamedTuple):
    max_batch_size: int
    wait_ms: int


class Settings(NamedTuple):
    """What `@app.function` and `@app.cls` share; None means "not set: Modal's default"."""

    image: str | None = None
    gpu: tuple[str, ...] = ()
    cpu: float | tuple[float, float] | None = None
    memory: int | tuple[int, int] | None = None
    ephemeral_disk: int | None = None
    timeout: int | None = None
    startup_timeout: int | None = None
    retries: Retries | None = None
    min_containers: int | None = None
    max_containers: int | None = None
    buffer_containers: int | None = None
    scaledown_window: int | None = None
    region: str | tuple[str, ...] | None = None
    cloud: str | None = None
    nonpreemptible: bool | None = None
    memory_snapshot: bool | None = None
    single_use_containers: bool | None = None
    block_network: bool | None = None
    restrict_modal_access: bool | None = None
    routing_region: str | None = None
    concurrency: Concurrency | None = None
    mounts: tuple[Mount, ...] = ()
    secrets: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    experimental_options: tuple[tuple[str, object], ...] = ()
    cluster: Cluster | None = None


class Function(NamedTuple):
    name: str
    handler: Handler
    settings: Settings
    schedule: Schedule | None = None
    web: WebEndpoint | None = None
    batched: Batching | None = None
    key_path: KeyPath = ()
    app: str | None = None  # the alias of the app (under [apps]) it belongs to; None: the main app


class ClassParameter(NamedTuple):
    name: str
    type: Literal["str", "int", "bool", "bytes"]
    default: object = None
    has_default: bool = False


class Hook(NamedTuple):
    name: str
    signature: Signature
    snap: bool = False


class Method(NamedTuple):
    name: str
    signature: Signature
    batched: Batching | None = None
    web: WebEndpoint | None = None
    is_static: bool = False


class Cls(NamedTuple):
    name: str
    handler: Handler
    settings: Settings
    parameters: tuple[ClassParameter, ...] = ()
    enter: tuple[Hook, ...] = ()
    exit: tuple[Hook, ...] = ()
    methods: tuple[Method, ...] = ()
    create_snap: bool = False  # the user's object is created in the pre-snapshot phase
    http_server: HttpServer | None = None
    key_path: KeyPath = ()
    app: str | None = None


class Entrypoint(NamedTuple):
    """A local entrypoint: `mode` is how it calls its target, a function or a class's method.

    map/starmap fan out over an inputs file; remote calls once with the command line's arguments and waits;
    spawn starts one call on the deployed app and returns its id; local runs the user's own function (`local`)
    on the deployer's machine while the app runs.
    """

    name: str
    function: str  # a function, or the class of `method` ("" for local)
    mode: Literal["map", "starmap", "remote", "spawn", "local"]
    inputs: str | None = None  # project-relative default input file (map, starmap)
    output: str = "-"
    function_parameters: tuple[str, ...] = ()  # the target's positional parameters (starmap CSV columns)
    method: str | None = None
    class_parameters: tuple[tuple[str, object], ...] = ()  # for a class target: Cls(**class_parameters)
    signature: Signature = Signature()  # remote, spawn, local: the command-line arguments (the target's parameters)
    local: tuple[str, str] | None = None  # local: (module, qualname) of the user's function
    key_path: KeyPath = ()


# --- the app ----------------------------------------------------------------------------------------


class SourceInfo(NamedTuple):
    manifest_name: str  # file name of the manifest, relative to its directory
    manifest_dir_depth: int  # how many directories the output module sits below the manifest's directory
    source_dir: str = "."  # handler root, relative to the manifest's directory
    user_modules: tuple[tuple[str, str, str | None], ...] = ()  # (module, alias, image alias for imports())


class OtherApp(NamedTuple):
    """Another Modal app of the same module ([apps.ALIAS]); the module names it `app_ALIAS`."""

    alias: str
    name: str
    tags: tuple[tuple[str, str], ...] = ()
    default_image: str | None = None
    default_secrets: tuple[str, ...] = ()
    default_mounts: tuple[Mount, ...] = ()


class App(NamedTuple):
    name: str
    environment: Environment
    source: SourceInfo
    tags: tuple[tuple[str, str], ...] = ()
    default_image: str | None = None
    default_secrets: tuple[str, ...] = ()
    default_mounts: tuple[Mount, ...] = ()
    images: tuple[Image, ...] = ()
    volumes: tuple[Volume, ...] = ()
    secrets: tuple[Secret, ...] = ()
    cloud_buckets: tuple[CloudBucket, ...] = ()
    stores: tuple[Store, ...] = ()
    functions: tuple[Function, ...] = ()
    classes: tuple[Cls, ...] = ()
    entrypoints: tuple[Entrypoint, ...] = ()
    other_apps: tuple[OtherApp, ...] = ()
    include: tuple[str, ...] = ()  # aliases of other apps whose functions deploy with this one
