"""Budgets: an environment whose idle floor or peak is above its budget is an invalid manifest.

A manifest's top-level `[budget]` (`idle_per_hour`, `peak_per_hour`, optionally `prices`, a price file of
negotiated rates) applies to every environment; `[environments.NAME.budget]` is that environment's own
setting, like `protected`, and replaces the top-level keys it sets. This stage runs after normalize, on the
IR of each environment, and reports the excess at the budget key that set the limit: the figures, the price
source, and the functions that make up the figure. It is not part of the IR: nothing in it reaches the
generated module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import ir
from .diagnostics import Diagnostic, KeyPath
from .observe import Observation

if TYPE_CHECKING:  # decimal and the cost model are imported only when a manifest has a budget
    from decimal import Decimal

    from .cost import EnvironmentCost, MemberCost, Prices
    from .load import LoadedManifest

FIGURES = {"idle_per_hour": "idle floor", "peak_per_hour": "peak"}
OVER_BUDGET = "over-budget"
PRICE_FILE = "price-file"
MAX_NAMED = 5  # functions named in one message; the rest are summed up


class Budget(NamedTuple):
    environment: ir.Environment
    limits: dict[str, Decimal]  # "idle_per_hour" | "peak_per_hour" -> USD per hour
    keys: dict[str, KeyPath]  # where each limit (and `prices`) is written
    prices: str | None = None  # a price file, relative to the manifest's directory

    def to_json(self) -> dict[str, str | None]:
        return {figure: _text(self.limits.get(figure)) for figure in FIGURES}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def declares_budget(data: Mapping[str, Any]) -> bool:
    if isinstance(data.get("budget"), dict):
        return True
    environments = data.get("environments")
    return isinstance(environments, dict) and any(
        isinstance(spec, dict) and isinstance(spec.get("budget"), dict) for spec in environments.values()
    )


def read_budget(data: Mapping[str, Any], environment: ir.Environment) -> Budget | None:
    """The budget of one environment: the top-level keys, replaced by the environment's own."""
    written: dict[str, tuple[Any, KeyPath]] = {}
    top = data.get("budget")
    if isinstance(top, dict):
        written.update({key: (value, ("budget", key)) for key, value in top.items()})
    environments = data.get("environments")
    spec = environments.get(environment.name) if environment.declared and isinstance(environments, dict) else None
    own = spec.get("budget") if isinstance(spec, dict) else None
    if isinstance(own, dict):
        written.update({key: (value, ("environments", environment.name, "budget", key)) for key, value in own.items()})
    if not written:
        return None
    from decimal import Decimal

    limits = {
        key: Decimal(str(value))
        for key, (value, _) in written.items()
        if key in FIGURES and isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    prices = written.get("prices", (None, ()))[0]
    return Budget(
        environment,
        limits,
        {key: path for key, (_, path) in written.items()},
        prices if isinstance(prices, str) else None,
    )


def budget_prices(
    budget: Budget | None, project_dir: Path, observed: dict[Path, Observation] | None = None
) -> tuple[Prices, Path | None]:
    """The prices an environment is judged by: its budget's price file, or Modal's list prices.
    Raises cost.PriceError (the caller reports it at the `prices` key)."""
    from .cost import PriceError, list_prices, load_price_file

    if budget is None or budget.prices is None:
        return list_prices(), None
    relative = budget.prices
    path = (project_dir / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(project_dir.resolve()):
        raise PriceError(f"{relative!r} must be a path inside the manifest's directory")
    return load_price_file(path, relative, observed), path


def check_budgets(
    manifest: LoadedManifest,
    apps: Mapping[str, ir.App],
    project_dir: Path,
    observed: dict[Path, Observation] | None = None,
) -> tuple[list[Diagnostic], set[Path]]:
    """Every environment over its budget, reported at the budget key; and the price files read (observed as
    they are read, into `observed`)."""
    if not declares_budget(manifest.data):
        return [], set()
    from .cost import PriceError, price_app

    diagnostics: list[Diagnostic] = []
    used: set[Path] = set()
    for app in apps.values():
        budget = read_budget(manifest.data, app.environment)
        if budget is None:
            continue
        try:
            prices, path = budget_prices(budget, project_dir, observed)
            cost = price_app(app, prices)
        except PriceError as error:
            diagnostics.append(price_problem(error, budget, manifest))
            if budget.prices is not None:
                used.add((project_dir / budget.prices).resolve())
            continue
        if path is not None:
            used.add(path)
        diagnostics += over_budget(cost, budget, manifest)
    return diagnostics, used


def price_problem(error: Exception, budget: Budget, manifest: LoadedManifest) -> Diagnostic:
    """A price file that cannot be used, reported at the `prices` key that names it."""
    where = budget.keys.get("prices", ("budget",))
    line, column = manifest.source_map.value_position(where)
    return Diagnostic(manifest.display_name, line, column, str(error), where, code=PRICE_FILE, stage="budget")


def over_budget(cost: EnvironmentCost, budget: Budget, manifest: LoadedManifest) -> list[Diagnostic]:
    """A diagnostic at the budget key for each figure above its limit."""
    from .cost_text import per_hour

    out = []
    environment = budget.environment
    whose = f" of {environment.name}" if environment.declared else ""
    prices = f"{cost.prices.source} as of {cost.prices.date}"
    for figure, label in FIGURES.items():
        limit = budget.limits.get(figure)
        if limit is None:
            continue
        value: Decimal | None = cost.idle_per_hour if figure == "idle_per_hour" else cost.peak_per_hour
        if value is not None and value <= limit:
            continue
        if value is None:
            names = [m.name for m in cost.unbounded]
            message = (
                f"the {label}{whose} is unbounded, over its budget of {per_hour(limit)}: "
                f"{_names(names)} {'has' if len(names) == 1 else 'have'} no max_containers"
            )
            hint = "set max_containers"
        else:
            message = (
                f"the {label}{whose} is {per_hour(value)}, {per_hour(value - limit)} over its budget of "
                f"{per_hour(limit)}: {_made_of(cost.members, figure)} ({prices})"
            )
            hint = (
                "lower min_containers, or choose cheaper resources"
                if figure == "idle_per_hour"
                else ("lower max_containers, or choose cheaper resources")
            )
        path = budget.keys[figure]
        line, column = manifest.source_map.key_position(path)
        out.append(
            Diagnostic(manifest.display_name, line, column, message, path, hint=hint, code=OVER_BUDGET, stage="budget")
        )
    return out


def _names(names: list[str]) -> str:
    return ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def _made_of(members: tuple[MemberCost, ...], figure: str) -> str:
    """The functions that make up a figure, dearest first: "Transcriber 20 x $3.9569/h = $79.14/h, ..."."""
    from .cost_text import per_hour

    def part(member: MemberCost) -> tuple[int, Decimal]:
        count = member.min_containers if figure == "idle_per_hour" else member.max_containers or 0
        return count, member.per_container_hour * count

    shares = sorted(((part(m), m) for m in members if part(m)[1] > 0), key=lambda s: (-s[0][1], s[1].name))
    shown = [f"{m.name} {count} x {per_hour(m.per_container_hour)} = {per_hour(total)}" for (count, total), m in shares]
    if len(shown) > MAX_NAMED:
        rest = sum((total for (_, total), _ in shares[MAX_NAMED:]), Decimal(0))
        shown = shown[:MAX_NAMED] + [f"{len(shown) - MAX_NAMED} more {per_hour(rest)}"]
    return ", ".join(shown)


def manifest_prices(manifest_path: Path, environment: ir.Environment) -> Prices:
    """The prices one environment of an already compiled manifest is judged by (for plan and diff)."""
    from .load import load_manifest

    manifest = load_manifest(manifest_path)
    return budget_prices(read_budget(manifest.data, environment), manifest_path.parent)[0]
