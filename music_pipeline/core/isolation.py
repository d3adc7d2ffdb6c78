"""One bad day never costs the other days of a range run: what a daily step records of the days it could not
compute, and what `range_isolation_sensor` (operations/isolation.py) reads back to run the others.

Dagster runs a step once over a range and records every day of it, or none (dagster#17836: a step cannot
mark one partition failed). So a daily step computes every day it can, then fails naming the days that
failed (`DayFailures.failure`: the description names them, the metadata lists them); downstream steps of the
range do not run. The sensor then requests the rest of the range without those days, one run per contiguous
stretch, and Dagster's own status does the recording: a day planned in the failed run and materialized in none
after it is `FAILED` in the UI and the instance; the good days are materialized by the sensor's runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import AssetObservation, Failure, RetryRequested

from music_pipeline.core import faults
from music_pipeline.core.days import format_days

FAILED_DAYS = "music_pipeline/failed_days"  # Failure metadata: days that failed for their content (not re-run)
RETRY_DAYS = "music_pipeline/retry_days"  # Failure metadata: days that failed transiently (re-run one by one)
FAILED_DAY = "music_pipeline/failed_day"  # metadata key of the observation recorded on a failed day
FAILED_DAYS_TAG = "music_pipeline/failed_days"  # run tag: the days a run could not compute (shown in the runs list)
ISOLATED_FROM_TAG = "music_pipeline/isolated_from"  # run tag: the failed range run whose other days this run computes
REASON_CHARS = 300


def reason(error: BaseException) -> str:
    """`Type: first line of the message`, bounded (what the day's observation and the run failure show)."""
    text = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {text}"[:REASON_CHARS]


def isolatable(error: Exception, engine: str) -> bool:
    """Whether a day's error is kept to its day (the step goes on with the others). Dagster's control flow is
    not; on Glue, neither is an error its RetryPolicy retries (everything but `Failure(allow_retries=False)`):
    the step retries whole, as before."""
    if isinstance(error, RetryRequested):
        return False
    if engine == "glue":
        return isinstance(error, Failure) and error.allow_retries is False
    return True


@dataclass
class DayFailures:
    """The days a step could not compute, with their reasons, in the order they failed."""

    table: str
    reasons: dict[str, str] = field(default_factory=dict)
    transient: set[str] = field(default_factory=set)

    def add(self, day: str, error: Exception) -> None:
        self.reasons[day] = reason(error)
        if faults.is_transient(error):
            self.transient.add(day)

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def observation(self, day: str, run_id: str) -> AssetObservation:
        """What the UI shows on the failed day's partition: its reason and the run."""
        return AssetObservation(
            asset_key=self.table,
            partition=day,
            description=f"{self.table} could not compute {day}: {self.reasons[day]}",
            metadata={FAILED_DAY: self.reasons[day], "run_id": run_id, "transient": day in self.transient},
        )

    def failure(self, days: list[str]) -> Failure:
        """The step's failure: it names every failed day with its reason; the other days of `days` were written."""
        failed = sorted(self.reasons)
        good = [d for d in days if d not in self.reasons]
        listed = "; ".join(f"{day}: {self.reasons[day]}" for day in failed[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        after = (
            f" The other {len(good)} day(s) ({format_days(good)}) were computed; range_isolation_sensor runs them on."
            if good
            else ""
        )
        return Failure(
            description=f"{self.table}: {len(failed)} of {len(days)} day(s) failed: {listed}{more}.{after}",
            metadata={
                FAILED_DAYS: sorted(d for d in failed if d not in self.transient),
                RETRY_DAYS: sorted(self.transient),
                "reasons": dict(self.reasons),
            },
            allow_retries=False,
        )
