"""Lists of days (ISO dates) as contiguous ranges and in chunks, and the compact text form `first...last,day,...`
that carries a partition range as a Glue job argument. Standard library only (it runs on Glue)."""

from __future__ import annotations

import datetime as dt


def contiguous_ranges(days: list[str]) -> list[tuple[str, str]]:
    """The distinct days as (first, last) runs of consecutive days, in order."""
    ranges: list[list[str]] = []
    for day in sorted(set(days)):
        if ranges and dt.date.fromisoformat(day) - dt.date.fromisoformat(ranges[-1][1]) == dt.timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first, last) for first, last in ranges]


def chunks(items: list, size: int) -> list[list]:
    """`items` in consecutive chunks of `size` (one chunk of all when size is 0): a range's days per engine
    step, a sensor's files per run."""
    if not items:
        return []
    if size <= 0:
        return [items]
    return [items[k : k + size] for k in range(0, len(items), size)]


def format_days(days: list[str]) -> str:
    """Days as a compact job argument: consecutive runs become `first...last`, joined by commas."""
    return ",".join(first if first == last else f"{first}...{last}" for first, last in contiguous_ranges(days))


def parse_days(text: str) -> list[str]:
    """Inverse of `format_days`; an empty text is no days (the reference steps)."""
    days: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("...")
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last or first)
        if end < start:
            raise ValueError(f"--days: {part!r} ends before it starts")
        days.extend((start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1))
    return days
