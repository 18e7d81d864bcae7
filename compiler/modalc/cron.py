"""Build-time validation and description of ``modal.Cron`` schedules.

Modal's client sends ``modal.Cron(cron_string, timezone="UTC")`` to the server
without checking it, so a typo only shows up at deploy time (or never, if the
schedule cannot fire).  These helpers check the standard 5-field Unix cron
syntax Modal documents (as on crontab.guru) and IANA timezone names, returning
one-line messages meant for users.

Standard library only; ``zoneinfo`` and ``difflib`` are imported on first use.
"""

from __future__ import annotations

__all__ = ["check_cron", "check_timezone", "describe_cron"]

_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_EXPECTED = f"expected 5 fields ({_FIELD_NAMES})"
_WHITESPACE = " \t\n\r\f\v"
_SPLIT_TABLE = str.maketrans({c: " " for c in _WHITESPACE[1:]})
_ITEM_CHARS = frozenset("0123456789*,-/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")

_MONTHS = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Index = day-of-week value; 0 and 7 are both Sunday.
_WEEK_NAMES = (
    "Sunday", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday",
)  # fmt: skip
# Longest month length, counting 29 February (a leap-year schedule does fire).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class _Field:
    """One cron field's rules: name, bounds and optional names (index = value)."""

    __slots__ = ("name", "low", "high", "names", "kind")

    def __init__(
        self,
        name: str,
        low: int,
        high: int,
        names: tuple[str, ...] = (),
        kind: str = "",
    ) -> None:
        self.name = name
        self.low = low
        self.high = high
        self.names = names
        self.kind = kind


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, ("", *_MONTHS), "month"),
    _Field("day-of-week", 0, 7, _DAYS, "day"),
)


class _CronError(Exception):
    pass


def _show(text: str, limit: int = 40) -> str:
    """Quote user text for a one-line message, escaping anything unprintable."""
    if len(text) > limit:
        text = text[:limit] + "…"
    if text.isprintable():
        return f"'{text}'"
    return repr(text)


def _show_char(char: str) -> str:
    if " " < char < "\x7f":
        return f"'{char}'"
    return f"{char!r} (U+{ord(char):04X})"


def _number(field: _Field, text: str, item: str) -> int:
    """Value of one endpoint: a number or, for month and day-of-week, a name."""
    if text == "*":
        raise _CronError(f"{field.name}: {_show(item)} is not valid; '*' can only be followed by '/STEP'")
    if text and _DIGITS.issuperset(text):
        # Huge digit strings would also trip int()'s digit limit.
        value = int(text) if len(text) <= 6 else field.high + 1
        if not field.low <= value <= field.high:
            shown = text if len(text) <= 12 else text[:10] + "…"
            raise _CronError(f"{field.name}: {shown} is out of range {field.low}-{field.high}")
        return value
    if field.names and text.isalpha():
        upper = text.upper()
        if upper in field.names:
            return field.names.index(upper)
        first, last = field.names[1 if field.kind == "month" else 0], field.names[-1]
        raise _CronError(f"{field.name}: {_show(text)} is not a {field.kind} name ({first}..{last})")
    raise _CronError(f"{field.name}: {_show(text)} is not a number")


