"""What an environment costs: per function and class, one container-hour, the idle floor, the peak, one call.

Pure and exact: prices are decimal strings read into `Decimal`, every figure is computed from the IR (or from
the decorators of a committed generated module) with Decimal arithmetic, and nothing here imports `modal` or
touches disk beyond reading a price file. A container-hour is

    region x (GPU price x count + cores x CPU price x np + GiB x memory price x np)

with np the non-preemptible multiplier (3, on CPU and memory only) and region the region multiplier (on the
whole container). Undeclared CPU and memory are Modal's default requests; a (request, limit) pair is priced at
its request, the floor of what Modal bills (max(request, usage)); a GPU fallback list is priced at its dearest
entry. docs/decisions.md says why. The idle floor is `min_containers` x that (what the app costs with no
traffic), the peak `max_containers` x that (None: unbounded), one call the price of `timeout` seconds.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from . import ir
from .observe import Observation, read_bytes

HOUR_SECONDS = Decimal(3600)
MIB_PER_GIB = Decimal(1024)
CALL_QUANTUM = Decimal("0.000001")  # one call's price is rounded to a millionth of a dollar; all else is exact
CPU_RATE = "cpu_hour_cost"
MEMORY_RATE = "mem_gib_hour_cost"
Kind = Literal["function", "class"]


class PriceError(Exception):
    """A price file or rate table modalc cannot use; the message says why."""


class Prices(NamedTuple):
    """Everything a figure depends on, and where it came from (printed with every figure)."""

    rates: Mapping[str, Decimal]  # `modal billing rates` key -> USD per unit-hour
    gpu_rates: Mapping[str, str]  # GPU type (modalc's spelling) -> rate key
    gpu_picks: Mapping[str, tuple[str, ...]]  # a type that lets Modal pick ("any") -> the types it may pick
    default_cpu: Decimal
    default_memory_mib: Decimal
    default_timeout: int
    disk_mib_per_memory_mib: Decimal
    region_kinds: Mapping[str, str]  # region -> "broad" | "narrow"
    region_factors: Mapping[str, Decimal]  # "broad" | "narrow" -> multiplier
    unlisted_region: str  # the kind a region outside Modal's table is priced as
    nonpreemptible_factor: Decimal
    source: str  # "Modal list prices", a price file's own name, "workspace rates of ..."
    date: str  # ISO date the prices are as of (or were fetched)
    url: str | None = None
    fallback: str = ""  # where the rates a partial source does not set come from

    @property
    def description(self) -> str:
        text = f"{self.source} as of {self.date}"
        if self.url:
            text += f" ({self.url})"
        if self.fallback:
            text += f"; other rates: {self.fallback}"
        return text


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PriceError(f'{what} must be a decimal string such as "3.95", not {value!r}')
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PriceError(f'{what} must be a decimal string such as "3.95", not {value!r}') from None
    if not number.is_finite() or number < 0:
        raise PriceError(f"{what} must be a finite, non-negative number, not {value!r}")
    return number


def _read_table(data: Mapping[str, Any]) -> Prices:
    regions = data["regions"]
    kinds = {name: kind for kind in ("broad", "narrow") for name in regions[kind]["names"]}
    return Prices(
        rates={key: _decimal(value, f"rates.{key}") for key, value in data["rates"].items()},
        gpu_rates=dict(data["gpu_rates"]),
        gpu_picks={name: tuple(picks) for name, picks in data["gpu_picks"].items()},
        default_cpu=_decimal(data["defaults"]["cpu_cores"], "defaults.cpu_cores"),
        default_memory_mib=_decimal(data["defaults"]["memory_mib"], "defaults.memory_mib"),
        default_timeout=int(data["defaults"]["timeout_seconds"]),
        disk_mib_per_memory_mib=_decimal(data["defaults"]["disk_mib_per_memory_mib"], "defaults"),
        region_kinds=kinds,
        region_factors={kind: _decimal(regions[kind]["factor"], f"regions.{kind}") for kind in ("broad", "narrow")},
        unlisted_region=regions["unlisted"],
        nonpreemptible_factor=_decimal(data["nonpreemptible"]["factor"], "nonpreemptible.factor"),
        source=data["source"],
        date=data["as_of"],
        url=data.get("url"),
    )


@cache
def list_prices() -> Prices:
    """Modal's list prices, as of the date in `data/prices.json`."""
    text = resources.files("modalc").joinpath("data", "prices.json").read_text(encoding="utf-8")
    return _read_table(json.loads(text))


