"""Landed files -> bronze slices, one slice per (source file, event day), rejects -> bad-records.

Identity of a landed file is its key plus a SHA-256 of its bytes (DESIGN.md section 3):
- the same content again (same or another key) changes nothing;
- new content under a known key replaces that key's slices, including days it no longer touches;
- a file that cannot be read at all is recorded as failed with the reason; the others go on.
A manifest per key (`bronze/_files/<file_id>.json`) records what was ingested: content hash, rows
read, rows per day, rejects per reason. Conservation holds per file:
rows read = bronze rows + ingestion rejects.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from music_pipeline import contracts as c
from music_pipeline.contracts import Reason
from music_pipeline.csv_reader import TextBatch, UnreadableFile, iter_text_batches
from music_pipeline.storage.lake import Lake, LakeFile, partition_key
from music_pipeline.storage.landing import stat

from music_pipeline.layout import BRONZE_CONTENT_INDEX as CONTENT_INDEX
from music_pipeline.layout import BRONZE_MANIFESTS as MANIFESTS
from music_pipeline.layout import RAW_STREAMS, UNKNOWN_DAY
from music_pipeline.tables import INGEST_REJECTS as _INGEST_REJECTS
from music_pipeline.tables import RAW_STREAMS as _BRONZE

BRONZE_STREAMS, INGEST_REJECTS = _BRONZE.prefix, _INGEST_REJECTS.prefix


def file_id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def slice_name(key: str) -> str:
    return f"file={file_id(key)}.parquet"


def content_hash(lake: Lake, key: str) -> str:
    digest = hashlib.sha256()
    with lake.open_input(key, decompress=False) as stream:
        while chunk := stream.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Manifest:
    key: str
    content_hash: str
    size: int
    modified: float
    status: str  # ingested | duplicate | failed
    rows_read: int = 0
    rows_by_day: dict[str, int] = field(default_factory=dict)
    rejects_by_day: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_of: str | None = None
    error: str | None = None
    ingested_at: float = 0.0

    @property
    def days(self) -> set[str]:
        return set(self.rows_by_day) | set(self.rejects_by_day)


def read_manifest(lake: Lake, key: str) -> Manifest | None:
    mkey = f"{MANIFESTS}/{file_id(key)}.json"
    if not lake.exists(mkey):
        return None
    return Manifest(**json.loads(lake.read_bytes(mkey)))


def write_manifest(lake: Lake, manifest: Manifest) -> None:
    lake.write_bytes(f"{MANIFESTS}/{file_id(manifest.key)}.json", json.dumps(asdict(manifest), sort_keys=True).encode())


def all_manifests(lake: Lake) -> list[Manifest]:
    files = lake.list(MANIFESTS, include_hidden=True)
    return sorted((Manifest(**json.loads(lake.read_bytes(f.key))) for f in files if f.key.endswith(".json")),
                  key=lambda m: m.key)


# ---------------------------------------------------------------------------------------------
# typing of text batches
# ---------------------------------------------------------------------------------------------
def parse_listen_time(text: pa.Array) -> pa.Array:
    """ISO-8601 text -> naive UTC timestamp[us]; null where unparseable. Offsets are applied."""
    text = pc.utf8_trim_whitespace(text)
    fast = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    if fast.null_count == text.null_count:  # every present value parsed (the common case): nothing to retry
        return fast
    retry = np.flatnonzero(fast.is_null().to_numpy(zero_copy_only=False) & text.is_valid().to_numpy(zero_copy_only=False))
    values = fast.cast(pa.int64()).fill_null(0).to_numpy().copy()
    valid = fast.is_valid().to_numpy(zero_copy_only=False).copy()
    parsed = pd.to_datetime(pd.Series(text.take(pa.array(retry)).to_pylist(), dtype=object),
                            utc=True, format="ISO8601", errors="coerce")
    ok = parsed.notna().to_numpy()
    values[retry[ok]] = parsed[ok].dt.tz_convert(None).astype("datetime64[us]").astype(np.int64).to_numpy()
    valid[retry[ok]] = True
    return pa.array(values, pa.int64(), mask=~valid).cast(pa.timestamp("us"))


def parse_duration_ms(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`duration` seconds text -> int64 ms (null when blank) and a mask of invalid values."""
    values = text.to_pylist()
    out: list[int | None] = []
    invalid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or not v.strip():
            out.append(None)
            continue
        try:
            seconds = float(v)
        except ValueError:
            seconds = float("nan")
        if not np.isfinite(seconds) or seconds < 0:
            invalid[i] = True
            out.append(None)
        else:
            out.append(round(seconds * 1000))
    return pa.array(out, pa.int64()), invalid


