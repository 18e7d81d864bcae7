"""The workspace's own rates, as `modal billing rates` shows them: only when asked (`modalc cost --rates
workspace`), through the SDK's public `modal.Workspace`, and never in the default test run.

Modal's rates carry no region or non-preemptible multipliers, so those stay the bundled ones. A workspace
may have negotiated rates; its table replaces the bundled one key for key, and keys modalc does not price
(sandboxes, storage, egress) are left out.
"""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal
from typing import Any

from .cost import Prices, list_prices, with_rates

LOOKUP_SECONDS = 20


class RatesUnavailable(Exception):
    """The workspace's rates could not be read; the message says why (the caller falls back to list prices)."""


def workspace_rates(seconds: float = LOOKUP_SECONDS) -> tuple[dict[str, Decimal], str]:
    """(rate key -> USD per unit-hour, the workspace's name) from Modal, or RatesUnavailable."""
    from .deploy import has_credentials

    if not has_credentials():
        raise RatesUnavailable(
            "no Modal credentials (run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)"
        )
    answer: list[Any] = []

    def look() -> None:
        import modal

        try:
            workspace = modal.Workspace.from_context()
            rates = workspace.billing.rates()
            answer.append(({key: Decimal(rates[key]) for key in rates}, workspace.name or ""))
        except Exception as error:  # the SDK's errors, and a server that answers nonsense
            answer.append(error)

    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    thread.join(seconds)
    if not answer:
        raise RatesUnavailable(f"Modal did not answer in {seconds:g} s")
    if isinstance(answer[0], Exception):
        error = answer[0]
        raise RatesUnavailable(f"{type(error).__name__}: {error}")
    found: tuple[dict[str, Decimal], str] = answer[0]
    return found


def workspace_prices(base: Prices | None = None, today: datetime.date | None = None) -> Prices:
    """The bundled prices with the workspace's rates in place of Modal's list prices."""
    base = base or list_prices()
    rates, name = workspace_rates()
    known = {key: value for key, value in rates.items() if key in base.rates}
    if not known:
        raise RatesUnavailable("the workspace's rates name none of the rates modalc prices")
    date = (today or datetime.date.today()).isoformat()
    source = f"workspace rates of {name!r} (modal billing rates)" if name else "workspace rates (modal billing rates)"
    return with_rates(base, known, source=source, date=date, what="the workspace's rates")