def with_rates(base: Prices, rates: Mapping[str, Any], *, source: str, date: str, what: str) -> Prices:
    """`base` with some of its rates replaced (a negotiated price file, a workspace's rates)."""
    unknown = sorted(set(rates) - set(base.rates))
    if unknown:
        raise PriceError(
            f"{what} sets rates modalc does not know: {', '.join(unknown)} (known: {', '.join(sorted(base.rates))})"
        )
    replaced = {key: _decimal(value, f"{what}: rates.{key}") for key, value in rates.items()}
    partial = set(replaced) != set(base.rates)
    return base._replace(
        rates={**base.rates, **replaced},
        source=source,
        date=date,
        url=None,
        fallback=f"{base.source} as of {base.date}" if partial else "",
    )


def read_price_file(text: str, what: str, base: Prices | None = None) -> Prices:
    """A user's price file (negotiated rates): `{"source", "as_of", "rates": {key: "decimal"}}`, any subset of
    the rates; the rest, and the multipliers, stay Modal's."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise PriceError(f"{what} is not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(data, dict):
        raise PriceError(f"{what} must hold a JSON object")
    unknown = sorted(set(data) - {"source", "as_of", "rates", "note"})
    if unknown:
        raise PriceError(f"{what} has unknown keys: {', '.join(unknown)} (it takes source, as_of, rates and note)")
    source, date, rates = data.get("source"), data.get("as_of"), data.get("rates")
    if not isinstance(source, str) or not source.strip():
        raise PriceError(f'{what} needs a `source`: who set these prices ("our Modal contract, 2026")')
    if not isinstance(date, str) or not _is_iso_date(date):
        raise PriceError(f"{what} needs an `as_of` date written YYYY-MM-DD")
    if not isinstance(rates, dict) or not rates:
        raise PriceError(f"{what} needs `rates`: an object of rate names (as `modal billing rates` prints them)")
    return with_rates(base or list_prices(), rates, source=source.strip(), date=date, what=what)


def load_price_file(path: Path, what: str | None = None, observed: dict[Path, Observation] | None = None) -> Prices:
    """A price file; with `observed`, its stat and hash are recorded there as it is read (for the build cache)."""
    what = what or str(path)
    try:
        text = (read_bytes(path, observed) if observed is not None else path.read_bytes()).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PriceError(f"cannot read {what}: {getattr(error, 'strerror', None) or error}") from None
    return read_price_file(text, what)


def _is_iso_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


# --- what is priced ---------------------------------------------------------------------------------


class Member(NamedTuple):
    """A function or class and the settings it is priced by."""

    kind: Kind
    name: str
    settings: ir.Settings
    key_path: tuple[str | int, ...] = ()


def members(app: ir.App) -> tuple[Member, ...]:
    return (
        *(Member("function", f.name, f.settings, f.key_path) for f in app.functions),
        *(Member("class", c.name, c.settings, c.key_path) for c in app.classes),
    )


_MODULE_SETTINGS = (
    "gpu",
    "cpu",
    "memory",
    "ephemeral_disk",
    "min_containers",
    "max_containers",
    "timeout",
    "region",
    "nonpreemptible",
)


def members_of_module(source: str) -> tuple[Member, ...]:
    """The functions and classes of a generated module, with the settings its `@app.function` and `@app.cls`
    decorators pass to Modal: the baseline of `cost --diff` and of the cost lines of `plan`, read without
    importing the module (it is code from another commit) and without the manifest it came from."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise PriceError(f"the module does not parse: {error.msg} at line {error.lineno}") from None
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        registration, cluster = None, None
        for decorator in node.decorator_list:
            if not (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and isinstance(decorator.func.value, ast.Name)
            ):
                continue
            owner, attribute = decorator.func.value.id, decorator.func.attr
            if (owner == "app" or owner.startswith("app_")) and attribute in ("function", "cls"):
                registration = decorator
            elif owner == "modal" and attribute == "clustered":
                cluster = _cluster_of(decorator.keywords)
        if registration is not None:
            kind: Kind = "class" if registration.func.attr == "cls" else "function"  # type: ignore[attr-defined]
            found.append(Member(kind, node.name, _settings_of(registration.keywords)._replace(cluster=cluster)))
    return tuple(found)


