"""Tests for modalc.cron."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modalc.cron import check_cron, check_timezone, describe_cron

FIELDS = "(minute hour day-of-month month day-of-week)"

VALID = [
    "* * * * *",
    "5 4 * * *",
    "0 9 * * 4",
    "0 6 * * *",
    "*/15 * * * *",
    "0 */6 * * *",
    "0-59/5 * * * *",
    "5/15 * * * *",
    "1,2,3 4-6 7-9/2 10,11,12 0-3",
    "0 0 1 1 *",
    "59 23 31 12 7",
    "0 0 29 2 *",  # leap years only, but it does fire
    "0 0 30 1,2 *",  # fires in January
    "0 0 31 2 1",  # both day fields restricted: fires on Mondays in February
    "0 0 31 2 0-6",
    # Vixie cron would never fire this ('*/2' counts as '*'), croniter fires on
    # even weekdays of February: not reported.
    "0 0 31 2 */2",
    "0 0 * JAN,jul *",
    "0 0 * jan-Mar/2 *",
    "0 0 * * MON-FRI",
    "0 0 * * sun,SAT",
    "0 0 * * 5-7",
    "0 0 * * FRI/2",
    "0 0 * FEB/3 *",
    "*/90 * * * *",  # valid, if surprising: fires at minute 0
    "00 09 01 01 00",
    "  0\t3   * *  *  ",
    "0 3 * * *\n",
    "0,30 9-17 * * 1-5",
]

INVALID = [
    ("", f"cron expression is empty; expected 5 fields {FIELDS}"),
    ("  \t\n", f"cron expression is empty; expected 5 fields {FIELDS}"),
    ("@daily", "@daily is not supported by Modal's Cron; use '0 0 * * *'"),
    ("@midnight", "@midnight is not supported by Modal's Cron; use '0 0 * * *'"),
    ("@hourly", "@hourly is not supported by Modal's Cron; use '0 * * * *'"),
    ("@weekly", "@weekly is not supported by Modal's Cron; use '0 0 * * 0'"),
    ("@monthly", "@monthly is not supported by Modal's Cron; use '0 0 1 * *'"),
    ("@yearly", "@yearly is not supported by Modal's Cron; use '0 0 1 1 *'"),
    ("@Annually", "@Annually is not supported by Modal's Cron; use '0 0 1 1 *'"),
    (
        "@reboot",
        "@reboot is not supported by Modal's Cron; it has no 5-field equivalent",
    ),
    ("@every 5m", f"'@every' is not a cron expression; expected 5 fields {FIELDS}"),
    ("0 3 * * * *", f"expected 5 fields {FIELDS}, got 6"),
    ("0 0 3 * * * 2025", f"expected 5 fields {FIELDS}, got 7"),
    ("0 3 * *", f"expected 5 fields {FIELDS}, got 4"),
    ("every day at noon", f"expected 5 fields {FIELDS}, got 4"),
    ("60 * * * *", "minute: 60 is out of range 0-59"),
    ("0 24 * * *", "hour: 24 is out of range 0-23"),
    ("0 0 0 * *", "day-of-month: 0 is out of range 1-31"),
    ("0 0 32 * *", "day-of-month: 32 is out of range 1-31"),
    ("0 0 * 0 *", "month: 0 is out of range 1-12"),
    ("0 0 * 13 *", "month: 13 is out of range 1-12"),
    ("0 0 * * 8", "day-of-week: 8 is out of range 0-7"),
    ("0 0-24 * * *", "hour: 24 is out of range 0-23"),
    ("0 1,2,99 * * *", "hour: 99 is out of range 0-23"),
    ("1" * 50 + " * * * *", "minute: 1111111111… is out of range 0-59"),
    ("*/0 * * * *", "minute: step 0 must be at least 1"),
    ("0 1-5/0 * * *", "hour: step 0 must be at least 1"),
    ("*/x * * * *", "minute: step 'x' is not a number"),
    ("*/ * * * *", "minute: missing step after '/' in '*/'"),
    ("/5 * * * *", "minute: missing value before '/' in '/5'"),
    ("*/2/3 * * * *", "minute: too many '/' in '*/2/3'"),
    ("0 0 * * MOM", "day-of-week: 'MOM' is not a day name (SUN..SAT)"),
    ("0 0 * * Monday", "day-of-week: 'Monday' is not a day name (SUN..SAT)"),
    ("0 0 * JUNE *", "month: 'JUNE' is not a month name (JAN..DEC)"),
    ("0 0 * 12-1 *", "month: range 12-1 is reversed"),
    ("0 0 * DEC-JAN *", "month: range DEC-JAN is reversed"),
    ("30-10 * * * *", "minute: range 30-10 is reversed"),
    (
        "0 0 * * SAT-SUN",
        "day-of-week: range SAT-SUN is reversed; write 6-7 (7 is also Sunday)",
    ),
    ("0 0 * * 5-0", "day-of-week: range 5-0 is reversed; write 5-7 (7 is also Sunday)"),
    ("0 0 * * 3-1", "day-of-week: range 3-1 is reversed"),
    ("a * * * *", "minute: 'a' is not a number"),
    ("0 JAN * * *", "hour: 'JAN' is not a number"),
    ("0 0 L * *", "day-of-month: 'L' is not a number"),
    ("** * * * *", "minute: '**' is not a number"),
    ("*-5 * * * *", "minute: '*-5' is not valid; '*' can only be followed by '/STEP'"),
    ("5- * * * *", "minute: incomplete range '5-'"),
    ("-5 * * * *", "minute: incomplete range '-5'"),
    ("1-2-3 * * * *", "minute: '1-2-3' is not a valid range"),
    ("1,,2 * * * *", "minute: empty list element in '1,,2'"),
    ("1, * * * *", "minute: empty list element in '1,'"),
    ("0 0 ? * *", "day-of-month: '?' is not standard cron syntax; use '*'"),
    ("0 0 * * 5#3", "day-of-week: unexpected character '#' in '5#3'"),
    ("+5 * * * *", "minute: unexpected character '+' in '+5'"),
    ("０ 3 * * *", "minute: unexpected character '０' (U+FF10) in '０'"),
    ("0 3 * * 🙂", "day-of-week: unexpected character '🙂' (U+1F642) in '🙂'"),
    ("0\x003 * * * *", "minute: unexpected character '\\x00' (U+0000) in '0\\x003'"),
    (
        "0\u00a03 * * *",
        "cron expression contains a non-ASCII space (U+00A0); use plain spaces",
    ),
    (
        "0 3 * *\u3000*",
        "cron expression contains a non-ASCII space (U+3000); use plain spaces",
    ),
    ("0 0 31 2 *", "never fires: February has at most 29 days"),
    ("0 0 30 2 *", "never fires: February has at most 29 days"),
    ("0 0 30,31 FEB *", "never fires: February has at most 29 days"),
    (
        "0 0 31 4,6,9,11 *",
        "never fires: April, June, September and November have at most 30 days",
    ),
    (
        "0 0 31 2,4 *",
        "never fires: February has at most 29 days; April has at most 30 days",
    ),
]


@pytest.mark.parametrize("expr", VALID)
def test_valid_expressions(expr: str) -> None:
    assert check_cron(expr) is None


@pytest.mark.parametrize(("expr", "message"), INVALID)
def test_invalid_expressions(expr: str, message: str) -> None:
    assert check_cron(expr) == message


@pytest.mark.parametrize("value", [None, 5, 1.5, ["0", "3", "*", "*", "*"], b"0 3 * * *"])
def test_non_string_input(value: object) -> None:
    message = check_cron(value)  # type: ignore[arg-type]
    assert message is not None
    assert message.startswith("cron expression must be a string, got ")
    assert describe_cron(value) == repr(value)  # type: ignore[arg-type]


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789*/,- \tJANMONSUNjanmon?#L@", max_size=40),
        st.lists(
            st.text(alphabet="0123456789*/,-", min_size=1, max_size=8),
            min_size=5,
            max_size=5,
        ).map(" ".join),
    )
)
def test_never_raises_and_messages_are_one_line(expr: str) -> None:
    message = check_cron(expr)
    assert message is None or (message and "\n" not in message and "\r" not in message)
    description = describe_cron(expr)
    assert isinstance(description, str)
    if message is not None:
        assert description == expr


def test_long_input_is_handled_quickly() -> None:
    assert check_cron("1," * 100_000 + "2 * * * *") is None
    assert check_cron("* " * 100_000) == f"expected 5 fields {FIELDS}, got 100000"
    message = check_cron("x" * 100_000 + " * * * *")
    assert message is not None and len(message) < 120


# ----------------------------------------------------------------------- timezone


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Etc/GMT+5",
        "US/Eastern",
    ],
)
def test_valid_timezones(name: str) -> None:
    assert check_timezone(name) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "europe/berlin",
            "unknown timezone 'europe/berlin'; did you mean 'Europe/Berlin'?",
        ),
        ("utc", "unknown timezone 'utc'; did you mean 'UTC'?"),
        (" UTC", "unknown timezone ' UTC'; did you mean 'UTC'?"),
        (
            "AMERICA/NEW_YORK",
            "unknown timezone 'AMERICA/NEW_YORK'; did you mean 'America/New_York'?",
        ),
        (
            "Europe/Berlim",
            "unknown timezone 'Europe/Berlim'; did you mean 'Europe/Berlin'?",
        ),
        ("Berlin", "unknown timezone 'Berlin'; did you mean 'Europe/Berlin'?"),
        ("new york", "unknown timezone 'new york'; did you mean 'America/New_York'?"),
        (
            "America/Sao Paulo",
            "unknown timezone 'America/Sao Paulo'; did you mean 'America/Sao_Paulo'?",
        ),
        ("PST", "unknown timezone 'PST'; did you mean 'America/Los_Angeles'?"),
        (
            "Mars/Olympus_Mons",
            "unknown timezone 'Mars/Olympus_Mons'; use an IANA name such as 'UTC' or 'America/New_York'",
        ),
        (
            "localtime",
            "unknown timezone 'localtime'; use an IANA name such as 'UTC' or 'America/New_York'",
        ),
        ("", "timezone is empty; use an IANA name such as 'UTC' or 'Europe/Berlin'"),
        ("  ", "timezone is empty; use an IANA name such as 'UTC' or 'Europe/Berlin'"),
        ("../../etc/passwd", None),  # message checked below: only that it is rejected
        (5, "timezone must be a string, got int"),
    ],
)
def test_invalid_timezones(name: str, message: str | None) -> None:
    result = check_timezone(name)
    assert result is not None
    if message is not None:
        assert result == message
    assert "\n" not in result


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_timezone_never_raises(name: str) -> None:
    result = check_timezone(name)
    assert result is None or "\n" not in result


# ----------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("expr", "description"),
    [
        ("0 3 * * *", "at 03:00 every day"),
        ("*/15 * * * *", "every 15 minutes"),
        ("0-59/15 * * * *", "every 15 minutes"),
        ("* * * * *", "every minute"),
        ("5 4 * * *", "at 04:05 every day"),
        ("0 9 * * 4", "at 09:00 on Thursdays"),
        ("0 9 * * 1-5", "at 09:00 on weekdays"),
        ("0 10 * * SAT,SUN", "at 10:00 on weekends"),
        ("0 9 * * MON-WED", "at 09:00 on Monday through Wednesday"),
        ("0 9 * * 5-7", "at 09:00 on Friday through Sunday"),
        ("0 9 * * 1,3", "at 09:00 on Mondays and Wednesdays"),
        ("0 9,17 * * *", "at 09:00 and 17:00 every day"),
        ("30 8 * * 7", "at 08:30 on Sundays"),
        ("0 0 1 * *", "at 00:00 on the 1st of every month"),
        ("0 0 1,15 * *", "at 00:00 on the 1st and 15th of every month"),
        ("0 0 1-7 * *", "at 00:00 on the 1st through 7th of every month"),
        ("0 0 1 1 *", "at 00:00 on the 1st of January"),
        ("0 12 22 2,3 *", "at 12:00 on the 22nd of February and March"),
        ("0 9 * 3-5 *", "at 09:00 every day in March through May"),
        ("0 9 * 12 1-5", "at 09:00 on weekdays in December"),
        ("0 * * * *", "every hour at :00"),
        ("15,45 * * * *", "every hour at :15 and :45"),
        ("*/90 * * * *", "every hour at :00"),
        ("5/15 * * * *", "every hour at :05, :20, :35 and :50"),
        ("0 */6 * * *", "every 6 hours"),
        ("30 */2 * * *", "every 2 hours at :30"),
        ("0 9-17 * * *", "every hour from 09:00 to 17:00"),
        ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:45 on weekdays"),
        ("*/10 * * * 6", "every 10 minutes on Saturdays"),
        ("* * * 1 *", "every minute in January"),
        ("0 0 1 * 0-6", "at 00:00 every day"),  # either day field matching is enough
        ("  0\t3 * *  *\n", "at 03:00 every day"),
        ("0 0 29 2 *", "at 00:00 on the 29th of February"),
        ("0 0 11,12,13 * *", "at 00:00 on the 11th through 13th of every month"),
        (
            "0 0 21,22,23,31 * *",
            "at 00:00 on the 21st, 22nd, 23rd and 31st of every month",
        ),
    ],
)
def test_describe(expr: str, description: str) -> None:
    assert describe_cron(expr) == description


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 1-7 * 1",  # both day fields restricted: 1st-7th OR Mondays
        "*/7 * * * *",  # minute 56 is followed by minute 0: not "every 7 minutes"
        "0 0 1-10,20 * *",
        "0 0 1 * */2",  # Vixie: 1st AND even weekday; croniter: 1st OR even weekday
        "0 0 */2 * 1",
        "23 0-20/2 * * *",
        "0 0 31 2 *",
        "@daily",
        "not cron",
        "",
    ],
)
def test_describe_falls_back_to_the_expression(expr: str) -> None:
    assert describe_cron(expr) == expr
