"""`volume_anomaly` of validated_streams: a day whose volume is far from its recent days' (a feed that
arrived at 10 %, or twice over) passes every row-level check, so it is compared with its neighbours.

Rows read of a day = its bronze rows + its ingestion rejects (Parquet footers, no scan). The history is
the previous published days with data: days before it, at most `LOOKBACK_DAYS` back, whose
validated_streams partition exists and whose rows read are not 0, the latest `volume_history_days` of them.
"""

from __future__ import annotations

import datetime as dt
import statistics

from music_pipeline.core import registry
from music_pipeline.engines.steps import day_rows
from music_pipeline.lake.store import Lake
from music_pipeline.quality.context import CheckContext, check
from music_pipeline.quality.outcomes import WARN, Outcome

LOOKBACK_DAYS = 60  # how far back published days are looked for


def rows_read(lake: Lake, day: str) -> int:
    return day_rows(lake, registry.RAW_STREAMS, [day])[day] + day_rows(lake, registry.INGEST_REJECTS, [day])[day]


def history(lake: Lake, day: str, size: int) -> dict[str, int]:
    """Rows read of the latest `size` published days with data before `day`, oldest first."""
    found: dict[str, int] = {}
    first = dt.date.fromisoformat(day)
    for back in range(1, LOOKBACK_DAYS + 1):
        earlier = (first - dt.timedelta(days=back)).isoformat()
        if lake.exists(registry.VALIDATED_STREAMS.day_key(earlier)):
            read = rows_read(lake, earlier)
            if read:
                found[earlier] = read
        if len(found) == size:
            break
    return dict(sorted(found.items()))


@check("volume_anomaly", table="validated_streams")
def volume_anomaly(ctx: CheckContext) -> Outcome:
    if ctx.day is None:
        raise ValueError("volume_anomaly checks a day of validated_streams")
    limits = ctx.thresholds
    read = rows_read(ctx.lake, ctx.day)
    earlier = history(ctx.lake, ctx.day, limits.volume_history_days)
    counts: dict[str, int | float] = {"rows_read": read, "history_days": len(earlier)}
    if len(earlier) < limits.volume_min_history:
        return Outcome(
            "volume_anomaly",
            ctx.day,
            True,
            f"not enough history: {len(earlier)} earlier published day(s) with data, {limits.volume_min_history} needed",
            severity=WARN,
            counts=counts,
        )
    median = statistics.median(earlier.values())
    ratio = read / median
    counts.update({"history_median": median, "ratio_to_median": round(ratio, 4)})
    span = f"{min(earlier)}..{max(earlier)}"
    passed = limits.volume_low <= ratio <= limits.volume_high
    verdict = "within" if passed else "outside"
    return Outcome(
        "volume_anomaly",
        ctx.day,
        passed,
        f"{read} rows read on {ctx.day} = {ratio:.0%} of the median {median:g} of the previous {len(earlier)} "
        f"published days ({span}), {verdict} {limits.volume_low:.0%}-{limits.volume_high:.0%}",
        severity=WARN,
        counts=counts,
    )
