"""Trading windows: when a bot may open trades.

`trading_hours = ["Mon-Fri 08:00-16:30"]` in `trading_timezone` (an IANA name; daylight
saving is `zoneinfo`'s): a moment is inside when its wall-clock time in that zone falls in
one of the windows, and its date there is not one of `closed_dates`. A window whose end is
not after its start runs across midnight: "Sun-Thu 22:00-02:00" opens on Sunday at 22:00
and closes on Monday at 02:00. "24:00" is the end of the day. Outside, entries are refused
with the reason in a trader's words; closes and stops always run, and with
`flatten_at_window_end` the monitor closes a position still held once a window has ended.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WINDOW = re.compile(r"^(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
_DAY_OF = {d.lower(): i for i, d in enumerate(DAYS)}


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # the weekdays it opens on (0 = Monday)
    start: timedelta  # from midnight
    end: timedelta  # from midnight; not after `start`: the next day's
    text: str  # as written, normalised ("Mon-Fri 08:00-16:30")

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def holds(self, local: datetime) -> bool:
        """Whether the wall-clock moment `local` (naive or in the zone) is inside."""
        since_midnight = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)
        day = local.weekday()
        if not self.overnight:
            return day in self.days and self.start <= since_midnight < self.end
        # Across midnight: the evening part on an opening day, the morning part the day after.
        return (day in self.days and since_midnight >= self.start) or (
            (day - 1) % 7 in self.days and since_midnight < self.end
        )


class WindowError(ValueError):
    """A trading window, zone or date that cannot be used; the message says how to write it."""


def parse_window(text: str) -> Window:
    found = _WINDOW.match(text.strip())
    if found is None:
        raise WindowError(f'{text!r} is not a window: write days and times, e.g. "Mon-Fri 08:00-16:30"')
    days = _days(found["days"], text)
    start, end = _clock(found["start"], text), _clock(found["end"], text)
    if start == timedelta(hours=24):
        raise WindowError(f"{text!r}: a window cannot start at 24:00")
    if start == end:
        raise WindowError(f"{text!r}: the window starts and ends at the same time")
    shown = f"{_days_text(found['days'])} {_hhmm(start)}-{_hhmm(end)}"
    return Window(frozenset(days), start, end, shown)


def _days(spec: str, text: str) -> set[int]:
    days: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        ends = [e.strip().lower()[:3] for e in part.split("-")]
        if len(ends) > 2 or any(e not in _DAY_OF for e in ends):
            raise WindowError(f"{text!r}: {part!r} is not a day or a range of days (Mon, Tue, ..., Sun; e.g. Mon-Fri)")
        first, last = _DAY_OF[ends[0]], _DAY_OF[ends[-1]]
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return days


def _days_text(spec: str) -> str:
    return ",".join("-".join(e.strip()[:3].capitalize() for e in p.split("-")) for p in spec.split(","))


def _clock(hhmm: str, text: str) -> timedelta:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise WindowError(f"{text!r}: {hhmm} is not a time of day (00:00 to 24:00)")
    return timedelta(hours=hours, minutes=minutes)


def _hhmm(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise WindowError(f'{name!r} is not a time zone: give an IANA name, e.g. "Africa/Johannesburg"') from e


@functools.lru_cache(maxsize=256)
def _windows(texts: tuple[str, ...]) -> tuple[Window, ...]:
    return tuple(parse_window(t) for t in texts)


def outside_hours(
    hours: Sequence[str] | None, timezone: str, closed: Sequence[date] | None, at: datetime
) -> str | None:
    """Why `at` (aware) is outside the trading windows, in a trader's words; None inside.
    No `hours` is every hour; no `closed` is no closed date."""
    local = at.astimezone(zone(timezone))
    if closed and local.date() in closed:
        return f"closed on {local.date().isoformat()} ({timezone}; closed_dates)"
    if not hours:
        return None
    windows = _windows(tuple(hours))
    if any(w.holds(local) for w in windows):
        return None
    return f"outside trading hours {', '.join(w.text for w in windows)} {timezone}"