def type_stream_batch(batch: TextBatch, source_file: str) -> tuple[pa.Table, list[dict]]:
    """Text records -> bronze rows; rows without a usable time or duration -> rejects."""
    n = batch.num_rows
    cols = batch.columns
    listen_time = parse_listen_time(cols["listen_time"]) if n else pa.array([], pa.timestamp("us"))
    bad_time = (listen_time.is_null().to_numpy(zero_copy_only=False) if listen_time.null_count
                else np.zeros(n, dtype=bool))
    if c.STREAM_DURATION_COLUMN in cols and n:
        duration_ms, bad_duration = parse_duration_ms(cols[c.STREAM_DURATION_COLUMN])
    else:
        duration_ms, bad_duration = pa.nulls(n, pa.int64()), np.zeros(n, dtype=bool)
    rejects = list(batch.rejects)
    dates = listen_time.cast(pa.date32())
    for i in np.flatnonzero(bad_time | bad_duration):
        record = ",".join("" if cols[k][i].as_py() is None else cols[k][i].as_py() for k in cols)
        if bad_time[i]:
            reason, detail, day = Reason.UNPARSEABLE_LISTEN_TIME, f"listen_time {cols['listen_time'][i].as_py()!r}", None
        else:
            reason, detail, day = (Reason.INVALID_DURATION, f"duration {cols[c.STREAM_DURATION_COLUMN][i].as_py()!r}",
                                   dates[i].as_py())
        rejects.append({"date": day, "source_line": int(batch.lines[i]), "reason": reason, "detail": detail, "record": record})
    keep = ~(bad_time | bad_duration)
    table = pa.table({
        "date": dates, "user_id": cols["user_id"], "track_id": cols["track_id"], "listen_time": listen_time,
        "listen_duration_ms": duration_ms,
        "stream_id": cols["stream_id"] if "stream_id" in cols else pa.nulls(n, pa.string()),
        "completed": pa.nulls(n, pa.bool_()),
        "device_type": (pc.utf8_lower(pc.utf8_trim_whitespace(cols["device_type"])).fill_null("unknown")
                        if "device_type" in cols else pa.repeat(pa.scalar("unknown"), n)),
        "source_file": pa.repeat(pa.scalar(source_file, pa.string()), n),
        "source_line": pa.array(batch.lines, pa.int64()),
    }, schema=c.BRONZE_STREAMS)
    return (table if keep.all() else table.filter(pa.array(keep))), rejects


def rejects_table(rejects: list[dict], source_file: str) -> pa.Table:
    rows = [{"date": r.get("date"), "source_file": source_file, **{k: r[k] for k in ("source_line", "reason", "detail", "record")}}
            for r in rejects]
    return pa.Table.from_pylist(rows, schema=c.INGEST_REJECTS)


# ---------------------------------------------------------------------------------------------
# one file
# ---------------------------------------------------------------------------------------------
def ingest_file(lake: Lake, landed: LakeFile, digest: str, previous: Manifest | None,
                read_key: str | None = None) -> Manifest:
    """Write the bronze slices and rejects of one landed file; replace what its key held before.
    `read_key`: where the bytes are read when they are no longer under `landed.key` (a backfill
    re-ingesting from archive/, see rehydrate.py); rows, slices and manifest stay `landed.key`'s."""
    slice_file = slice_name(landed.key)
    rows_by_day: Counter[str] = Counter()
    rejects: list[dict] = []
    rows_read = 0
    with ExitStack() as stack:
        writers: dict[str, pq.ParquetWriter] = {}
        open_stream = lambda: lake.open_input(read_key or landed.key)  # noqa: E731
        for batch in iter_text_batches(open_stream, landed.key, c.STREAM_REQUIRED_COLUMNS, c.STREAM_COLUMN_ALIASES):
            rows_read += batch.num_rows + len(batch.rejects)
            good, batch_rejects = type_stream_batch(batch, landed.key)
            rejects.extend(batch_rejects)
            batch_days = pc.unique(good["date"]).to_pylist()
            for day_value in batch_days:
                day = day_value.isoformat()
                # most batches hold one day: no copy then
                part = good if len(batch_days) == 1 else good.filter(pc.equal(good["date"], pa.scalar(day_value, pa.date32())))
                if day not in writers:
                    path = stack.enter_context(lake.atomic_path(partition_key(BRONZE_STREAMS, day, slice_file)))
                    writers[day] = stack.enter_context(
                        pq.ParquetWriter(path, c.BRONZE_STREAMS, filesystem=lake.fs, compression="snappy"))
                writers[day].write_table(part)
                rows_by_day[day] += part.num_rows
    rejects_by_day: Counter[str] = Counter()
    table = rejects_table(rejects, landed.key)
    for day_value in pc.unique(table["date"]).to_pylist():
        day = day_value.isoformat() if day_value else UNKNOWN_DAY
        mask = pc.is_null(table["date"]) if day_value is None else pc.equal(table["date"], pa.scalar(day_value, pa.date32()))
        part = table.filter(mask)
        lake.write_parquet(partition_key(INGEST_REJECTS, day, slice_file), part)
        rejects_by_day[day] += part.num_rows
    manifest = Manifest(
        key=landed.key, content_hash=digest, size=landed.size, modified=landed.modified, status="ingested",
        rows_read=rows_read, rows_by_day=dict(sorted(rows_by_day.items())),
        rejects_by_day=dict(sorted(rejects_by_day.items())),
        rejects_by_reason=dict(sorted(Counter(r["reason"] for r in rejects).items())), ingested_at=time.time(),
    )
    if previous is not None:
        drop_slices(lake, previous, keep=manifest)
    write_manifest(lake, manifest)
    lake.write_bytes(f"{CONTENT_INDEX}/{digest}.json", json.dumps({"key": landed.key}).encode())
    return manifest


