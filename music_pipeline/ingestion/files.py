"""The landed stream files and what became of them (`music-pipeline files`), and a failed file retried by hand
(`music-pipeline files --retry KEY`).

A file's status is the ledger's for its current delivery (discovered, retrying, ingested, published, archived,
failed) when the ledger follows it (the arrival sensors), else its bronze manifest's (ingested, duplicate, failed,
publishing: a manual sync), else `landed` (not read yet). The reason is the ledger's or the manifest's error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from music_pipeline.core import layout
from music_pipeline.ingestion import manifests
from music_pipeline.ingestion.ledger import FAILED, RETRYING, Ledger
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake


@dataclass(frozen=True)
class FileStatus:
    key: str
    status: str
    reason: str = ""
    attempts: int = 0
    retry_at: float | None = None  # when a retrying file is ingested again
    rows: int = 0
    landed: bool = True  # still in the landing zone (archived files are not)

    def line(self) -> str:
        more = f" (ingestion {self.attempts})" if self.attempts else ""
        if self.status == RETRYING and self.retry_at:
            at = dt.datetime.fromtimestamp(self.retry_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            more += f", again at {at} UTC"
        rows = f"  {self.rows} rows" if self.rows else ""
        return f"{self.status:<11} {self.key}{rows}{more}" + (f"\n            {self.reason}" if self.reason else "")


def file_statuses(lake: Lake, ledger: Ledger | None, status: str | None = None) -> list[FileStatus]:
    """Every landed file, and every file the ledger or the manifests know, with its status; `status`: only those."""
    landed = {f.key: f for f in landing.list_all(lake, layout.RAW_STREAMS)}
    by_key = {m.key: m for m in manifests.all_manifests(lake)}
    items = {i["file_key"]: i for i in ledger.items()} if ledger is not None else {}
    found = []
    for key in sorted(set(landed) | set(by_key) | set(items)):
        f, manifest, item = landed.get(key), by_key.get(key), items.get(key)
        current = item is not None and (f is None or item["version"] == landing.version(f))
        if current and item is not None:
            row = FileStatus(
                key,
                item["status"],
                str(item.get("reason") or ""),
                int(item.get("attempts", 0)) if item.get("attempts_of") == item["version"] else 0,
                float(item["retry_at"]) if item.get("retry_at") is not None else None,
                int(item.get("rows", 0)),
                f is not None,
            )
        elif manifest is not None and (f is None or (manifest.size, manifest.modified) == (f.size, f.modified)):
            row = FileStatus(key, manifest.status, manifest.error or "", rows=manifest.rows_read, landed=f is not None)
        else:
            row = FileStatus(key, "landed")  # a new delivery nothing has read yet
        if status is None or row.status == status:
            found.append(row)
    return found


def retry_file(lake: Lake, ledger: Ledger | None, key: str, by: str = "music-pipeline files --retry") -> list[str]:
    """Make one failed (or retrying) file be read again: its manifest asks the next sync to read it whatever its
    size and time, and its ledger item is due at once, its attempts counted from zero (the sensor claims it at its
    next rescan or tick). Returns what was reset; raises ValueError for a key that is not a failed file."""
    done = []
    manifest = manifests.read_manifest(lake, key)
    if manifest is not None and manifest.status == "failed":
        manifest.retry_requested = True
        manifests.write_manifest(lake, manifest)
        done.append("manifest: read again by the next sync")
    if ledger is not None:
        item = ledger.reset(key, f"retry requested by {by}")
        if item is not None:
            done.append(f"ledger: {item['status']} -> {RETRYING}, due now")
    if not done:
        raise ValueError(f"{key}: not a failed file (see `music-pipeline files --status {FAILED}`)")
    return done
