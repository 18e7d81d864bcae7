"""`modalc cost`: price every selected environment, print the figures (or the price of a change), judge budgets.

The manifest is compiled without the budget check (this command reports budgets itself, after the figures
that explain them). `--diff` prices the committed module of each environment at a git ref (HEAD unless
`--base`) with the same prices, so the difference is the change's, not the prices'.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .budget import Budget, budget_prices, over_budget, price_problem, read_budget
from .changes import git_show, is_commit
from .cost import (
    Member,
    PriceError,
    Prices,
    change_json,
    compare,
    environment_json,
    list_prices,
    load_price_file,
    members_of_module,
    price_app,
    price_members,
)
from .cost_text import format_change, format_cost
from .diagnostics import Diagnostic, sort_diagnostics
from .paths import output_path
from .pipeline import check_manifest

if TYPE_CHECKING:
    from . import ir
    from .load import LoadedManifest

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def run_cost(
    path: Path,
    *,
    display_name: str,
    environments: Sequence[str],
    as_json: bool,
    price_file: Path | None,
    rates: str | None,
    diff_ref: str | None,
    out_dir: Path | None,
    display: Callable[[Path], str],
    report: Callable[[Sequence[Diagnostic]], None],
) -> int:
    result = check_manifest(path, display_name=display_name, environments=environments, out_dir=out_dir, budgets=False)
    report(result.diagnostics)
    manifest = result.manifest
    if not result.ok or manifest is None or result.out_dir is None:
        errors = sum(1 for d in result.diagnostics if d.is_error)
        click.echo(f"modalc: {errors} error{'s' if errors != 1 else ''}; nothing priced", err=True)
        return EXIT_INVALID
    project_dir = manifest.path.resolve().parent
    try:
        override = _chosen_prices(price_file, rates, display)
    except PriceError as error:
        click.echo(f"modalc: {error}", err=True)
        return EXIT_INVALID
    if diff_ref is not None:
        found = is_commit(project_dir, diff_ref)
        if found is None:
            click.echo(
                f"modalc: --diff compares with git history, and {display(project_dir)} is not in a git checkout",
                err=True,
            )
            return EXIT_INVALID
        if not found:
            click.echo(f"modalc: {diff_ref!r} is not a commit in this repository", err=True)
            return EXIT_USAGE
    documents: list[dict[str, Any]] = []
    texts: list[str] = []
    problems: list[Diagnostic] = []
    for name, app in result.apps.items():
        budget = read_budget(manifest.data, app.environment)
        try:
            prices = override or budget_prices(budget, project_dir)[0]
        except PriceError as error:
            assert budget is not None  # list prices always load
            report([price_problem(error, budget, manifest)])
            return EXIT_INVALID
        try:
            priced = price_app(app, prices)
            change = None
            if diff_ref is not None:
                module = output_path(result.out_dir, name)
                old, baseline = _baseline(module, diff_ref, display(module))
                before = price_members(old, prices, app=app.name, environment=name)
                change = compare(before, priced, baseline)
        except PriceError as error:
            click.echo(f"modalc: {error}", err=True)
            return EXIT_INVALID
        if budget is not None:
            problems += over_budget(priced, budget, manifest)
        document = {**environment_json(priced), "budget": budget.to_json() if budget else None}
        documents.append(change_json(change) if change is not None else document)
        texts.append(format_change(documents[-1]) if change is not None else format_cost(document, _limits(budget)))
    if as_json:
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        click.echo("\n".join(texts), nl=False)
    report(sort_diagnostics(problems))
    if problems:
        click.echo(f"modalc: {len(problems)} budget{'s' if len(problems) != 1 else ''} exceeded", err=True)
        return EXIT_INVALID
    return EXIT_OK


def _chosen_prices(price_file: Path | None, rates: str | None, display: Callable[[Path], str]) -> Prices | None:
    """The prices asked for on the command line (None: each environment's own, from its budget)."""
    if price_file is not None:
        return load_price_file(price_file, display(price_file))
    if rates == "list":
        return list_prices()
    if rates == "workspace":
        from .billing import RatesUnavailable, workspace_prices

        try:
            return workspace_prices()
        except RatesUnavailable as error:
            fallback = list_prices()
            click.echo(
                f"modalc: the workspace's rates are unavailable ({error}); using {fallback.source} as of {fallback.date}",
                err=True,
            )
            return fallback
    return None


def _baseline(module: Path, ref: str, shown: str) -> tuple[tuple[Member, ...], str]:
    source = git_show(module, ref)
    if source is None:
        return (), f"{ref} (no {shown} there: everything is new)"
    return members_of_module(source), f"{shown} at {ref}"


def _limits(budget: Budget | None) -> dict[str, Any] | None:
    return budget.to_json() if budget is not None and budget.limits else None


def environment_change(manifest: LoadedManifest, apps: dict[str, ir.App], environments: Sequence[str]) -> str:
    """`modalc diff`'s last part: what the second environment costs more (or less) than the first, each at the
    prices its budget names."""
    first, second = (
        price_app(
            apps[name], budget_prices(read_budget(manifest.data, apps[name].environment), manifest.path.parent)[0]
        )
        for name in environments
    )
    return format_change(change_json(compare(first, second, f"environment {environments[0]}")))
