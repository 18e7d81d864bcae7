"""modalc's benchmark: whole processes, timed side by side, against `python -c "import modal"`.

    python benchmarks/bench.py                  # full run: 7 repetitions, synthetic sizes 1, 10, 100, 1000
    python benchmarks/bench.py --quick          # 3 repetitions, sizes 1, 10, 100
    python benchmarks/bench.py --only examples --runs 5
    python benchmarks/bench.py --only deploy    # modalc deploy vs modal deploy, on a local control plane
    python benchmarks/bench.py --only synthetic --sizes 1000,4000,10000 --runs 3
    python benchmarks/bench.py --no-fail        # exit 0 even if a target fails

Every command is a fresh process (wall clock measured with `time.perf_counter` around `subprocess.Popen` and a
blocking wait, i.e. `subprocess.run` without its polling timeout), run with the interpreter that runs this script
(or `--python`). Each command runs once untimed to warm up (which also fills the OS caches), then all commands
run round-robin in each repetition, so machine noise hits all of them alike, and the median of the repetitions
is reported, with its ratio to `import modal` measured in the same run.

Peak memory is each process's own maximum RSS, read from GNU time (`/usr/bin/time -f %M`), which wraps every
timed command, the baseline included. Whether a command imports `modal` is read from `python -X importtime`.

Nothing in the repository is touched: examples are copied to a temporary directory, synthetic projects are
generated there (`benchmarks/synthetic.py`), and cold builds delete everything the compiler wrote (the output
directory, any `.modalc` cache and any other new file in the project, and `$XDG_CACHE_HOME`, which points into the
temporary directory) before every run. Results go to benchmarks/results/latest.{json,md}.

Exit code: 0 if every target passes (or `--no-fail`), 1 if one fails, 2 on a usage or setup error.
Standard library only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import synthetic  # noqa: E402

DEFAULT_RUNS = 7
DEFAULT_SIZES = (1, 10, 100, 1000)
QUICK_RUNS = 3
QUICK_SIZES = (1, 10, 100)
YAML_SIZES = (100, 1000)
RUN_TIMEOUT = 900  # seconds, per process
GNU_TIME = "/usr/bin/time"
MANIFEST_NAMES = ("app.toml", "app.yaml", "app.yml")
OUTPUT_DIR = "generated"
CACHE_DIRS = (".modalc", ".modalc_cache", ".cache")
WATCHED_IMPORTS = ("modal", "black", "jinja2", "jsonschema", "ruamel.yaml", "click", "yaml")

# --- targets ------------------------------------------------------------------------------------------------
BUILD_RATIO_MAX = 0.7  # modalc build of an example, in multiples of `import modal`
VALIDATE_RATIO_MAX = 0.5
HELP_MAX_S = 0.15
BUILD_1000_MAX_S = 3.0
GROWTH_1000_100_MAX = 12.0
REBUILD_MAX_S = 0.3
INCREMENTAL_RATIO_MAX = 0.2  # a build after one function's edit, in multiples of the cold build of the same project
PEAK_MEMORY_MAX_MB = 150.0
DEPLOY_RATIO_MAX = 0.8  # modalc deploy, in multiples of `modal deploy` of the same module, same control plane
NO_OP_DEPLOY_RATIO_MAX = 0.3
DEPLOY_EXAMPLE = "inference_api"  # two secrets, a volume, two web endpoints
DEPLOY_SECRETS = {"sentiment-api-keys": ["API_KEY"], "huggingface": ["HF_TOKEN"]}  # what it needs to exist
BASELINE_APP_SUFFIX = "-by-modal"  # `modal deploy` deploys a copy under this name: modalc's tags stay in place
NO_MODAL_KINDS = ("build", "rebuild", "validate", "diff", "schema")


# --- commands -----------------------------------------------------------------------------------------------


@dataclass
class Command:
    label: str
    group: str  # baseline | examples | synthetic | deploy
    kind: str  # baseline | help | schema | build | rebuild | edit | validate | diff | modal-deploy | deploy | no-op-deploy
    argv: list[str]
    cwd: Path
    modalc_args: list[str] | None = None  # for `python -X importtime -m modalc ...`
    project: str | None = None
    size: int | None = None
    fmt: str | None = None
    setup: Callable[[], None] | None = None  # once, before the warm-up (untimed)
    reset: Callable[[], None] | None = None  # before every run, the warm-up included (untimed)
    verify: Callable[[], str | None] | None = None  # after all runs: a problem, or None
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. this command's own build cache
    project_ref: Project | None = None  # the project a rebuild works in
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    imports: dict[str, bool] | None = None  # watched module -> imported?
    import_count: int | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def peak_mb(self) -> float | None:
        return max(self.rss_kib) / 1024 if self.rss_kib else None

    @property
    def imports_modal(self) -> bool | None:
        return None if self.imports is None else self.imports.get("modal")


class Project:
    """A project directory whose every file the compiler adds can be removed again (cold builds)."""

    def __init__(self, directory: Path, manifest: Path):
        self.directory = directory
        self.manifest = manifest
        self.snapshot = self._listing()
        self.cache_env: dict[str, str] = {}

    def _listing(self) -> set[str]:
        return {p.relative_to(self.directory).as_posix() for p in self.directory.rglob("*")}

    def reset(self) -> None:
        for name in (OUTPUT_DIR, *CACHE_DIRS):
            target = self.directory / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        for relative in sorted(self._listing() - self.snapshot, key=len):
            target = self.directory / relative
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists() or target.is_symlink():
                target.unlink()

    def output_state(self) -> dict[str, tuple[int, int]]:
        out = self.directory / OUTPUT_DIR
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(out.glob("*"))} if out.is_dir() else {}


class Runner:
    def __init__(self, python: str, workdir: Path, env: dict[str, str], verbose: bool):
        self.python = python
        self.workdir = workdir
        self.env = env
        self.verbose = verbose
        self.use_gnu_time = _gnu_time_works()
        self._serial = 0

    def run(self, command: Command, *, timed: bool) -> None:
        """Run once; when timed, record wall clock and peak RSS."""
        if command.reset is not None:
            command.reset()
        self._serial += 1
        rss_file = self.workdir / "logs" / f"rss-{self._serial}.txt"
        out_file = self.workdir / "logs" / f"out-{self._serial}.txt"
        err_file = self.workdir / "logs" / f"err-{self._serial}.txt"
        argv = command.argv
        if self.use_gnu_time:
            argv = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
        with open(out_file, "wb") as out, open(err_file, "wb") as err:
            # Not subprocess.run(timeout=...): with a timeout, Popen.wait polls with sleeps of up to 50 ms,
            # which would round every measurement up to the next poll. A blocking wait, and a watchdog thread.
            start = time.perf_counter()
            process = subprocess.Popen(
                argv,
                cwd=command.cwd,
                env={**self.env, **command.extra_env},
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
            watchdog = threading.Timer(RUN_TIMEOUT, process.kill)
            watchdog.start()
            try:
                returncode = process.wait()
            finally:
                elapsed = time.perf_counter() - start
                watchdog.cancel()
        if returncode != 0:
            tail = err_file.read_text(errors="replace").strip().splitlines()[-5:]
            command.errors.append(f"exit {returncode}: " + " | ".join(tail))
        if timed:
            command.times.append(elapsed)
            rss = _read_rss(rss_file) if self.use_gnu_time else None
            if rss is None and not self.use_gnu_time:
                rss = self._rss_by_launcher(command)
            if rss is not None:
                command.rss_kib.append(rss)
        for path in (rss_file, out_file, err_file):
            path.unlink(missing_ok=True)

    def _rss_by_launcher(self, command: Command) -> int | None:
        """Without GNU time: an untimed extra run under a fork+wait4 launcher (its own ~10 MB is the floor)."""
        if command.reset is not None:
            command.reset()
        launcher = (
            "import os, sys\npid = os.fork()\nif pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n"
            "_, status, usage = os.wait4(pid, 0)\nprint(usage.ru_maxrss)\n"
        )
        argv = (
            command.argv
            if os.path.isabs(command.argv[0])
            else [shutil.which(command.argv[0]) or command.argv[0], *command.argv[1:]]
        )
        completed = subprocess.run(
            [sys.executable, "-c", launcher, *argv],
            cwd=command.cwd,
            env={**self.env, **command.extra_env},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        try:
            return int(completed.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    def importtime(self, command: Command) -> list[tuple[str, int, int, int]]:
        """`python -X importtime -m modalc ARGS` once: [(module, self us, cumulative us, depth)]."""
        if command.reset is not None:
            command.reset()
        argv = [
            self.python,
            "-X",
            "importtime",
            *(["-m", "modalc", *command.modalc_args] if command.modalc_args is not None else command.argv[1:]),
        ]
        completed = subprocess.run(
            argv,
            cwd=command.cwd,
            env={**self.env, **command.extra_env},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            command.errors.append(f"importtime run: exit {completed.returncode}")
        return parse_importtime(completed.stderr)


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """Lines `import time: SELF | CUMULATIVE | <indent>module` -> [(module, self us, cumulative us, depth)]."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        try:
            self_us, cumulative_us = int(parts[0]), int(parts[1])
        except ValueError:
            continue  # the header line
        raw = parts[2]
        rows.append((raw.strip(), self_us, cumulative_us, (len(raw) - len(raw.lstrip(" ")) - 1) // 2))
    return rows


def _gnu_time_works() -> bool:
    if not os.access(GNU_TIME, os.X_OK):
        return False
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as handle:
        done = subprocess.run([GNU_TIME, "-f", "%M", "-o", handle.name, "true"], capture_output=True, check=False)
        return done.returncode == 0 and _read_rss(Path(handle.name)) is not None


def _read_rss(path: Path) -> int | None:
    """GNU time's output file: maybe a "Command exited with non-zero status" line, then %M (KiB)."""
    try:
        lines = path.read_text().strip().splitlines()
        return int(lines[-1].strip())
    except (OSError, ValueError, IndexError):
        return None


# --- building the command list -----------------------------------------------------------------------------


def modalc_prefix(python: str) -> list[str]:
    """The console script beside the interpreter (what users run), else `python -m modalc`."""
    script = Path(python).parent / "modalc"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "modalc"]


def find_examples() -> list[tuple[str, Path]]:
    found = []
    for directory in sorted((REPO / "examples").iterdir()):
        manifest = next((directory / n for n in MANIFEST_NAMES if (directory / n).is_file()), None)
        if directory.is_dir() and manifest is not None:
            found.append((directory.name, manifest))
    return found


def copy_project(source_dir: Path, target: Path, manifest_name: str) -> Project:
    shutil.copytree(source_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return Project(target, target / manifest_name)


def _first_build(project: Project, prefix: list[str], runner_ref: list[Runner]) -> None:
    """The project from scratch, built once in the command's own cache directory (untimed)."""
    project.reset()
    subprocess.run(
        [*prefix, "build", project.manifest.name],
        cwd=project.directory,
        env={**runner_ref[0].env, **project.cache_env},
        capture_output=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def rebuild_commands(project: Project, prefix: list[str], runner_ref: list[Runner]) -> tuple[Callable, Callable]:
    """setup: one build, so every timed run of the rebuild finds its output up to date; verify: nothing rewritten.

    The build in setup uses the command's own cache directory (`project.cache_env`, set by main), so the
    rebuilds can answer from the record it leaves."""
    state: dict[str, dict] = {}

    def setup() -> None:
        _first_build(project, prefix, runner_ref)
        state["before"] = project.output_state()

    def verify() -> str | None:
        after = project.output_state()
        if not state.get("before"):
            return "the rebuild's project had no output after its first build"
        if after != state["before"]:
            return "a rebuild with nothing changed rewrote generated files"
        return None

    return setup, verify


def edit_commands(
    project: Project, function: str, prefix: list[str], runner_ref: list[Runner]
) -> tuple[Callable, Callable]:
    """setup: one build, which leaves every cache warm; reset (before each run): `function`'s max_containers goes
    up by one or back, so each timed build compiles a manifest that differs from the last one in that function,
    and rewrites both generated modules."""
    state: dict[str, object] = {}
    pattern = re.compile(r"max_containers\s*[=:]\s*(\d+)")

    def setup() -> None:
        _first_build(project, prefix, runner_ref)
        state["text"] = project.manifest.read_text(encoding="utf-8")
        state["edits"] = 0

    def edit() -> None:
        text = str(state["text"])
        start = (
            text.index(f"[functions.{function}]") if project.manifest.suffix == ".toml" else text.index(f" {function}:")
        )
        match = pattern.search(text, start)
        assert match is not None, f"{function} has no max_containers to edit"
        edits = int(state["edits"]) + 1  # type: ignore[call-overload]
        state["edits"] = edits
        changed = str(int(match.group(1)) + edits % 2)
        project.manifest.write_text(text[: match.start(1)] + changed + text[match.end(1) :], encoding="utf-8")

    return setup, edit


def _synthetic_command(
    spec: tuple[str, list[str], str, int, str], kind: str, label: str, project: Project, **hooks: Any
) -> Command:
    """`modalc validate` or `modalc build` of a synthetic project; spec is (tag, prefix, manifest name, size, format)."""
    tag, prefix, manifest, size, fmt = spec
    verb = "validate" if kind == "validate" else "build"
    return Command(
        f"{tag}: {label}",
        "synthetic",
        kind,
        [*prefix, verb, manifest],
        project.directory,
        [verb, manifest],
        project=tag,
        size=size,
        fmt=fmt,
        **hooks,
    )


def build_commands(
    args: argparse.Namespace, python: str, workdir: Path, runner_ref: list[Runner], cleanups: list[Callable[[], None]]
) -> list[Command]:
    prefix = modalc_prefix(python)
    commands: list[Command] = [
        Command('python -c "import modal"', "baseline", "baseline", [python, "-c", "import modal"], workdir),
    ]
    if args.only in (None, "baseline"):
        commands.append(Command("modalc --help", "baseline", "help", [*prefix, "--help"], workdir, ["--help"]))
        commands.append(Command("modalc schema", "baseline", "schema", [*prefix, "schema"], workdir, ["schema"]))

    if args.only in (None, "examples"):
        for name, manifest in find_examples():
            cold = copy_project(manifest.parent, workdir / "examples" / f"{name}-cold", manifest.name)
            warm = copy_project(manifest.parent, workdir / "examples" / f"{name}-warm", manifest.name)
            m = manifest.name
            setup, verify = rebuild_commands(warm, prefix, runner_ref)
            commands += [
                Command(
                    f"{name}: validate",
                    "examples",
                    "validate",
                    [*prefix, "validate", m],
                    warm.directory,
                    ["validate", m],
                    project=name,
                ),
                Command(
                    f"{name}: build (cold)",
                    "examples",
                    "build",
                    [*prefix, "build", m],
                    cold.directory,
                    ["build", m],
                    project=name,
                    reset=cold.reset,
                ),
                Command(
                    f"{name}: rebuild (no change)",
                    "examples",
                    "rebuild",
                    [*prefix, "build", m],
                    warm.directory,
                    ["build", m],
                    project=name,
                    setup=setup,
                    verify=verify,
                    project_ref=warm,
                ),
                Command(
                    f"{name}: diff --env dev --env prod",
                    "examples",
                    "diff",
                    [*prefix, "diff", m, "--env", "dev", "--env", "prod"],
                    warm.directory,
                    ["diff", m, "--env", "dev", "--env", "prod"],
                    project=name,
                ),
            ]

    if args.only in (None, "synthetic"):
        for size in args.sizes:
            for fmt in ("toml", "yaml"):
                if fmt == "yaml" and size not in YAML_SIZES:
                    continue
                functions, classes = synthetic.split(size)
                tag = f"synthetic {size} {fmt}"
                base = workdir / "synthetic" / f"{size}-{fmt}"
                source = base / "source"
                manifest = synthetic.write_project(source, functions, classes, fmt)
                cold = copy_project(source, base / "cold", manifest.name)
                warm = copy_project(source, base / "warm", manifest.name)
                m = manifest.name
                setup, verify = rebuild_commands(warm, prefix, runner_ref)
                edited = copy_project(source, base / "edited", manifest.name)
                edited_setup, edit = edit_commands(
                    edited, synthetic.edited_function(synthetic.manifest_data(functions, classes)), prefix, runner_ref
                )
                spec = (tag, prefix, m, size, fmt)
                commands += [
                    _synthetic_command(spec, "validate", "validate", warm),
                    _synthetic_command(spec, "build", "build (cold)", cold, reset=cold.reset),
                    _synthetic_command(
                        spec, "rebuild", "rebuild (no change)", warm, setup=setup, verify=verify, project_ref=warm
                    ),
                    _synthetic_command(
                        spec,
                        "edit",
                        "build (one function edited)",
                        edited,
                        setup=edited_setup,
                        reset=edit,
                        project_ref=edited,
                    ),
                ]

    if args.only in (None, "deploy"):
        commands += deploy_commands(python, prefix, workdir, runner_ref, cleanups)
    return commands


class ControlPlaneProcess:
    """`python -m modalc.control_plane` on a free port, seeded with what the deploy example needs."""

    def __init__(self, python: str, workdir: Path, env: dict[str, str]):
        state = workdir / "control-plane.json"
        seed = (
            "import json, sys\nfrom modalc.control_plane import ControlPlaneState\nstate = ControlPlaneState()\n"
            "for environment in sys.argv[2:]:\n    state.add_environment(environment)\n"
            f"    for name, keys in {DEPLOY_SECRETS!r}.items():\n        state.add_secret(environment, name, keys)\n"
            "state.save(sys.argv[1])\n"
        )
        subprocess.run([python, "-c", seed, str(state), "dev"], env=env, check=True, timeout=60)
        self.log = workdir / "logs" / "control-plane.txt"
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                [python, "-m", "modalc.control_plane", "--port", "0", "--state", str(state)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if " listening on " in line:
                    return line.rsplit(" ", 1)[-1]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the local control plane did not start: {self.log.read_text(errors='replace')[-500:]}")

    def client_env(self, workdir: Path) -> dict[str, str]:
        config = workdir / "modal.toml"
        config.write_text("")
        return {
            "MODAL_SERVER_URL": self.url,
            "MODAL_TOKEN_ID": "ak-bench",
            "MODAL_TOKEN_SECRET": "as-bench",
            "MODAL_CONFIG_PATH": str(config),
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def deploy_commands(
    python: str, prefix: list[str], workdir: Path, runner_ref: list[Runner], cleanups: list[Callable[[], None]]
) -> list[Command]:
    """`modal deploy` of a built example's module against `modalc deploy` of it, on one local control plane.

    Both are redeploys after the warm-up. `modal deploy` deploys a copy of the app under another name (the same
    module otherwise), so the no-op deploy always finds modalc's own tags on its app. modalc's build record is
    in place, as after `modalc build`."""
    manifest = next(m for name, m in find_examples() if name == DEPLOY_EXAMPLE)
    project = copy_project(manifest.parent, workdir / "deploy" / DEPLOY_EXAMPLE, manifest.name)
    baseline = copy_project(
        manifest.parent, workdir / "deploy" / f"{DEPLOY_EXAMPLE}{BASELINE_APP_SUFFIX}", manifest.name
    )
    text = baseline.manifest.read_text()
    name_line = next(line for line in text.splitlines() if line.startswith("name = "))
    baseline.manifest.write_text(text.replace(name_line, name_line[:-1] + BASELINE_APP_SUFFIX + '"', 1))
    env = {k: v for k, v in runner_ref[0].env.items() if not k.startswith("MODAL_")}
    server = ControlPlaneProcess(python, workdir, env)
    cleanups.append(server.stop)
    client = {**server.client_env(workdir), "MODALC_CACHE_DIR": str(workdir / "cache-deploy")}
    for name in [k for k in runner_ref[0].env if k.startswith("MODAL_")]:
        runner_ref[0].env.pop(name)  # the user's own profile, environment or server must not leak in

    def build() -> None:
        for directory in (project.directory, baseline.directory):
            subprocess.run(
                [*prefix, "build", project.manifest.name],
                cwd=directory,
                env={**runner_ref[0].env, **client},
                capture_output=True,
                timeout=RUN_TIMEOUT,
                check=True,
            )

    modal = Path(python).parent / "modal"
    modal_cli = [str(modal)] if modal.is_file() else [python, "-m", "modal"]
    m = project.manifest.name
    tag = f"{DEPLOY_EXAMPLE}: deploy --env dev"
    return [
        Command(
            f"modal deploy generated/app_dev.py ({DEPLOY_EXAMPLE})",
            "deploy",
            "modal-deploy",
            [*modal_cli, "deploy", "generated/app_dev.py", "--env", "dev"],
            baseline.directory,
            project=DEPLOY_EXAMPLE,
            setup=build,
            extra_env=client,
        ),
        Command(
            f"{tag} --force",
            "deploy",
            "deploy",
            [*prefix, "deploy", m, "--env", "dev", "--force"],
            project.directory,
            project=DEPLOY_EXAMPLE,
            extra_env=client,
        ),
        Command(
            f"{tag} (no change)",
            "deploy",
            "no-op-deploy",
            [*prefix, "deploy", m, "--env", "dev"],
            project.directory,
            project=DEPLOY_EXAMPLE,
            extra_env=client,
        ),
    ]


# --- targets ------------------------------------------------------------------------------------------------


@dataclass
class Target:
    status: str  # PASS | FAIL | SKIP
    name: str
    value: str
    limit: str
    detail: str = ""


def evaluate(commands: list[Command], baseline: float | None, sizes: list[int]) -> list[Target]:
    targets: list[Target] = []

    def add(ok: bool | None, name: str, value: str, limit: str, detail: str = "") -> None:
        targets.append(Target("SKIP" if ok is None else "PASS" if ok else "FAIL", name, value, limit, detail))

    for command in commands:
        if command.errors:
            add(False, f"{command.label}: runs cleanly", command.errors[0][:160], "exit 0, nothing rewritten")

    def ratio_target(kind: str, limit: float) -> None:
        for command in (c for c in commands if c.group == "examples" and c.kind == kind):
            if command.median is None or not baseline:
                continue
            ratio = command.median / baseline
            excess = f"{ratio / limit:.2f}x the limit" if ratio > limit else ""
            add(
                ratio <= limit,
                f"{command.label}",
                f"{ratio:.2f}x import modal ({command.median:.3f} s)",
                f"<= {limit}x ({limit * baseline:.3f} s)",
                excess,
            )

    ratio_target("build", BUILD_RATIO_MAX)
    ratio_target("validate", VALIDATE_RATIO_MAX)

    for command in (c for c in commands if c.kind == "help"):
        if command.median is not None:
            add(
                command.median <= HELP_MAX_S,
                "modalc --help",
                f"{command.median:.3f} s",
                f"<= {HELP_MAX_S} s",
                f"{command.median / HELP_MAX_S:.2f}x the limit" if command.median > HELP_MAX_S else "",
            )

    for kind in NO_MODAL_KINDS:
        checked = [c for c in commands if c.kind == kind and c.imports is not None]
        if checked:
            offenders = [c.label for c in checked if c.imports_modal]
            add(
                not offenders,
                f"`modalc {'build' if kind == 'rebuild' else kind}`"
                + (" with nothing changed" if kind == "rebuild" else "")
                + " never imports modal",
                f"{len(offenders)} of {len(checked)} commands import it",
                "0",
                "; ".join(offenders),
            )

    builds = {(c.size, c.fmt): c for c in commands if c.group == "synthetic" and c.kind == "build"}
    for fmt in ("toml", "yaml"):
        big, mid, small = builds.get((1000, fmt)), builds.get((100, fmt)), builds.get((10, fmt))
        if big is not None and big.median is not None:
            add(
                big.median <= BUILD_1000_MAX_S,
                f"synthetic 1000 {fmt}: cold build (2 environments)",
                f"{big.median:.3f} s",
                f"<= {BUILD_1000_MAX_S} s",
                f"{big.median / BUILD_1000_MAX_S:.2f}x the limit" if big.median > BUILD_1000_MAX_S else "",
            )
            if mid is not None and mid.median:
                growth = big.median / mid.median
                add(
                    growth <= GROWTH_1000_100_MAX,
                    f"synthetic {fmt}: time(1000) / time(100), cold build",
                    f"{growth:.2f}",
                    f"<= {GROWTH_1000_100_MAX:g}",
                    f"marginal cost {(big.median - mid.median) / 900 * 1000:.2f} ms per function or class",
                )
        elif fmt == "toml":
            add(
                None,
                f"synthetic 1000 {fmt}: cold build (2 environments)",
                "not measured",
                f"<= {BUILD_1000_MAX_S} s",
                "size 1000 not in --sizes",
            )
        if mid is not None and small is not None and mid.median and small.median:
            add(
                None,
                f"synthetic {fmt}: time(100) / time(10), cold build (reported, no limit)",
                f"{mid.median / small.median:.2f}",
                "-",
                f"marginal cost {(mid.median - small.median) / 90 * 1000:.2f} ms per function or class",
            )
            targets[-1].status = "INFO"

    for command in (c for c in commands if c.kind == "rebuild"):
        if command.median is not None:
            add(
                command.median <= REBUILD_MAX_S,
                f"{command.label}",
                f"{command.median:.3f} s",
                f"<= {REBUILD_MAX_S} s",
                f"{command.median / REBUILD_MAX_S:.2f}x the limit" if command.median > REBUILD_MAX_S else "",
            )

    for command in (c for c in commands if c.kind == "edit" and c.median is not None):
        cold = builds.get((command.size, command.fmt))
        if cold is not None and cold.median:
            ratio = command.median / cold.median
            add(
                ratio <= INCREMENTAL_RATIO_MAX,
                f"{command.label} vs its cold build",
                f"{ratio:.2f}x",
                f"<= {INCREMENTAL_RATIO_MAX}x",
                f"{command.median:.3f} s vs {cold.median:.3f} s",
            )

    modal_deploy = next((c for c in commands if c.kind == "modal-deploy" and c.median), None)
    for kind, limit in (("deploy", DEPLOY_RATIO_MAX), ("no-op-deploy", NO_OP_DEPLOY_RATIO_MAX)):
        for command in (c for c in commands if c.kind == kind and c.median is not None):
            if modal_deploy is None or modal_deploy.median is None:
                continue
            ratio = command.median / modal_deploy.median
            add(
                ratio <= limit,
                command.label,
                f"{ratio:.2f}x modal deploy ({command.median:.3f} s)",
                f"<= {limit}x ({limit * modal_deploy.median:.3f} s)",
                f"{ratio / limit:.2f}x the limit" if ratio > limit else "",
            )

    measured = [c for c in commands if c.kind in ("build", "rebuild") and c.peak_mb is not None]
    if measured:
        worst = max(measured, key=lambda c: c.peak_mb or 0.0)
        over = [c.label for c in measured if (c.peak_mb or 0.0) > PEAK_MEMORY_MAX_MB]
        add(
            not over,
            f"peak memory of any build ({len(measured)} builds and rebuilds)",
            f"{worst.peak_mb:.1f} MB",
            f"<= {PEAK_MEMORY_MAX_MB:g} MB",
            f"largest: {worst.label}" + (f"; over the limit: {'; '.join(over)}" if over else ""),
        )
    return targets


# --- reporting ----------------------------------------------------------------------------------------------


def machine_info(python: str) -> dict:
    probe = (
        "import json, platform, sys\n"
        "import modal\n"
        "try:\n    from importlib.metadata import version\n    modalc = version('modalc')\n"
        "except Exception:\n    modalc = None\n"
        "print(json.dumps({'python': sys.version.split()[0], 'implementation': platform.python_implementation(),"
        " 'executable': sys.executable, 'modal': modal.__version__, 'modalc': modalc}))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"bench: {python} cannot import modal:\n{done.stderr.strip()}", file=sys.stderr)
        raise SystemExit(2)
    measured = json.loads(done.stdout)
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = None
    git_env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read-only: never refresh the index
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, env=git_env, check=False
    )
    if rev.returncode == 0:
        commit = rev.stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=git_env,
        check=False,
    )
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python_version": measured["python"],
        "python_implementation": measured["implementation"],
        "python_executable": measured["executable"],
        "modal_version": measured["modal"],
        "modalc_version": measured["modalc"],
        "git_commit": commit,
        "git_dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None,
        "git_modified_files": [line[3:] for line in dirty.stdout.splitlines()] if dirty.returncode == 0 else None,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _fmt(value: float | None, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def table_rows(commands: list[Command], baseline: float | None) -> list[list[str]]:
    rows = []
    for c in commands:
        ratio = c.median / baseline if c.median is not None and baseline else None
        spread = f"{min(c.times):.3f}-{max(c.times):.3f}" if c.times else "-"
        modal = "-" if c.imports is None else "yes" if c.imports_modal else "no"
        rows.append(
            [
                c.label,
                _fmt(c.median, ".3f"),
                spread,
                _fmt(ratio, ".2f") + ("x" if ratio is not None else ""),
                _fmt(c.peak_mb, ".1f"),
                modal,
                "ERROR" if c.errors else "",
            ]
        )
    return rows


HEADERS = ["command", "median s", "min-max s", "vs import modal", "peak MB", "imports modal", ""]


def text_table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            str(v).rjust(w) if i in right else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths).rstrip(), *(line(r) for r in rows)])


def markdown_table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    escape = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    return "\n".join(
        [
            "| " + " | ".join(map(escape, headers)) + " |",
            "| " + " | ".join(align) + " |",
            *("| " + " | ".join(map(escape, r)) + " |" for r in rows),
        ]
    )


def markdown_report(
    info: dict,
    config: dict,
    commands: list[Command],
    baseline: float | None,
    targets: list[Target],
    top_imports: dict | None,
) -> str:
    rows = [r[:-1] for r in table_rows(commands, baseline)]
    failed = [t for t in targets if t.status == "FAIL"]
    lines = [
        "<!-- written by benchmarks/bench.py; paste into docs/performance.md -->",
        f"Measured {info['date']} on `{info['platform']}`, {info['cpu_count']} CPUs"
        + (f" ({info['cpu_model']})" if info.get("cpu_model") else "")
        + f", Python {info['python_version']}, modal {info['modal_version']}, modalc {info['modalc_version']}"
        + (
            f", commit `{info['git_commit'][:12]}`" + (" (with uncommitted changes)" if info.get("git_dirty") else "")
            if info.get("git_commit")
            else ""
        )
        + ".",
        f"Whole processes, median of {config['runs']} interleaved runs after one warm-up; "
        f"`import modal` took {_fmt(baseline, '.3f')} s in the same run. Peak memory is the maximum RSS "
        "(GNU time `%M`, MB = 2^20 bytes).",
        "",
        markdown_table(HEADERS[:-1], rows, {1, 2, 3, 4}),
        "",
        f"Targets: {sum(t.status == 'PASS' for t in targets)} pass, {len(failed)} fail"
        + (f", {sum(t.status == 'SKIP' for t in targets)} skipped" if any(t.status == "SKIP" for t in targets) else "")
        + ".",
        "",
        markdown_table(
            ["", "target", "measured", "limit", "note"],
            [[t.status, t.name, t.value, t.limit, t.detail] for t in targets],
            set(),
        ),
    ]
    if top_imports:
        lines += [
            "",
            f"Start-up of `{top_imports['command']}`: top imports by cumulative time (`python -X importtime`, one run)",
            "",
            markdown_table(
                ["module", "cumulative ms", "self ms"],
                [[m, f"{c / 1000:.1f}", f"{s / 1000:.1f}"] for m, s, c, _ in top_imports["rows"]],
                {1, 2},
            ),
        ]
    return "\n".join(lines) + "\n"


# --- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, help=f"timed repetitions per command (default {DEFAULT_RUNS})")
    parser.add_argument("--sizes", help="synthetic sizes, functions + classes (default 1,10,100,1000)")
    parser.add_argument("--quick", action="store_true", help=f"--runs {QUICK_RUNS} --sizes 1,10,100 unless given")
    parser.add_argument(
        "--only",
        choices=("examples", "synthetic", "deploy", "baseline"),
        help="measure only these commands (the `import modal` baseline is always measured)",
    )
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if a target fails")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter to measure: runs `import modal` and modalc (default: this one)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "results",
        help="where latest.json and latest.md go (default benchmarks/results)",
    )
    parser.add_argument("--no-write", action="store_true", help="write no result files")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    parser.add_argument("--verbose", action="store_true", help="print every timed run")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = QUICK_RUNS if args.quick else DEFAULT_RUNS
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        args.sizes = (
            sorted({int(s) for s in args.sizes.split(",") if s.strip()})
            if args.sizes
            else list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
        )
    except ValueError:
        parser.error("--sizes takes numbers separated by commas, e.g. 1,10,100,1000")
    if any(s < 1 for s in args.sizes):
        parser.error("--sizes must be at least 1")
    return args


def _wiping(directory: Path, original: Callable[[], None] | None) -> Callable[[], None]:
    def reset() -> None:
        shutil.rmtree(directory, ignore_errors=True)
        if original is not None:
            original()

    return reset


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = args.python
    info = machine_info(python)
    workdir = Path(tempfile.mkdtemp(prefix="modalc-bench-"))
    (workdir / "logs").mkdir()
    (workdir / "xdg-cache").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPROFILEIMPORTTIME",
            "PYTHONTRACEMALLOC",
            "PYTHONDEVMODE",
            "PYTHONWARNINGS",
            "PYTHONDONTWRITEBYTECODE",
        )
    }
    env["XDG_CACHE_HOME"] = str(workdir / "xdg-cache")
    # Bytecode as an installed package has it, written by the warm-up runs into the work directory (with
    # PYTHONDONTWRITEBYTECODE set, every start compiled whatever had changed since the last .pyc).
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    runner_ref: list[Runner] = [Runner(python, workdir, env, args.verbose)]
    runner = runner_ref[0]

    print(
        f"machine: {info['platform']}, {info['cpu_count']} CPUs"
        + (f" ({info['cpu_model']})" if info.get("cpu_model") else ""),
        flush=True,
    )
    print(
        f"python:  {info['python_executable']} ({info['python_version']}), modal {info['modal_version']}, "
        f"modalc {info['modalc_version']}, commit {str(info.get('git_commit'))[:12]}"
        + (" (dirty)" if info.get("git_dirty") else ""),
        flush=True,
    )
    print(
        f"runs:    {args.runs} timed (+1 warm-up) per command, interleaved; sizes {args.sizes}; "
        f"peak memory via {'GNU time' if runner.use_gnu_time else 'a fork/wait4 launcher'}",
        flush=True,
    )
    started = time.perf_counter()
    cleanups: list[Callable[[], None]] = []
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    try:
        log(f"bench: preparing projects in {workdir}")
        commands = build_commands(args, python, workdir, runner_ref, cleanups)
        xdg = workdir / "xdg-cache"

        def wipe_xdg(original: Callable[[], None] | None) -> Callable[[], None]:
            def reset() -> None:
                shutil.rmtree(xdg, ignore_errors=True)
                xdg.mkdir()
                if original is not None:
                    original()

            return reset

        for index, command in enumerate(commands):
            if command.kind == "build":
                command.reset = wipe_xdg(command.reset)
            if command.kind in ("build", "rebuild", "edit"):
                # Each build gets its own cache directory: a cold build must not find a record, and wiping one
                # shared directory before every cold run would also wipe the records the rebuilds depend on.
                cache = workdir / f"cache-{index}"
                command.extra_env["MODALC_CACHE_DIR"] = str(cache)
                if command.kind == "build":
                    command.reset = _wiping(cache, command.reset)
                elif command.project_ref is not None:
                    command.project_ref.cache_env = dict(command.extra_env)

        log(f"bench: warming up {len(commands)} commands")
        for command in commands:
            if command.setup is not None:
                command.setup()
            runner.run(command, timed=False)
            if command.errors:
                log(f"bench: {command.label} failed in its warm-up: {command.errors[0]}")

        for repetition in range(args.runs):
            log(f"bench: repetition {repetition + 1}/{args.runs}")
            # round-robin; the starting point rotates so no command always runs right after a heavy one
            shift = repetition % len(commands)
            for command in commands[shift:] + commands[:shift]:
                runner.run(command, timed=True)
                if args.verbose:
                    log(f"  {command.times[-1]:8.3f} s  {command.label}")

        for command in commands:
            if command.verify is not None and (problem := command.verify()):
                command.errors.append(problem)

        log("bench: checking imports (python -X importtime -m modalc ...)")
        top_imports = None
        for command in commands:
            if command.modalc_args is None:
                continue
            rows = runner.importtime(command)
            names = {m for m, *_ in rows}
            command.imports = {w: any(n == w or n.startswith(w + ".") for n in names) for w in WATCHED_IMPORTS}
            command.import_count = len(names)
            # the start-up profile: a cold build of an example, whisper_service (the README's) if there is one
            if (
                command.group == "examples"
                and command.kind == "build"
                and (top_imports is None or command.project == "whisper_service")
            ):
                top_imports = {
                    "command": f"modalc {' '.join(command.modalc_args)} ({command.project})",
                    "rows": sorted(rows, key=lambda r: r[2], reverse=True)[:10],
                }
    finally:
        for cleanup in cleanups:
            cleanup()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"bench: kept {workdir}")
    elapsed = time.perf_counter() - started

    baseline = commands[0].median
    targets = evaluate(commands, baseline, args.sizes)

    print()
    print(text_table(HEADERS, table_rows(commands, baseline), {1, 2, 3, 4}))
    print()
    heavy = [c for c in commands if c.imports is not None]
    if heavy:
        print("imports per command (python -X importtime):")
        for c in heavy:
            listed = ", ".join(w for w, yes in c.imports.items() if yes) or "none of the watched"
            print(f"  {c.label}: {c.import_count} modules; {listed}")
        print()
    if top_imports:
        print(f"start-up of `{top_imports['command']}`, top imports by cumulative time:")
        for module, self_us, cumulative_us, _depth in top_imports["rows"]:
            print(f"  {cumulative_us / 1000:8.1f} ms cumulative {self_us / 1000:7.1f} ms self  {module}")
        print()
    print("targets:")
    for t in targets:
        note = f"  ({t.detail})" if t.detail else ""
        print(f"  {t.status:<4}  {t.name}: {t.value} (limit {t.limit}){note}")
    failed = [t for t in targets if t.status == "FAIL"]
    print()
    print(
        f"{len(failed)} of {sum(t.status in ('PASS', 'FAIL') for t in targets)} targets failed; "
        f"bench took {elapsed:.0f} s; load average {load_before} -> "
        f"{os.getloadavg() if hasattr(os, 'getloadavg') else None}"
    )

    config = {
        "runs": args.runs,
        "sizes": args.sizes,
        "only": args.only,
        "quick": args.quick,
        "python": python,
        "modalc": modalc_prefix(python),
        "peak_memory": "gnu-time" if runner.use_gnu_time else "launcher",
        "warmup_runs": 1,
        "interleaved": True,
        "load_average_before": load_before,
        "elapsed_s": round(elapsed, 1),
    }
    if not args.no_write:
        args.results.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": info,
            "config": config,
            "baseline_median_s": baseline,
            "commands": [
                {
                    "label": c.label,
                    "group": c.group,
                    "kind": c.kind,
                    "project": c.project,
                    "size": c.size,
                    "format": c.fmt,
                    "argv": [Path(a).name if i == 0 else a for i, a in enumerate(c.argv)],
                    "runs_s": [round(t, 6) for t in c.times],
                    "median_s": c.median,
                    "ratio_to_import_modal": c.median / baseline if c.median is not None and baseline else None,
                    "peak_rss_kib": c.rss_kib,
                    "peak_mb": c.peak_mb,
                    "imports": c.imports,
                    "imported_modules": c.import_count,
                    "errors": c.errors,
                }
                for c in commands
            ],
            "targets": [t.__dict__ for t in targets],
            "top_imports": None
            if top_imports is None
            else {
                "command": top_imports["command"],
                "rows": [{"module": m, "self_us": s, "cumulative_us": cu} for m, s, cu, _ in top_imports["rows"]],
            },
        }
        (args.results / "latest.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        (args.results / "latest.md").write_text(
            markdown_report(info, config, commands, baseline, targets, top_imports), encoding="utf-8"
        )
        print(f"wrote {_relative(args.results / 'latest.json')} and {_relative(args.results / 'latest.md')}")
    return 0 if args.no_fail or not failed else 1


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
