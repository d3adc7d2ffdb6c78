"""Backfills of days whose bronze has expired: re-ingest the files that held those days.

Retention deletes bronze after 30 days (operations/retention.py on a folder lake, the bucket's
lifecycle rules on S3), but the files it came from are kept: in `archive/` for 7 years once
published (found through the ProcessedStreams ledger: status `archived`, `days` holding the day),
or still in the landing zone where nothing archived them (no sensor running). When `raw_streams`
is materialized for such a day, `rehydrate` re-ingests each of those files whose slice of the day
is missing, reading the archived (gzip) copy after checking its SHA-256 against the ledger, and
attributing every row, slice and manifest to the ORIGINAL landed key (`source_file`), so the
day's validated rows, bad-records and KPIs are the ones computed before the expiry.

Cost: nothing at all for a day that is younger than the bronze period and has bronze; otherwise
one filtered Scan of the ledger (it has no index by day) and one listing of the landing zone.
Only whole files are re-ingested: the other days a file holds get their (identical) slices again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from music_pipeline.core import layout
from music_pipeline.core import registry as tables
from music_pipeline.ingestion import bronze as ingest
from music_pipeline.ingestion import manifests
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake, LakeFile, partition_key
from music_pipeline.operations import archive
from music_pipeline.operations.retention import RetentionPeriods


@dataclass
class RehydrateReport:
    candidate_days: list[str] = field(default_factory=list)  # days whose bronze may have expired
    reingested: dict[str, list[str]] = field(default_factory=dict)  # landed key -> days it restored
    read_from: dict[str, str] = field(default_factory=dict)  # landed key -> key its bytes were read from
    unavailable: dict[str, str] = field(default_factory=dict)  # landed key -> why it could not be restored

    @property
    def count(self) -> int:
        return len(self.reingested)

    def markdown(self) -> str:
        lines = [f"- `{k}` from `{self.read_from[k]}`: {', '.join(d)}" for k, d in sorted(self.reingested.items())]
        lines += [f"- `{k}`: NOT restored: {why}" for k, why in sorted(self.unavailable.items())]
        return "\n".join(lines) or "_none_"


def candidate_days(lake: Lake, days: list[str], today: dt.date, bronze_days: int) -> list[str]:
    """Days whose bronze slices may have been expired. On a folder lake retention deletes whole
    partitions, so only a day with no bronze at all; on S3 the lifecycle rules expire each object by its
    own age, so also any day older than the bronze period (a late file's slice outlives the others)."""

    def expired_by_age(day: str) -> bool:
        return not lake.is_local and (today - dt.date.fromisoformat(day)).days > bronze_days

    return [d for d in days if expired_by_age(d) or not lake.list(f"{tables.RAW_STREAMS.prefix}/date={d}")]


def missing_days(lake: Lake, manifest: manifests.Manifest, days: set[str]) -> list[str]:
    """Days among `days` for which the file's bronze slice or ingestion-reject slice is gone."""
    name = manifests.slice_name(manifest.key)
    return sorted(
        d
        for d in days & manifest.days
        if (d in manifest.rows_by_day and not lake.exists(partition_key(tables.RAW_STREAMS.prefix, d, name)))
        or (d in manifest.rejects_by_day and not lake.exists(partition_key(tables.INGEST_REJECTS.prefix, d, name)))
    )


def rehydrate(
    lake: Lake,
    ledger_of: Callable[[], Ledger | None],
    days: list[str],
    today: dt.date | None = None,
    bronze_days: int = RetentionPeriods().bronze_days,
) -> RehydrateReport:
    """Re-ingest the archived or still-landed files holding `days` whose slices of those days are
    missing; the ledger (`ledger_of()`: its DynamoDB client is made only when a day needs it) finds the
    archived ones. `bronze_days` is the bronze retention period (retention.RetentionPeriods.bronze_days;
    the setting that should feed it: MUSIC_PIPELINE_BRONZE_RETENTION_DAYS)."""
    today = today or dt.datetime.now(dt.UTC).date()
    report = RehydrateReport(candidate_days=candidate_days(lake, days, today, bronze_days))
    wanted = set(report.candidate_days)
    if not wanted:
        return report
    for landed in lake.list(layout.RAW_STREAMS):
        manifest = manifests.read_manifest(lake, landed.key)
        if manifest is None or manifest.status != "ingested" or not missing_days(lake, manifest, wanted):
            continue
        digest = manifests.content_hash(lake, landed.key)
        if digest != manifest.content_hash:
            report.unavailable[landed.key] = "the landed bytes changed since ingestion (a sync ingests them)"
            continue
        _reingest(lake, report, manifest, wanted, read_key=landed.key)
    ledger = ledger_of()
    for item in ledger.archived_touching(sorted(wanted)) if ledger is not None else []:
        key = item["file_key"]
        if key in report.reingested or lake.exists(key):
            continue  # a landed copy was handled above
        manifest = manifests.read_manifest(lake, key)
        if manifest is None or manifest.status != "ingested" or manifest.content_hash != item.get("content_hash"):
            report.unavailable[key] = "bronze's manifest of the key does not match the ledger's archived content"
            continue
        if not missing_days(lake, manifest, wanted):
            continue
        source = item.get("archive_key") or archive.archive_key(key)
        if not lake.exists(source):
            report.unavailable[key] = f"its archive {source} is gone (expired after the archive period?)"
            continue
        try:
            digest, size = archive.landed_hash(lake, source, archive.is_compressed(source) and not archive.is_compressed(key))
        except OSError as exc:  # failing beats publishing the day without this file's rows
            raise OSError(
                f"{source} (archive of {key}) cannot be read: {exc}. On S3, archive objects older than the "
                "template's ArchiveColdAfterDays are in Glacier: restore them (aws s3api restore-object) "
                "and run the backfill again"
            ) from exc
        if (digest, size) != (manifest.content_hash, manifest.size):
            report.unavailable[key] = f"{source} does not give back the landed bytes (SHA-256 {digest}, {size} bytes)"
            continue
        _reingest(lake, report, manifest, wanted, read_key=source)
    return report


def _reingest(lake: Lake, report: RehydrateReport, manifest: manifests.Manifest, wanted: set[str], read_key: str) -> None:
    restored = missing_days(lake, manifest, wanted)
    landed = LakeFile(key=manifest.key, size=manifest.size, modified=manifest.modified)
    ingest.ingest_file(lake, landed, manifest.content_hash, manifest, read_key=read_key)
    report.reingested[manifest.key] = restored
    report.read_from[manifest.key] = read_key
