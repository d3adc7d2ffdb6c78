"""The fast path of plain CSV deliveries (ingestion/plain_csv.py): a clean file is read by DuckDB alone, any file
with something the careful reader would decide (a reject, a quote, CR, a BOM, a blank line, an optional column)
goes back to the careful reader, and both give the same bronze rows, rejects and manifest."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
from dataclasses import asdict

import pytest

from music_pipeline.core import registry
from music_pipeline.ingestion import bronze, manifests, plain_csv
from music_pipeline.ingestion.tables import INGEST_REJECTS, RAW_STREAMS
from music_pipeline.lake.store import Lake

START = dt.date(2024, 1, 1)
LANDED_AT = dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()
CLEAN = (
    b"User_ID,song_id,timestamp\n"
    b"u1,t1,2024-01-02 00:00:00\n"
    b"u2,,2024-01-02T23:59:59\n"  # a blank id is a bronze row (validation rejects it)
    b" u3 ,t 3,2024-02-29 12:30:00\n"  # ids kept as written
    b"u4,t4,2024-02-29T12:30:00"  # no LF at the end
)
DIRTY = {
    "impossible time": CLEAN.replace(b"2024-02-29 12:30:00", b"2023-02-29 12:30:00"),
    "hour 24": CLEAN.replace(b"2024-01-02 00:00:00", b"2024-01-01 24:00:00"),
    "lower-case t": CLEAN.replace(b"2024-01-02T23:59:59", b"2024-01-02t23:59:59"),
    "year 0": CLEAN.replace(b"2024-01-02 00:00:00", b"0000-01-02 00:00:00"),
    "T elsewhere": CLEAN.replace(b"2024-01-02 00:00:00", b"2024-01-02 00:00T00"),
    "offset": CLEAN.replace(b"2024-01-02 00:00:00", b"2024-01-02 00:00:00Z"),
    "fraction": CLEAN.replace(b"2024-01-02 00:00:00", b"2024-01-02 00:00:00.5"),
    "future": CLEAN.replace(b"2024-01-02 00:00:00", b"2024-03-02 00:00:01"),
    "before start": CLEAN.replace(b"2024-01-02 00:00:00", b"2023-12-31 23:59:59"),
    "quoted field": CLEAN.replace(b"u1,t1", b'"u1",t1'),
    "CRLF": CLEAN.replace(b"\n", b"\r\n"),
    "BOM": b"\xef\xbb\xbf" + CLEAN,
    "blank line": CLEAN.replace(b"\nu2", b"\n\nu2"),
    "blanks line": CLEAN.replace(b"\nu2", b"\n  \nu2"),
    "extra field": CLEAN.replace(b"u1,t1,2024-01-02 00:00:00", b"u1,t1,2024-01-02 00:00:00,x"),
    "bad UTF-8": CLEAN.replace(b"u1,", b"u1\xff,"),
    "optional column": b"user_id,track_id,listen_time,device_type\nu1,t1,2024-01-02 00:00:00, Phone\n",
}


def ingest(data: bytes, fast_path: bool, key: str = "raw/streams/day.csv") -> tuple[dict, list, list]:
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(folder)
        lake.write_bytes(key, data)
        os.utime(lake.local_path(key), (LANDED_AT, LANDED_AT))
        before, plain_csv.ENABLED = plain_csv.ENABLED, fast_path
        try:
            report = bronze.sync_landed_streams(lake, start_date=START)
        finally:
            plain_csv.ENABLED = before
        read = manifests.read_manifest(lake, key)
        assert read is not None and not report.failed
        manifest = asdict(read)
        del manifest["ingested_at"]
        rows = lake.read_parquet(sorted(f.key for f in lake.list(registry.RAW_STREAMS.prefix)), schema=RAW_STREAMS.contract)
        rejects = lake.read_parquet(
            sorted(f.key for f in lake.list(registry.INGEST_REJECTS.prefix)), schema=INGEST_REJECTS.contract
        )
    return manifest, rows.to_pylist(), rejects.to_pylist()


@pytest.fixture
def careful_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = bronze._careful

    def spy(lake, landed, source, start_date):
        calls.append(landed.key)
        return real(lake, landed, source, start_date)

    monkeypatch.setattr(bronze, "_careful", spy)
    return calls


def test_a_clean_file_takes_the_fast_path_with_the_careful_readers_rows(careful_calls):
    fast = ingest(CLEAN, fast_path=True)
    assert careful_calls == []
    assert fast == ingest(CLEAN, fast_path=False)
    manifest, rows, rejects = fast
    assert manifest["rows_read"] == 4 and manifest["rows_by_day"] == {"2024-01-02": 2, "2024-02-29": 2} and not rejects
    assert [(r["source_line"], r["user_id"], r["track_id"]) for r in rows] == [
        (2, "u1", "t1"),
        (3, "u2", ""),
        (4, " u3 ", "t 3"),
        (5, "u4", "t4"),
    ]
    assert rows[3]["listen_time"] == dt.datetime(2024, 2, 29, 12, 30) and rows[3]["device_type"] == "unknown"


@pytest.mark.parametrize("defect", sorted(DIRTY))
def test_a_file_with_anything_to_decide_goes_to_the_careful_reader(careful_calls, defect):
    data = DIRTY[defect]
    fast = ingest(data, fast_path=True)
    assert careful_calls == ["raw/streams/day.csv"]
    assert fast == ingest(data, fast_path=False)


def test_only_local_csv_files_are_read_by_the_fast_path(careful_calls):
    ingest(CLEAN, fast_path=True, key="raw/streams/day.txt")
    assert careful_calls == ["raw/streams/day.txt"]


def test_the_byte_scan_runs_once_alongside_the_hash(monkeypatch, careful_calls):
    """The fast path's scan of a file starts with its SHA-256 in another thread (plain_csv.scanned_alongside) and
    the read takes that result: one scan per file, not one before and one after the hash."""
    threads: list[str] = []
    real = plain_csv.plain_columns

    def spy(path):
        threads.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(plain_csv, "plain_columns", spy)
    fast = ingest(CLEAN, fast_path=True)
    assert careful_calls == [] and fast == ingest(CLEAN, fast_path=False)
    assert len(threads) == 1 and threads[0].startswith("plain-csv-scan")
    assert plain_csv._SCANS == {}  # nothing left behind for a later ingestion of the same path
