"""Cost for people: `modalc cost`, `cost --diff`, and the cost lines of `plan` and `diff`.

Everything here formats the JSON that `cost.environment_json` and `cost.change_json` produce, so the text
shows exactly the figures of the stable contract, rounded for reading: cents from a dollar up, four decimals
below (a CPU function's container-hour is a fraction of a cent).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
SMALL = Decimal("0.0001")


def usd(value: str | Decimal | None, *, signed: bool = False) -> str:
    """ "$3.96", "$0.0059", "$0.553", "unbounded" for None; with `signed`, "+$3.96" and "-$0.50"."""
    if value is None:
        return "unbounded"
    number = Decimal(value)
    quantum = CENT if abs(number) >= 1 or number == number.quantize(CENT) else SMALL
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ("+" if signed else "")
    text = str(abs(rounded))
    while len(text.partition(".")[2]) > 2 and text.endswith("0"):
        text = text[:-1]
    return f"{sign}${text}"


def per_hour(value: str | Decimal | None, *, signed: bool = False) -> str:
    return "unbounded" if value is None else usd(value, signed=signed) + "/h"


def _place(environment: Mapping[str, Any]) -> str:
    modal_environment = environment.get("modal_environment") or ""
    where = f"Modal environment {modal_environment!r}" if modal_environment else "the default Modal environment"
    return f"environment {environment['environment']} ({where})"


def format_cost(environment: Mapping[str, Any], budget: Mapping[str, Any] | None = None) -> str:
    """One environment's `modalc cost` report: a block per function and class, then the totals."""
    lines = [
        f"{environment['app']}, {_place(environment)}",
        f"Prices: {environment['price_source']}",
    ]
    for member in environment["functions"]:
        lines += ["", *member_block(member)]
    if not environment["functions"]:
        lines += ["", "(no functions or classes)"]
    lines += ["", total_line(environment)]
    if budget:
        lines.append(budget_line(environment, budget))
    return "\n".join(lines) + "\n"


def member_block(member: Mapping[str, Any]) -> list[str]:
    parts = member["breakdown"]
    container = [
        f"{member['cpu_cores']} {'core' if member['cpu_cores'] == '1' else 'cores'} {usd(parts['cpu'])}",
        f"{member['memory_mib']} MiB {usd(parts['memory'])}",
    ]
    if member["gpu"]:
        container.insert(0, f"{member['gpu']} {usd(parts['gpu'])}")
    rows = [
        ("container", f"{per_hour(member['per_container_hour'])} = {' + '.join(container)}"),
        ("idle floor", f"{per_hour(member['idle_per_hour'])} (min_containers {member['min_containers']})"),
        (
            "peak",
            f"{per_hour(member['peak_per_hour'])} (max_containers {member['max_containers']})"
            if member["max_containers"] is not None
            else "unbounded (no max_containers)",
        ),
        ("one call", f"{usd(member['per_call'])} (timeout {member['timeout_seconds']} s)"),
        *(("note", note) for note in member["notes"]),
    ]
    return [f"{member['kind']} {member['name']}"] + [f"  {label:<12}{value}" for label, value in rows]


def total_line(environment: Mapping[str, Any]) -> str:
    peak = per_hour(environment["peak_per_hour"])
    if environment["peak_per_hour"] is None:
        peak += f" ({', '.join(environment['unbounded'])} without max_containers)"
    return (
        f"Total for {environment['environment']}: idle floor {per_hour(environment['idle_per_hour'])} "
        f"(with no traffic), peak {peak}"
    )


def budget_line(environment: Mapping[str, Any], budget: Mapping[str, Any]) -> str:
    parts, over = [], False
    for figure, label in (("idle_per_hour", "idle floor"), ("peak_per_hour", "peak")):
        limit = budget.get(figure)
        if limit is None:
            continue
        value = environment[figure]
        exceeded = value is None or Decimal(value) > Decimal(limit)
        over = over or exceeded
        parts.append(f"{label} {per_hour(value)} of {per_hour(limit)}{' (over)' if exceeded else ''}")
    verdict = "over budget" if over else "within budget"
    return f"Budget for {environment['environment']}: {', '.join(parts)}: {verdict}"


# --- changes ----------------------------------------------------------------------------------------

_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "same": " "}


def _move(old: str | None, new: str | None, delta: str | None) -> str:
    if old == new:
        return f"{per_hour(new)} (no change)"
    shown = f"{per_hour(old)} -> {per_hour(new)}"
    return f"{shown} ({per_hour(delta, signed=True)})" if delta is not None else shown


