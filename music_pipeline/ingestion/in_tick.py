"""Small deliveries ingested in stream_files_sensor's own tick, instead of in an `ingest_stream_files` run.

A run costs a run worker's start (Python, Dagster and the code location imported again: 3-5 s, more on a busy
machine) and a trip through the run queue, before the file is read in well under a second when it is small. With
MUSIC_PIPELINE_INLINE_INGEST_BYTES > 0 (`music-pipeline dev` sets 256 kB), a claimed batch of at most that many bytes
in all is ingested by the tick that claimed it, with the same code as the run (`arrival.ingest_claimed`: the
ledger's outcome, the retries of a failure that passes, the days to recompute), and its days runs are requested in
the same tick (`after_ingestion`: recorded in the ledger once, as everywhere). Larger batches, and every batch when
the setting is 0 (the default), still go to `ingest_stream_files` runs.

What stays as it was: the claim comes first (a delivery is ingested once), a tick that dies mid-way leaves its
claims `discovered` for the claim timeout (as a run that dies does), a file failing for good is recorded as an
observation of raw_streams (the alerts sensor turns it into one alert), one failing for a reason that passes is
`retrying` and claimed again once its wait is over (not alerted until its retries are spent).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from dagster import AssetObservation, RunRequest

from music_pipeline.core.settings import ArrivalSettings
from music_pipeline.ingestion import arrival
from music_pipeline.ingestion.discovery import after_ingestion
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake
from music_pipeline.operations.alerting import failed_file_observation

INGEST_JOB = "ingest_stream_files"


@dataclass
class InTick:
    """What the tick did instead of the ingestion runs: the requests left (larger batches, the days runs) and the
    failed files' observations."""

    requests: list[RunRequest] = field(default_factory=list)
    observations: list[AssetObservation] = field(default_factory=list)
    ingested: dict[str, str] = field(default_factory=dict)  # key -> outcome


def files_of(request: RunRequest) -> dict[str, str]:
    """The claimed deliveries {key: version} of an `ingest_stream_files` request."""
    config = (request.run_config or {}).get("ops", {}).get("ingest_claimed_files", {}).get("config", {})
    return dict(config.get("files", {}))


def small_enough(lake: Lake, files: dict[str, str], limit: int) -> bool:
    """The claimed deliveries hold at most `limit` bytes in all (as they are now; a key gone counts as 0: ingestion
    records it `failed`)."""
    return limit > 0 and sum(f.size for f in landing.stat(lake, list(files)).values()) <= limit


def ingest_in_tick(
    lake: Lake,
    ledger: Ledger,
    requests: list[RunRequest],
    settings: ArrivalSettings,
    start_date: dt.date,
    *,
    compute: bool,
    log: logging.Logger | logging.LoggerAdapter,
) -> InTick:
    """Each `ingest_stream_files` request of a small enough batch, ingested here under its claim (its run key names
    the ingestion in the ledger), then the runs of its days (when `compute`: songs and users exist; otherwise the
    sensor requests them at a later tick). Other requests are passed on unchanged."""
    done = InTick()
    retries = arrival.Retries(settings.file_retries, settings.file_retry_seconds)
    for request in requests:
        files = files_of(request)
        if request.job_name != INGEST_JOB or not files or not small_enough(lake, files, settings.inline_ingest_bytes):
            done.requests.append(request)
            continue
        claim = request.run_key or INGEST_JOB
        report = arrival.ingest_claimed(lake, ledger, files, claim, start_date, retries)
        done.ingested.update(report.outcomes)
        recorded = ledger.get_many(list(report.errors)) if report.errors else {}
        for key, error in report.errors.items():
            log.warning(f"{key}: failed: {error}")
            if key not in report.transient:  # a transient failure is claimed again: alerted once its retries are spent
                done.observations.append(failed_file_observation(key, error, recorded.get(key, {}).get("content_hash")))
        for key in report.not_recorded:
            log.warning(f"{key}: the ledger moved on (claimed again or recorded by another run); nothing recorded")
        days = after_ingestion(ledger, files, start_date, time.time()) if compute else []
        log.info(
            f"{claim}: ingested {len(files)} file(s) in the tick ({report.all_days and ', '.join(report.all_days) or 'no day'}"
            f" to recompute); requesting {', '.join(r.run_key or '' for r in days) or 'no days run'}"
        )
        done.requests += days
    return done