def drop_slices(lake: Lake, previous: Manifest, keep: Manifest | None = None) -> None:
    """Delete the slices a key held for days its new content no longer touches."""
    name = slice_name(previous.key)
    for day in previous.rows_by_day:
        if keep is None or day not in keep.rows_by_day:
            lake.delete(partition_key(BRONZE_STREAMS, day, name))
    for day in previous.rejects_by_day:
        if keep is None or day not in keep.rejects_by_day:
            lake.delete(partition_key(INGEST_REJECTS, day, name))


def content_owner(lake: Lake, digest: str, key: str) -> str | None:
    """Another key that holds this exact content in bronze, if any."""
    index_key = f"{CONTENT_INDEX}/{digest}.json"
    if not lake.exists(index_key):
        return None
    owner = json.loads(lake.read_bytes(index_key))["key"]
    if owner == key:
        return None
    owner_manifest = read_manifest(lake, owner)
    if owner_manifest and owner_manifest.status == "ingested" and owner_manifest.content_hash == digest:
        return owner
    return None


def ingest_landed_file(lake: Lake, landed: LakeFile, force_hash: bool = False) -> tuple[str, Manifest]:
    """Bring one landed file into bronze. Returns (outcome, manifest); outcome is one of
    `unchanged`, `ingested`, `replaced`, `duplicate`, `failed`."""
    previous = read_manifest(lake, landed.key)
    if (previous and not force_hash and previous.status != "duplicate"
            and (previous.size, previous.modified) == (landed.size, landed.modified)):
        return "unchanged", previous
    digest = content_hash(lake, landed.key)
    if previous and previous.content_hash == digest and previous.status == "ingested":
        previous.modified = landed.modified
        write_manifest(lake, previous)
        return "unchanged", previous
    owner = content_owner(lake, digest, landed.key)
    if owner is not None:
        if previous and previous.status == "duplicate" and previous.content_hash == digest:
            return "unchanged", previous
        if previous is not None:
            drop_slices(lake, previous)
        manifest = Manifest(key=landed.key, content_hash=digest, size=landed.size, modified=landed.modified,
                            status="duplicate", duplicate_of=owner, ingested_at=time.time())
        write_manifest(lake, manifest)
        return "duplicate", manifest
    try:
        manifest = ingest_file(lake, landed, digest, previous)
    except UnreadableFile as exc:
        manifest = Manifest(key=landed.key, content_hash=digest, size=landed.size, modified=landed.modified,
                            status="failed", error=f"{landed.key}: {exc}", ingested_at=time.time())
        write_manifest(lake, manifest)
        return "failed", manifest
    return ("replaced" if previous and previous.status == "ingested" else "ingested"), manifest


@dataclass
class SyncReport:
    outcomes: dict[str, list[Manifest]] = field(default_factory=dict)

    def add(self, outcome: str, manifest: Manifest) -> None:
        self.outcomes.setdefault(outcome, []).append(manifest)

    def count(self, outcome: str) -> int:
        return len(self.outcomes.get(outcome, []))

    @property
    def failed(self) -> list[Manifest]:
        return self.outcomes.get("failed", [])


def sync_landed_streams(lake: Lake, keys: list[str] | None = None) -> SyncReport:
    """Ingest every landed file (or the given keys) that bronze does not hold yet."""
    report = SyncReport()
    landed = lake.list(RAW_STREAMS) if keys is None else sorted(stat(lake, keys).values(), key=lambda f: f.key)
    for f in landed:
        outcome, manifest = ingest_landed_file(lake, f)
        report.add(outcome, manifest)
    return report


def bronze_slices(lake: Lake, days: list[str]) -> dict[str, list[str]]:
    """Keys of the bronze slices of each day."""
    return {day: [f.key for f in lake.list(f"{BRONZE_STREAMS}/date={day}")] for day in days}


def day_range(start: str, end: str) -> list[str]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