def _cluster_of(keywords: Iterable[ast.keyword]) -> ir.Cluster | None:
    for keyword in keywords:
        if keyword.arg == "size" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, int):
            return ir.Cluster(keyword.value.value)
    return None


def _settings_of(keywords: Iterable[ast.keyword]) -> ir.Settings:
    values: dict[str, Any] = {}
    for keyword in keywords:
        if keyword.arg in _MODULE_SETTINGS:
            try:
                values[keyword.arg] = ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    gpu = values.pop("gpu", ())
    values["gpu"] = (gpu,) if isinstance(gpu, str) else tuple(str(g) for g in gpu)
    for key in ("cpu", "memory", "region"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return ir.Settings(**values)


# --- pricing ---------------------------------------------------------------------------------------


class MemberCost(NamedTuple):
    kind: Kind
    name: str
    gpu: str | None  # the GPU entry the price is for, as written ("H100:8")
    gpu_per_hour: Decimal  # the three parts of a container-hour, multipliers applied; they add up to it
    cpu_per_hour: Decimal
    memory_per_hour: Decimal
    cpu_cores: Decimal  # the billed floor: the request, or Modal's default
    memory_mib: Decimal
    region_factor: Decimal
    nonpreemptible_factor: Decimal
    per_container_hour: Decimal
    min_containers: int
    max_containers: int | None
    timeout: int
    per_call: Decimal
    notes: tuple[str, ...] = ()
    key_path: tuple[str | int, ...] = ()

    @property
    def idle_per_hour(self) -> Decimal:
        return self.per_container_hour * self.min_containers

    @property
    def peak_per_hour(self) -> Decimal | None:
        return None if self.max_containers is None else self.per_container_hour * self.max_containers


class EnvironmentCost(NamedTuple):
    app: str
    environment: str
    modal_environment: str
    prices: Prices
    members: tuple[MemberCost, ...]

    @property
    def idle_per_hour(self) -> Decimal:
        return sum((m.idle_per_hour for m in self.members), Decimal(0))

    @property
    def peak_per_hour(self) -> Decimal | None:
        peaks = [m.peak_per_hour for m in self.members]
        if any(p is None for p in peaks):
            return None
        return sum((p for p in peaks if p is not None), Decimal(0))

    @property
    def unbounded(self) -> tuple[MemberCost, ...]:
        return tuple(m for m in self.members if m.max_containers is None)


def split_gpu(text: str) -> tuple[str, int]:
    name, _, count = text.partition(":")
    return name, int(count) if count else 1


def gpu_price(gpu: str, prices: Prices) -> tuple[Decimal, str | None]:
    """One container's GPUs of entry `gpu` ("H100:8"), per hour, and the type priced when Modal picks one."""
    name, count = split_gpu(gpu)
    picked = None
    if name in prices.gpu_picks:
        choices = prices.gpu_picks[name]
        picked = max(choices, key=lambda choice: (_gpu_rate(choice, prices), choice))
        name = picked
    return _gpu_rate(name, prices) * count, picked


def _gpu_rate(name: str, prices: Prices) -> Decimal:
    key = prices.gpu_rates.get(name)
    if key is None or key not in prices.rates:
        raise PriceError(f"no price for GPU type {name!r} in {prices.source} as of {prices.date}")
    return prices.rates[key]


def region_factor(region: str | tuple[str, ...] | None, prices: Prices) -> tuple[Decimal, list[str]]:
    """The region multiplier and what to say about it: a list spanning broad and narrow regions gets the smaller
    multiplier (Modal's rule); a region outside Modal's table is priced as `unlisted_region` (the dearer)."""
    if region is None:
        return Decimal(1), []
    regions = (region,) if isinstance(region, str) else tuple(region)
    notes = []
    kinds = []
    for name in regions:
        kind = prices.region_kinds.get(name)
        if kind is None:
            kind = prices.unlisted_region
            notes.append(f"region {name!r} is not in Modal's region table: priced as {kind}")
        kinds.append(kind)
    kind = min(kinds, key=lambda k: prices.region_factors[k])
    factor = prices.region_factors[kind]
    if len(regions) == 1:
        notes.insert(0, f"region {regions[0]} ({kind}): x{factor} on the whole container")
    else:
        notes.insert(0, f"regions {', '.join(regions)}: the smallest multiplier applies, x{factor} ({kind})")
    return factor, notes


def _number(value: float | int) -> Decimal:
    return Decimal(str(value))  # the shortest repr: 0.1 is 0.1, not 0.1000000000000000055511151231257827


def price_member(member: Member, prices: Prices) -> MemberCost:
    settings = member.settings
    notes: list[str] = []
    gpu, gpu_hour = None, Decimal(0)
    if settings.gpu:
        priced = [(gpu_price(g, prices), g) for g in settings.gpu]
        (gpu_hour, picked), gpu = max(priced, key=lambda p: p[0][0])  # the first of equally dear entries
        if len(settings.gpu) > 1:
            notes.append(f"GPU fallbacks {', '.join(settings.gpu)}: priced at the dearest entry, {gpu}")
        if picked is not None:
            name = split_gpu(gpu)[0]
            notes.append(
                f"gpu {name!r} lets Modal pick {', '.join(prices.gpu_picks[name])}: priced as the dearest, {picked}"
            )
    cpu = settings.cpu
    cores = prices.default_cpu if cpu is None else _number(cpu[0] if isinstance(cpu, tuple) else cpu)
    memory = settings.memory
    mib = prices.default_memory_mib if memory is None else _number(memory[0] if isinstance(memory, tuple) else memory)
    if cpu is None and memory is None:
        notes.append(f"cpu and memory not declared: Modal's default requests, {cores} cores and {mib} MiB")
    elif cpu is None:
        notes.append(f"cpu not declared: Modal's default request, {cores} cores")
    elif memory is None:
        notes.append(f"memory not declared: Modal's default request, {mib} MiB")
    limits = [
        f"{what} {_number(pair[0])} of up to {_number(pair[1])} {unit}"
        for what, unit, pair in (("cpu", "cores", cpu), ("memory", "MiB", memory))
        if isinstance(pair, tuple)
    ]
    if limits:
        notes.append(
            f"priced at the request{'s' if len(limits) > 1 else ''}, {' and '.join(limits)}: Modal bills "
            "max(request, usage), so this is the floor"
        )
    if settings.ephemeral_disk:
        disk_floor = _number(settings.ephemeral_disk) / prices.disk_mib_per_memory_mib
        if disk_floor > mib:
            notes.append(
                f"ephemeral_disk {settings.ephemeral_disk} MiB raises the billed memory to {disk_floor.normalize():f} "
                f"MiB ({prices.disk_mib_per_memory_mib}:1)"
            )
            mib = disk_floor
    factor, region_notes = region_factor(settings.region, prices)
    notes += region_notes
    np = prices.nonpreemptible_factor if settings.nonpreemptible else Decimal(1)
    if settings.nonpreemptible:
        notes.append(f"non-preemptible: x{np} on CPU and memory")
    gpu_part = factor * gpu_hour
    cpu_part = factor * np * cores * prices.rates[CPU_RATE]
    memory_part = factor * np * (mib / MIB_PER_GIB) * prices.rates[MEMORY_RATE]
    per_hour = gpu_part + cpu_part + memory_part
    timeout = settings.timeout if settings.timeout is not None else prices.default_timeout
    nodes = settings.cluster.size if settings.cluster is not None else 1
    if nodes > 1:
        notes.append(f"clustered: one call runs on {nodes} containers at once")
    per_call = (per_hour * timeout * nodes / HOUR_SECONDS).quantize(CALL_QUANTUM, rounding=ROUND_HALF_UP)
    return MemberCost(
        kind=member.kind,
        name=member.name,
        gpu=gpu,
        gpu_per_hour=gpu_part,
        cpu_per_hour=cpu_part,
        memory_per_hour=memory_part,
        cpu_cores=cores,
        memory_mib=mib,
        region_factor=factor,
        nonpreemptible_factor=np,
        per_container_hour=per_hour,
        min_containers=settings.min_containers or 0,
        max_containers=settings.max_containers,
        timeout=timeout,
        per_call=per_call,
        notes=tuple(notes),
        key_path=member.key_path,
    )


def price_members(
    priced: Sequence[Member], prices: Prices, *, app: str = "", environment: str = "", modal_environment: str = ""
) -> EnvironmentCost:
    return EnvironmentCost(app, environment, modal_environment, prices, tuple(price_member(m, prices) for m in priced))


def price_app(app: ir.App, prices: Prices) -> EnvironmentCost:
    return price_members(
        members(app),
        prices,
        app=app.name,
        environment=app.environment.name,
        modal_environment=app.environment.modal_environment,
    )


# --- the price of a change -------------------------------------------------------------------------


class MemberChange(NamedTuple):
    kind: Kind
    name: str
    old: MemberCost | None
    new: MemberCost | None

    @property
    def action(self) -> str:
        if self.old is None:
            return "create"
        if self.new is None:
            return "delete"
        return "update" if _figures(self.old) != _figures(self.new) else "same"

    @property
    def idle_delta(self) -> Decimal:
        return _idle(self.new) - _idle(self.old)

    @property
    def peak_delta(self) -> Decimal | None:
        return delta(_peak(self.old), _peak(self.new))


def _figures(cost: MemberCost) -> tuple[object, ...]:
    return (cost.per_container_hour, cost.min_containers, cost.max_containers, cost.per_call)


def _idle(cost: MemberCost | None) -> Decimal:
    return Decimal(0) if cost is None else cost.idle_per_hour


def _peak(cost: MemberCost | None) -> Decimal | None:
    return Decimal(0) if cost is None else cost.peak_per_hour


def delta(old: Decimal | None, new: Decimal | None) -> Decimal | None:
    """new - old; None when either side is unbounded (the difference has no number)."""
    return None if old is None or new is None else new - old


class CostChange(NamedTuple):
    old: EnvironmentCost
    new: EnvironmentCost
    members: tuple[MemberChange, ...]
    baseline: str  # what `old` is, for people

    @property
    def idle_delta(self) -> Decimal:
        return self.new.idle_per_hour - self.old.idle_per_hour

    @property
    def peak_delta(self) -> Decimal | None:
        return delta(self.old.peak_per_hour, self.new.peak_per_hour)

    @property
    def changed(self) -> tuple[MemberChange, ...]:
        return tuple(m for m in self.members if m.action != "same")


def compare(old: EnvironmentCost, new: EnvironmentCost, baseline: str) -> CostChange:
    """Every function and class whose price a change creates, changes or deletes; both sides priced alike."""
    before = {(m.kind, m.name): m for m in old.members}
    after = {(m.kind, m.name): m for m in new.members}
    order = [*after, *(key for key in before if key not in after)]
    return CostChange(
        old,
        new,
        tuple(MemberChange(kind, name, before.get((kind, name)), after.get((kind, name))) for kind, name in order),
        baseline,
    )


# --- JSON: a stable contract ----------------------------------------------------------------------


def money(value: Decimal | None) -> str | None:
    """A figure as an exact decimal string ("3.9569125"); None stays None (unbounded)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def member_json(cost: MemberCost) -> dict[str, Any]:
    return {
        "name": cost.name,
        "kind": cost.kind,
        "per_container_hour": money(cost.per_container_hour),
        "min_containers": cost.min_containers,
        "max_containers": cost.max_containers,
        "idle_per_hour": money(cost.idle_per_hour),
        "peak_per_hour": money(cost.peak_per_hour),
        "timeout_seconds": cost.timeout,
        "per_call": money(cost.per_call),
        "gpu": cost.gpu,
        "cpu_cores": money(cost.cpu_cores),
        "memory_mib": money(cost.memory_mib),
        "breakdown": {
            "gpu": money(cost.gpu_per_hour),
            "cpu": money(cost.cpu_per_hour),
            "memory": money(cost.memory_per_hour),
        },
        "multipliers": {"region": money(cost.region_factor), "nonpreemptible": money(cost.nonpreemptible_factor)},
        "notes": list(cost.notes),
    }


def environment_json(cost: EnvironmentCost) -> dict[str, Any]:
    """`modalc cost --json` for one environment. Figures are decimal strings, US dollars per hour (per call
    for `per_call`); `peak_per_hour` is null when unbounded (some function has no `max_containers`)."""
    return {
        "app": cost.app,
        "environment": cost.environment,
        "modal_environment": cost.modal_environment,
        "currency": "USD",
        "price_source": cost.prices.description,
        "price_date": cost.prices.date,
        "functions": [member_json(m) for m in cost.members],
        "idle_per_hour": money(cost.idle_per_hour),
        "peak_per_hour": money(cost.peak_per_hour),
        "unbounded": [m.name for m in cost.unbounded],
    }


def change_json(change: CostChange) -> dict[str, Any]:
    """`modalc cost --diff --json` for one environment: new minus old, per function and in total."""
    return {
        "environment": change.new.environment,
        "baseline": change.baseline,
        "currency": "USD",
        "price_source": change.new.prices.description,
        "price_date": change.new.prices.date,
        "baseline_price_source": (
            change.old.prices.description if change.old.prices.description != change.new.prices.description else None
        ),
        "functions": [
            {
                "name": m.name,
                "kind": m.kind,
                "action": m.action,
                "old": None if m.old is None else _summary(m.old),
                "new": None if m.new is None else _summary(m.new),
                "idle_per_hour_delta": money(m.idle_delta),
                "peak_per_hour_delta": money(m.peak_delta),
            }
            for m in change.members
        ],
        "old": {"idle_per_hour": money(change.old.idle_per_hour), "peak_per_hour": money(change.old.peak_per_hour)},
        "new": {"idle_per_hour": money(change.new.idle_per_hour), "peak_per_hour": money(change.new.peak_per_hour)},
        "idle_per_hour_delta": money(change.idle_delta),
        "peak_per_hour_delta": money(change.peak_delta),
    }


def _summary(cost: MemberCost) -> dict[str, Any]:
    return {
        "per_container_hour": money(cost.per_container_hour),
        "min_containers": cost.min_containers,
        "max_containers": cost.max_containers,
        "idle_per_hour": money(cost.idle_per_hour),
        "peak_per_hour": money(cost.peak_per_hour),
        "per_call": money(cost.per_call),
    }