def format_change(change: Mapping[str, Any]) -> str:
    """`modalc cost --diff`: the price of a change, per function and in total, against its baseline."""
    lines = [
        f"Cost of {change['environment']} against {change['baseline']}",
        f"Prices: {change['price_source']}; baseline: {change['baseline_price_source']}"
        if change.get("baseline_price_source")
        else f"Prices (both sides): {change['price_source']}",
    ]
    changed = [m for m in change["functions"] if m["action"] != "same"]
    for member in changed:
        lines.append(f"  {_SYMBOLS[member['action']]} {member['kind']} {member['name']}: {member_change_text(member)}")
    if not changed:
        lines.append("  no function or class changes price")
    lines.append("  " + total_change_text(change))
    return "\n".join(lines) + "\n"


def member_change_text(member: Mapping[str, Any]) -> str:
    old, new = member["old"] or {}, member["new"] or {}
    if not old or not new:
        side = new or old
        sign = "+" if new else "-"
        peak = side["peak_per_hour"]
        return (
            f"{per_hour(side['per_container_hour'])} per container; idle floor {sign}{per_hour(side['idle_per_hour'])}, "
            f"peak {sign + per_hour(peak) if peak is not None else 'unbounded'}"
        )
    parts = []
    if old["per_container_hour"] != new["per_container_hour"]:
        parts.append(f"container {per_hour(old['per_container_hour'])} -> {per_hour(new['per_container_hour'])}")
    parts.append(f"idle floor {_move(old['idle_per_hour'], new['idle_per_hour'], member['idle_per_hour_delta'])}")
    parts.append(f"peak {_move(old['peak_per_hour'], new['peak_per_hour'], member['peak_per_hour_delta'])}")
    return "; ".join(parts)


def total_change_text(change: Mapping[str, Any]) -> str:
    old, new = change["old"], change["new"]
    return (
        f"total: idle floor {_move(old['idle_per_hour'], new['idle_per_hour'], change['idle_per_hour_delta'])}, "
        f"peak {_move(old['peak_per_hour'], new['peak_per_hour'], change['peak_per_hour_delta'])}"
    )


def headline(change: Mapping[str, Any]) -> str:
    """ "+$3.96/h idle floor, +$71.23/h peak": what a reviewer reads next to the code diff."""
    idle, peak = change["idle_per_hour_delta"], change["peak_per_hour_delta"]
    idle_text = "idle floor unchanged" if Decimal(idle) == 0 else f"{per_hour(idle, signed=True)} idle floor"
    if peak is None:
        peak_text = f"peak {per_hour(change['old']['peak_per_hour'])} -> {per_hour(change['new']['peak_per_hour'])}"
    else:
        peak_text = "peak unchanged" if Decimal(peak) == 0 else f"{per_hour(peak, signed=True)} peak"
    return f"{idle_text}, {peak_text}"


# --- the cost lines of `modalc plan` ------------------------------------------------------------------


def _since(delta: str | None, old: str | None, action: str) -> str:
    if action == "create":
        return " (new)"
    if delta is None:
        return f" (was {per_hour(old)})"
    return "" if Decimal(delta) == 0 else f" ({per_hour(delta, signed=True)})"


def plan_member_row(member: Mapping[str, Any], change: Mapping[str, Any] | None = None) -> str:
    """One function's cost row in the plan, with what the deploy changes when the baseline is known."""
    idle, peak = per_hour(member["idle_per_hour"]), per_hour(member["peak_per_hour"])
    if change is not None:
        old = change["old"] or {}
        idle += _since(change["idle_per_hour_delta"], old.get("idle_per_hour"), change["action"])
        peak += _since(change["peak_per_hour_delta"], old.get("peak_per_hour"), change["action"])
    return f"{per_hour(member['per_container_hour'])} per container, idle floor {idle}, peak {peak}"


def plan_total_lines(cost: Mapping[str, Any], change: Mapping[str, Any] | None) -> list[str]:
    """The plan's cost total, and what the deploy changes (functions it deletes included)."""
    lines = [
        f"Cost: idle floor {per_hour(cost['idle_per_hour'])}, peak {per_hour(cost['peak_per_hour'])}; "
        f"prices: {cost['price_source']}"
    ]
    if change is not None:
        lines.append(f"Cost change against {change['baseline']}: {headline(change)}")
        for member in change["functions"]:
            if member["action"] == "delete":
                lines.append(f"  - {member['kind']} {member['name']}: {member_change_text(member)}")
    return lines
