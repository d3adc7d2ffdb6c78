"""Arrival-driven ingestion: the files a sensor claimed -> bronze, with the outcome in the ledger.

For each claimed delivery (key, version) the file is ingested with the same code as a manual sync
(`ingest.ingest_landed_file`), then the ledger moves it from `discovered` to `ingested` (with the
days whose partitions must be recomputed) or to `failed` (with the reason). One file failing does
not stop the others.

Days to recompute for a delivery:
- new content: the days it touches, plus the days its key's previous content touched (replaced
  slices, including days the new content no longer has);
- the same content again (re-sent under the same key, or already in bronze from a manual sync):
  none if the ledger already saw this content published for the key, else the days it touches;
- the same content under another key (`duplicate`): none.

`adopt_ingested` records in the ledger what a run outside the sensor put in bronze and published (the
demo's `dagster asset materialize`), as the sensor would have: claimed, ingested, published, archived.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from music_pipeline.core import contracts, layout
from music_pipeline.ingestion import bronze as ingest
from music_pipeline.ingestion import manifests
from music_pipeline.ingestion.discovery import partition_days
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake
from music_pipeline.operations import archive


@dataclass
class ArrivalReport:
    outcomes: dict[str, str] = field(default_factory=dict)  # key -> outcome
    days: dict[str, list[str]] = field(default_factory=dict)  # key -> days to recompute
    errors: dict[str, str] = field(default_factory=dict)
    not_recorded: list[str] = field(default_factory=list)  # the ledger had moved on (claimed again)
    transient: list[str] = field(default_factory=list)  # failed for a reason that passes: claimed again later
    gave_up: list[str] = field(default_factory=list)  # failed for a reason that passes, retries spent: `failed`

    @property
    def all_days(self) -> list[str]:
        return sorted({d for days in self.days.values() for d in days})


def is_day(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Retries:
    """How often a delivery failing for a reason that passes is ingested (MUSIC_PIPELINE_FILE_RETRIES) and
    the wait before its second ingestion (MUSIC_PIPELINE_FILE_RETRY_SECONDS), doubled before each next one."""

    attempts: int = 5
    first_wait: float = 60

    def wait(self, attempts: int) -> float:
        return self.first_wait * 2 ** (attempts - 1)


def ingest_claimed(
    lake: Lake,
    ledger: Ledger,
    claimed: dict[str, str],
    run_id: str,
    start_date: dt.date | None = None,
    retries: Retries | None = None,
    now: float | None = None,
) -> ArrivalReport:
    """Ingest the claimed deliveries {key: version}; record each outcome in the ledger.
    `start_date` (MUSIC_PIPELINE_START_DATE when None) is passed to ingestion (before_start_date)."""
    report, retries = ArrivalReport(), retries or Retries()
    current = landing.stat(lake, list(claimed))
    before = ledger.get_many(list(claimed))
    for key, version in sorted(claimed.items()):
        landed = current.get(key)
        if landed is None:
            report.outcomes[key], report.errors[key] = "failed", "the file is gone from the landing zone"
            if not ledger.failed(key, version, run_id=run_id, reason=report.errors[key]):
                report.not_recorded.append(key)
            continue
        previous = manifests.read_manifest(lake, key)
        try:
            outcome, manifest = ingest.ingest_landed_file(lake, landed, start_date=start_date)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is recorded, the others go on
            outcome, manifest = "failed", None
            report.errors[key] = f"{type(exc).__name__}: {exc}"
        if manifest is not None and manifest.status == "failed":  # failed now, or unchanged since it failed
            outcome, report.errors[key] = "failed", manifest.error or "unreadable"
        report.outcomes[key] = outcome
        if outcome == "failed" and manifest is not None and manifest.transient:
            item = before.get(key) or {}
            attempts = (int(item.get("attempts", 0)) if item.get("attempts_of") == version else 0) + 1
            if attempts < retries.attempts:
                # `retrying`: the sensor claims it again once the wait is over; its days are not requested from this run
                wait = retries.wait(attempts)
                report.errors[key] += f" (ingestion {attempts} of {retries.attempts}; again in {wait:g} s)"
                report.transient.append(key)
                at = (time.time() if now is None else now) + wait
                if not ledger.retrying(key, version, run_id=run_id, reason=report.errors[key], attempts=attempts, retry_at=at):
                    report.not_recorded.append(key)
                continue
            report.errors[key] += f" (gave up after {attempts} ingestions: `music-pipeline files --retry {key}`)"
            report.gave_up.append(key)
        else:
            attempts = 0
        if outcome == "failed":
            reason = report.errors.setdefault(key, (manifest.error if manifest else None) or "unreadable")
            recorded = ledger.failed(
                key,
                version,
                run_id=run_id,
                reason=reason,
                content_hash=manifest.content_hash if manifest else None,
                attempts=attempts,
            )
        else:
            if manifest is None:
                raise RuntimeError(f"{key}: {outcome} without a manifest")  # ingestion writes one for every outcome
            days = _days_to_recompute(outcome, manifest, previous, before.get(key))
            report.days[key] = days
            recorded = ledger.ingested(
                key,
                version,
                run_id=run_id,
                content_hash=manifest.content_hash,
                rows=manifest.rows_read,
                days=days,
                outcome=outcome,
                duplicate_of=manifest.duplicate_of,
            )
        if not recorded:
            report.not_recorded.append(key)
    return report


def _days_to_recompute(
    outcome: str, manifest: manifests.Manifest, previous: manifests.Manifest | None, ledger_item: dict | None
) -> list[str]:
    if outcome == "duplicate":
        days = set()
    elif outcome == "unchanged":
        seen_published = ledger_item is not None and ledger_item.get("published_hash") == manifest.content_hash
        days = set() if seen_published or manifest.status == "duplicate" else set(manifest.days)
    else:
        days = set(manifest.days)
    if previous is not None and previous.status in ("ingested", "failed") and outcome in ("ingested", "replaced", "duplicate"):
        days |= previous.days
    return sorted(d for d in days if is_day(d) and (d in manifest.rows_by_day or d <= _last_possible_day(manifest)))


def _last_possible_day(manifest: manifests.Manifest) -> str:
    """The last day a listen of the file can have (its landing time + 24 h). Later days hold only
    rejected future listens (`future_listen_time`, e.g. 2099): they are counted when their partition
    is materialized, and waiting for it would pin the file in the landing zone."""
    limit = manifest.modified + contracts.STREAM_FUTURE_TOLERANCE_SECONDS
    return dt.datetime.fromtimestamp(limit, dt.UTC).date().isoformat()


def adopt_ingested(
    lake: Lake,
    ledger: Ledger,
    published: Callable[[list[str]], bool],
    *,
    claim: str,
    start_date: dt.date,
    ignored_suffixes: tuple[str, ...] = layout.IGNORED_SUFFIXES,
    now: float | None = None,
) -> dict[str, str]:
    """Landed deliveries that bronze holds already (its manifest names the same size and modification
    time) and the ledger does not know, recorded as the sensor would have: claimed (`claim` as the run
    key), `failed` with the manifest's reason, or `ingested` with the days they touch, then, when
    `published(days)` says every such day is in DynamoDB, `published` and archived. Returns key -> what
    became of it; a delivery bronze does not hold, or the ledger knows, is left to the sensor."""
    now = time.time() if now is None else now
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    results = {}
    for landed in landing.list_all(lake, layout.RAW_STREAMS, ignored_suffixes):
        key, version = landed.key, landing.version(landed)
        manifest = manifests.read_manifest(lake, key)
        if manifest is None or (manifest.size, manifest.modified) != (landed.size, landed.modified):
            results[key] = "left to the sensor: bronze does not hold this delivery"
        elif not ledger.claim(key, version, landed.size, landed.modified, claim):
            results[key] = "left to the sensor: known to the ledger"
        elif manifest.status == "failed":
            ledger.failed(key, version, run_id=claim, reason=manifest.error or "unreadable", content_hash=manifest.content_hash)
            results[key] = "failed"
        else:
            days = _days_to_recompute("ingested", manifest, None, None)
            ledger.ingested(
                key,
                version,
                run_id=claim,
                content_hash=manifest.content_hash,
                rows=manifest.rows_read,
                days=days,
                outcome=manifest.status,
                duplicate_of=manifest.duplicate_of,
            )
            ready, later = partition_days(days, today, start_date)
            if later or not published(ready):
                results[key] = "ingested (its days are not all published: the sensor follows it)"
            elif ledger.published(key, version, manifest.content_hash):
                results[key] = archive.archive_file(lake, ledger, key, version)
    return results