def _parse_field(field: _Field, text: str) -> set[int]:
    """Values matched by one field (day-of-week 7 folded into 0)."""
    for char in text:
        if char not in _ITEM_CHARS:
            if char == "?":
                raise _CronError(f"{field.name}: '?' is not standard cron syntax; use '*'")
            raise _CronError(f"{field.name}: unexpected character {_show_char(char)} in {_show(text)}")
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _CronError(f"{field.name}: empty list element in {_show(text)}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not base:
                raise _CronError(f"{field.name}: missing value before '/' in {_show(item)}")
            if not step_text:
                raise _CronError(f"{field.name}: missing step after '/' in {_show(item)}")
            if "/" in step_text:
                raise _CronError(f"{field.name}: too many '/' in {_show(item)}")
            if not _DIGITS.issuperset(step_text):
                raise _CronError(f"{field.name}: step {_show(step_text)} is not a number")
            step = int(step_text) if len(step_text) <= 6 else 1_000_000
            if step < 1:
                raise _CronError(f"{field.name}: step {step_text} must be at least 1")
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            start, _, end = base.partition("-")
            if not start or not end:
                raise _CronError(f"{field.name}: incomplete range {_show(base)}")
            if "-" in end:
                raise _CronError(f"{field.name}: {_show(base)} is not a valid range")
            low, high = _number(field, start, item), _number(field, end, item)
            if low > high:
                hint = ""
                if field.kind == "day" and high == 0:
                    hint = f"; write {low}-7 (7 is also Sunday)"
                raise _CronError(f"{field.name}: range {base} is reversed{hint}")
        else:
            low = _number(field, base, item)
            # `N/STEP` means from N to the end of the field, as in Vixie cron.
            high = field.high if slash else low
        values.update(range(low, high + 1, step))
    if field.kind == "day" and 7 in values:
        values.discard(7)
        values.add(0)
    return values


class _Cron:
    """A parsed expression: the value set of each field, plus how the two day
    fields combine."""

    __slots__ = (
        "minutes",
        "hours",
        "days",
        "months",
        "weekdays",
        "either_day",
        "unclear",
    )

    def __init__(self, fields: list[str]) -> None:
        parsed = [_parse_field(field, text) for field, text in zip(_FIELDS, fields, strict=True)]
        self.minutes, self.hours, self.days, self.months, self.weekdays = parsed
        day_text, weekday_text = fields[2], fields[4]
        # When both day fields are restricted, a day matches if *either* does.
        self.either_day = day_text != "*" and weekday_text != "*"
        # Implementations disagree on whether '*/N' counts as restricted for
        # that rule (Vixie cron: no; croniter: yes), so don't guess.
        self.unclear = self.either_day and (day_text.startswith("*") or weekday_text.startswith("*"))


def _parse(expr: object) -> _Cron:
    if not isinstance(expr, str):
        raise _CronError(f"cron expression must be a string, got {type(expr).__name__}")
    stripped = expr.strip(_WHITESPACE)
    if not stripped:
        raise _CronError(f"cron expression is empty; {_EXPECTED}")
    for char in stripped:
        if char > "\x7f" and char.isspace():
            raise _CronError(f"cron expression contains a non-ASCII space (U+{ord(char):04X}); use plain spaces")
    fields = [f for f in stripped.translate(_SPLIT_TABLE).split(" ") if f]
    if fields[0].startswith("@"):
        macro = fields[0]
        equivalent = _MACROS.get(macro.lower())
        if equivalent is not None:
            raise _CronError(f"{macro} is not supported by Modal's Cron; use '{equivalent}'")
        if macro.lower() == "@reboot":
            raise _CronError("@reboot is not supported by Modal's Cron; it has no 5-field equivalent")
        raise _CronError(f"{_show(macro)} is not a cron expression; {_EXPECTED}")
    if len(fields) != 5:
        raise _CronError(f"{_EXPECTED}, got {len(fields)}")
    return _Cron(fields)


def _never_fires(cron: _Cron) -> str | None:
    """Why a schedule can never fire (only judged when day-of-week is '*')."""
    if cron.either_day:
        return None
    first_day = min(cron.days)
    short = [m for m in sorted(cron.months) if _MONTH_DAYS[m - 1] < first_day]
    if len(short) < len(cron.months):
        return None
    by_length: dict[int, list[str]] = {}
    for month in short:
        by_length.setdefault(_MONTH_DAYS[month - 1], []).append(_MONTH_NAMES[month - 1])
    clauses = [
        f"{_join(names)} {'has' if len(names) == 1 else 'have'} at most {length} days"
        for length, names in sorted(by_length.items())
    ]
    return "never fires: " + "; ".join(clauses)


def check_cron(expr: str) -> str | None:
    """Validate a 5-field cron expression as accepted by ``modal.Cron``.

    Returns ``None`` if it is valid, otherwise a one-line message naming the
    offending field, e.g. ``"hour: 24 is out of range 0-23"``.

    Accepted: exactly five whitespace-separated fields (minute 0-59, hour 0-23,
    day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT with 0
    and 7 both Sunday), each a comma list of ``*``, ``N`` or ``N-M`` with an
    optional ``/STEP`` (names case-insensitive).  Rejected with a suggestion:
    ``@daily``-style macros, 6/7-field (seconds/years) forms, Quartz ``?``.
    Also rejected: schedules that can never fire, such as ``0 0 31 2 *``.
    Never raises.
    """
    try:
        cron = _parse(expr)
    except _CronError as error:
        return str(error)
    return _never_fires(cron)


# --------------------------------------------------------------------- describe


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_ORDINALS = tuple(_ordinal(n) for n in range(32))


def _names(values: set[int], names: tuple[str, ...], plural: str = "") -> str | None:
    """'March through May', 'January and July', or None if too long to read."""
    ordered = sorted(values)
    if len(ordered) >= 3 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{names[ordered[0]]} through {names[ordered[-1]]}"
    if len(ordered) > 4:
        return None
    return _join([names[v] + plural for v in ordered])


def _step_of(values: set[int], low: int, high: int) -> int | None:
    """The step s if ``values`` is exactly low, low+s, ... and s divides the span."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != low:
        return None
    step = ordered[1] - ordered[0]
    if (high - low + 1) % step or ordered != list(range(low, high + 1, step)):
        return None
    return step


def _day_phrase(cron: _Cron) -> str | None:
    all_days = cron.days == set(range(1, 32))
    all_weekdays = cron.weekdays == set(range(7))
    if cron.months == set(range(1, 13)):
        months = None
    else:
        months = _names({m - 1 for m in cron.months}, _MONTH_NAMES)
        if months is None:
            return None
    in_months = f" in {months}" if months else ""
    if cron.unclear:
        return None
    if cron.either_day:
        return "every day" + in_months if all_days or all_weekdays else None
    if all_weekdays:
        if all_days:
            return "every day" + in_months
        ordinals = _names(cron.days, _ORDINALS)
        if ordinals is None:
            return None
        return f"on the {ordinals} of {months or 'every month'}"
    if not all_days:
        return None
    if cron.weekdays == {1, 2, 3, 4, 5}:
        weekdays: str | None = "weekdays"
    elif cron.weekdays == {0, 6}:
        weekdays = "weekends"
    else:
        # Listed Monday first, so that FRI-SUN reads "Friday through Sunday".
        weekdays = _names({d or 7 for d in cron.weekdays}, _WEEK_NAMES, plural="s")
    return f"on {weekdays}{in_months}" if weekdays else None


def _time_phrase(cron: _Cron) -> tuple[str, bool] | None:
    """(phrase, is_repetition): 'every 15 minutes' is a repetition, 'at 03:00'
    is not."""
    minutes, hours = cron.minutes, cron.hours
    every_hour = hours == set(range(24))
    if every_hour and minutes == set(range(60)):
        return "every minute", True
    minute_step = _step_of(minutes, 0, 59)
    if every_hour and minute_step:
        return f"every {minute_step} minutes", True
    marks = [f":{m:02d}" for m in sorted(minutes)]
    if every_hour and len(marks) <= 4:
        return f"every hour at {_join(marks)}", True
    hour_step = _step_of(hours, 0, 23)
    if hour_step and len(minutes) == 1:
        at = "" if minutes == {0} else f" at {marks[0]}"
        return f"every {hour_step} hours{at}", True
    first_hour, last_hour = min(hours), max(hours)
    if len(hours) == last_hour - first_hour + 1 and len(minutes) * len(hours) > 4:
        # A contiguous block of hours, e.g. office hours.
        if minutes == set(range(60)):
            every = "every minute"
        elif minute_step:
            every = f"every {minute_step} minutes"
        elif len(minutes) == 1:
            every = "every hour"
        else:
            return None
        first, last = (
            f"{first_hour:02d}:{min(minutes):02d}",
            f"{last_hour:02d}:{max(minutes):02d}",
        )
        return f"{every} from {first} to {last}", True
    if len(minutes) * len(hours) <= 4:
        times = [f"{h:02d}:{m:02d}" for h in sorted(hours) for m in sorted(minutes)]
        return f"at {_join(times)}", False
    return None


def describe_cron(expr: str) -> str:
    """A short human summary for plan output, e.g. ``"at 03:00 every day"``,
    ``"every 15 minutes"``, ``"at 09:00 on weekdays"``.

    Describes what the schedule actually does (``*/90`` in the minute field is
    ``"every hour at :00"``).  Times are in the schedule's own timezone, which
    the caller may append.  Falls back to the expression itself when it is
    invalid or has no short description.  Never raises.
    """
    try:
        cron = _parse(expr)
    except _CronError:
        return expr if isinstance(expr, str) else repr(expr)
    if _never_fires(cron):
        return expr
    time = _time_phrase(cron)
    day = _day_phrase(cron)
    if time is None or day is None:
        return expr
    phrase, is_repetition = time
    if is_repetition:
        # "every 15 minutes every day" says nothing more than "every 15 minutes".
        day = day.removeprefix("every day").strip()
    return f"{phrase} {day}" if day else phrase


# --------------------------------------------------------------------- timezone

_zone_index: tuple[frozenset[str], dict[str, str], dict[str, list[str]]] | None = None

# Present in zoneinfo.available_timezones() on some systems, but not zones a
# schedule can meaningfully use: host-specific or deliberately undefined.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

# Common abbreviations that are not zone names themselves (EST, MST, CET... are).
_ABBREVIATIONS = {
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "MDT": "America/Denver",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "EDT": "America/New_York",
    "BST": "Europe/London",
    "CEST": "Europe/Berlin",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
}


def _zones() -> tuple[frozenset[str], dict[str, str], dict[str, list[str]]]:
    """(valid names, lower-case name -> name, lower-case city -> names), cached:
    listing the zone database takes tens of milliseconds."""
    global _zone_index
    if _zone_index is None:
        import zoneinfo

        names = frozenset(zoneinfo.available_timezones() - _NOT_ZONES)
        by_lower = {name.lower(): name for name in names}
        by_city: dict[str, list[str]] = {}
        for name in sorted(names):
            by_city.setdefault(name.rsplit("/", 1)[-1].lower(), []).append(name)
        _zone_index = (names, by_lower, by_city)
    return _zone_index


def check_timezone(name: object) -> str | None:
    """Validate an IANA timezone name for ``modal.Cron(..., timezone=name)``.

    Returns ``None`` if ``name`` is a zone in the time zone database (exact,
    case-sensitive spelling, as the server expects), else a one-line message,
    with a did-you-mean suggestion when one is close: case-insensitive matches
    first (``"europe/berlin"`` -> ``"Europe/Berlin"``), then city names
    (``"Berlin"``, ``"new york"``), then ``difflib`` similarity.  Never raises.
    """
    if not isinstance(name, str):
        return f"timezone must be a string, got {type(name).__name__}"
    if name == "UTC":
        return None
    if not name.strip():
        return "timezone is empty; use an IANA name such as 'UTC' or 'Europe/Berlin'"
    names, by_lower, by_city = _zones()
    if name in names:
        return None
    query = "_".join(name.strip().lower().split())
    suggestions: list[str] = []
    if query.upper() in _ABBREVIATIONS:
        suggestions = [_ABBREVIATIONS[query.upper()]]
    elif query in by_lower:
        suggestions = [by_lower[query]]
    elif query in by_city:
        suggestions = by_city[query][:3]
    else:
        import difflib

        close = difflib.get_close_matches(query, [*by_lower, *by_city], n=1, cutoff=0.75)
        if close:
            match = close[0]
            suggestions = [by_lower[match]] if match in by_lower else by_city[match][:3]
    message = f"unknown timezone {_show(name)}"
    if suggestions:
        quoted = [f"'{s}'" for s in suggestions]
        return f"{message}; did you mean {' or '.join(quoted)}?"
    return f"{message}; use an IANA name such as 'UTC' or 'America/New_York'"
