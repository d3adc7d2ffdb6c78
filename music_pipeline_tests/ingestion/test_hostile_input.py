"""Hostile input (issue 16): no file may stop a day, no row may vanish. One test per defect class;
each fails on the code before the issue and passes with it. Real files, real Parquet, real DuckDB."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from music_pipeline.core import layout, registry
from music_pipeline.ingestion import csv_reader
from music_pipeline.ingestion.bronze import (
    parse_duration_ms,
    parse_listen_time,
    sync_landed_streams,
)
from music_pipeline.ingestion.manifests import file_id, read_manifest
from music_pipeline.ingestion.tables import INGEST_REJECTS, RAW_STREAMS
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline_tests.helpers import land, read_all, read_day, rows, song_row, stream_csv, validate, write_songs, write_users

D1, D2 = "2024-06-01", "2024-06-02"
HEADER = "user_id,track_id,listen_time"
GOOD = stream_csv([("u1", "T1", "2024-06-01 10:00:00"), ("u2", "T2", "2024-06-01 11:00:00")])


@pytest.fixture
def base(tmp_path) -> Path:
    root = tmp_path / "lake"
    write_songs(root, [song_row("T1", "pop", 180_000), song_row("T2", "rock", 200_000), song_row("T3", "jazz", 240_000)])
    write_users(root, ["u1", "u2", "u3"])
    return root


def bronze(root: Path, *columns: str) -> list[tuple]:
    return rows(read_all(root, registry.RAW_STREAMS.prefix), *columns)


def rejects(root: Path, *columns: str) -> list[tuple]:
    lake = Lake(str(root))
    keys = [f.key for f in lake.list(registry.INGEST_REJECTS.prefix)]
    return rows(lake.read_parquet(keys, schema=INGEST_REJECTS.contract), *(columns or ("source_file", "source_line", "reason")))


# ------------------------------------------------------------------------------------------ unreadable files
UNREADABLE = {
    "raw/streams/truncated.csv.gz": gzip.compress(GOOD.encode() * 200)[:-40],
    "raw/streams/plain_text.csv.gz": GOOD.encode(),
    "raw/streams/junk.csv": bytes(range(256)) * 40,
    "raw/streams/utf16.csv": GOOD.encode("utf-16"),
    "raw/streams/junk.json.gz": b"\x1f\x8b\x08\x00garbage",
}


@pytest.mark.parametrize("key", sorted(UNREADABLE))
def test_an_unreadable_file_is_failed_with_its_reason_and_the_others_go_on(base, key):
    land(base, key, UNREADABLE[key])
    land(base, "raw/streams/z_good.csv", GOOD)
    lake = Lake(str(base))
    report = sync_landed_streams(lake)  # must not raise
    assert [m.key for m in report.failed] == [key]
    manifest = read_manifest(lake, key)
    assert manifest.status == "failed" and manifest.error.startswith(f"{key}: ") and len(manifest.error) > len(key) + 5
    assert report.count("ingested") == 1
    # nothing of the failed file was published, not even the batches read before the error
    assert {r[0] for r in bronze(base, "source_file")} == {"raw/streams/z_good.csv"}
    assert not any(file_id(key) in f.key for f in lake.list("bronze/streams") + lake.list(registry.INGEST_REJECTS.prefix))
    validate(base, [D1])
    assert rows(read_day(base, registry.VALIDATED_STREAMS.prefix, D1), "source_file", "source_line") == [
        ("raw/streams/z_good.csv", 2),
        ("raw/streams/z_good.csv", 3),
    ]


def test_a_failed_delivery_keeps_the_keys_last_readable_content(base):
    key = "raw/streams/day.csv.gz"
    land(base, key, gzip.compress(GOOD.encode()))
    lake = Lake(str(base))
    assert sync_landed_streams(lake).count("ingested") == 1
    land(base, key, gzip.compress(GOOD.encode())[:-10])  # a broken re-delivery under the same key
    report = sync_landed_streams(lake)
    assert report.count("failed") == 1
    manifest = read_manifest(lake, key)
    assert manifest.status == "failed" and "gz" in manifest.error.lower() or "compress" in manifest.error.lower()
    assert manifest.rows_by_day == {D1: 2} and manifest.held_content_hash is not None
    assert len(bronze(base, "source_line")) == 2  # conservation: the manifest describes what bronze holds
    land(base, key, gzip.compress(stream_csv([("u3", "T3", "2024-06-02 09:00:00")]).encode()))
    assert sync_landed_streams(lake).count("replaced") == 1
    assert bronze(base, "date", "user_id") == [(dt.date(2024, 6, 2), "u3")]


def test_cr_only_line_endings_read_like_lf(base):
    land(base, "raw/streams/cr.csv", GOOD.replace("\n", "\r").encode() + b"u3,T3,2024-06-01 12:00:00")
    land(base, "raw/streams/crlf.csv", GOOD.replace("\n", "\r\n").replace("u1", "u3"))
    report = sync_landed_streams(Lake(str(base)))
    assert report.count("ingested") == 2 and not report.failed
    assert bronze(base, "source_file", "source_line", "user_id") == [
        ("raw/streams/cr.csv", 2, "u1"),
        ("raw/streams/cr.csv", 3, "u2"),
        ("raw/streams/cr.csv", 4, "u3"),
        ("raw/streams/crlf.csv", 2, "u3"),
        ("raw/streams/crlf.csv", 3, "u2"),
    ]


def test_a_run_for_another_day_succeeds_next_to_an_unreadable_file(base, mocked_aws):
    from music_pipeline_tests.helpers import materialize_days

    land(base, "raw/streams/broken.csv.gz", b"not gzip at all\n")
    land(base, "raw/streams/good.csv", GOOD)
    result = materialize_days(base, D1, selection=["raw_streams"])
    assert result.success
    meta = {
        m.materialization.asset_key.to_user_string(): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }["raw_streams"]
    assert meta["files_failed"].value == 1 and "raw/streams/broken.csv.gz" in meta["failed_files"].value
    assert meta["dagster/row_count"].value == 2


# ------------------------------------------------------------------------------------------ numbers
def test_huge_or_non_finite_durations_are_rejected_not_a_crash(base):
    key = "raw/streams/d.csv"
    values = ["1e20", "1e400", "inf", "nan", "-1", "86400.0005", "1_0", "0x10", "86400", "0", "  12.5 ", ""]
    land(
        base,
        key,
        "user_id,track_id,listen_time,duration\n"
        + "".join(f"u1,T1,2024-06-01 10:{i:02d}:00,{v}\n" for i, v in enumerate(values)),
    )
    sync_landed_streams(Lake(str(base)))
    assert [r[1] for r in rejects(base)] == list(range(2, 10))
    assert {r[2] for r in rejects(base)} == {"invalid_duration"}
    assert bronze(base, "source_line", "listen_duration_ms") == [(10, 86_400_000), (11, 0), (12, 12_500), (13, None)]
    ms, invalid = parse_duration_ms(pa.array(["1e308", "1e309", "-0", ".5", "5."]))
    assert ms.to_pylist() == [None, None, 0, 500, 5000] and invalid.tolist() == [True, True, False, False, False]


# ------------------------------------------------------------------------------------------ timestamps
IMPOSSIBLE = [
    "2024-09-31 10:00:00",
    "2024-09-30 23:59:61",
    "2024-09-30 23:59:60",
    "2024-02-30 00:00:00",
    "2023-02-29 12:00:00",
    "2024-06-01 24:00:00",
    "2024-06-01 10:60:00",
    "2024-13-01 00:00:00",
    "2024-00-10 00:00:00",
    "2024-06-00 00:00:00",
    "0000-01-01 00:00:00",
    "2024-06-01T10:00:00+24:00",
    "2024-06-01T10:00:00+02:60",
    "2024-06-01",
    "2024-06-01 10:00",
    "2024-06-01 10:00:00.",
    "2024-06-01 10:00:00.1234567890",
    "2024-06-01T10:00:00 Z",
    "2024-06-01T10:00:00+2",
    "2024-6-01 10:00:00",
    "٢٠٢٤-06-01 10:00:00",
    "not-a-time",
    "",
]


@pytest.mark.parametrize("spelling", ["{}", "{}Z", "{}+00:00", "{}.000000"])
def test_impossible_calendar_dates_and_times_are_unparseable_in_every_spelling(spelling):
    texts = [spelling.format(t) if t and t[0].isdigit() and len(t) == 19 else t for t in IMPOSSIBLE]
    for variant in (texts, [t.replace(" ", "T", 1) for t in texts]):
        assert parse_listen_time(pa.array(variant)).to_pylist() == [None] * len(variant), variant


def test_one_instant_in_every_accepted_spelling_is_one_value():
    spellings = [
        "2024-02-29 23:30:00",
        "2024-02-29T23:30:00",
        "2024-02-29T23:30:00Z",
        "2024-02-29 23:30:00+00:00",
        "2024-03-01T01:30:00+02:00",
        "2024-03-01T0130:00+0200".replace("0130:00", "01:30:00"),
        "2024-02-29T18:00:00-05:30",
        "2024-02-29T23:30:00.000",
        "  2024-02-29T23:30:00.000000000Z ",
        "2024-02-29 23:30:00.0000004",
    ]
    values = parse_listen_time(pa.array(spellings)).to_pylist()
    assert values == [dt.datetime(2024, 2, 29, 23, 30)] * len(spellings)
    fractions = parse_listen_time(
        pa.array(
            [
                "2024-06-01 10:00:00.5",
                "2024-06-01T10:00:00.123456789+01:00",
                "1999-12-31T23:59:59.999999Z",
                "0001-01-01T00:00:00Z",
            ]
        )
    ).to_pylist()
    assert fractions == [
        dt.datetime(2024, 6, 1, 10, 0, 0, 500_000),
        dt.datetime(2024, 6, 1, 9, 0, 0, 123_456),
        dt.datetime(1999, 12, 31, 23, 59, 59, 999_999),
        dt.datetime(1, 1, 1),
    ]


def test_impossible_dates_are_not_moved_to_another_day(base):
    key = "raw/streams/calendar.csv"
    land(
        base,
        key,
        stream_csv(
            [
                ("u1", "T1", "2024-09-31 10:00:00"),
                ("u1", "T2", "2024-09-30 23:59:61"),
                ("u2", "T1", "2024-02-30 08:00:00"),
                ("u2", "T2", "2024-09-30T23:59:59Z"),
                ("u3", "T3", "2024-10-01T00:00:00.5+00:00"),
            ]
        ),
    )
    sync_landed_streams(Lake(str(base)), start_date=dt.date(2024, 1, 1))
    assert rejects(base) == [
        (key, 2, "unparseable_listen_time"),
        (key, 3, "unparseable_listen_time"),
        (key, 4, "unparseable_listen_time"),
    ]
    assert bronze(base, "source_line", "date", "listen_time") == [
        (5, dt.date(2024, 9, 30), dt.datetime(2024, 9, 30, 23, 59, 59)),
        (6, dt.date(2024, 10, 1), dt.datetime(2024, 10, 1, 0, 0, 0, 500_000)),
    ]


# ------------------------------------------------------------------------------------------ JSON shapes
SEED = [
    {
        "stream_id": "s1",
        "user_id": "u1",
        "song_id": "T1",
        "timestamp": "2024-06-01T10:00:00Z",
        "duration": 187,
        "completed": True,
        "device_type": "Mobile ",
    },
    {
        "stream_id": "s2",
        "user_id": "u2",
        "song_id": "T2",
        "timestamp": "2024-06-01T11:00:00Z",
        "duration": 61.5,
        "completed": "no",
        "device_type": "",
    },
    {
        "stream_id": "",
        "user_id": "u3",
        "song_id": "T3",
        "timestamp": "2024-06-01T12:00:00Z",
        "duration": None,
        "completed": None,
        "device_type": "SMART_SPEAKER",
    },
]
SEED_ROWS = [
    ("s1", "u1", "T1", 187_000, True, "mobile"),
    ("s2", "u2", "T2", 61_500, False, "unknown"),
    (None, "u3", "T3", None, None, "smart_speaker"),
]


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("gz", [False, True])
def test_a_json_array_in_the_seed_shape_is_read_whole(base, indent, gz):
    key = "raw/streams/seed/streams.json" + (".gz" if gz else "")
    data = json.dumps(SEED, indent=indent).encode()
    land(base, key, gzip.compress(data) if gz else data)
    report = sync_landed_streams(Lake(str(base)))
    assert report.count("ingested") == 1
    assert bronze(base, "stream_id", "user_id", "track_id", "listen_duration_ms", "completed", "device_type") == SEED_ROWS
    lines = [r[0] for r in bronze(base, "source_line")]
    assert lines == [1, 2, 3]  # each element's position in the array, however the array is laid out
    assert read_all(base, registry.RAW_STREAMS.prefix).schema.names == RAW_STREAMS.contract.names
    assert read_manifest(Lake(str(base)), key).rows_read == 3 and rejects(base) == []


def test_bad_elements_of_a_json_array_are_each_one_reject(base):
    key = "raw/streams/array.json"
    land(
        base,
        key,
        b"\xef\xbb\xbf[\n"
        b'{"user_id": "u1", "track_id": "T1", "listen_time": "2024-06-01 10:00:00"},\n'  # 2 good
        b'{"user_id": "u2", "track_id": , "listen_time": "2024-06-01 11:00:00"},\n'  # 3 malformed
        b'["u2", "T1"],\n'  # 4 not an object
        b'{"user_id": "u\xff3", "track_id": "T1", "listen_time": "2024-06-01 12:00:00"},\n'  # 5 encoding
        b'{"user_id": "u3", "track_id": "T3", "listen_time": "2024-06-01 13:00:00",\n'  # 6 good, 2 lines
        b'  "completed": "maybe"},\n'  # (invalid_completed)
        b'{"user_id": "u3", "track_id": "T2", "listen_time": "2024-06-01 14:00:00"}\n'  # 8 good
        b"]\n",
    )
    sync_landed_streams(Lake(str(base)))
    assert rejects(base, "source_line", "reason", "date") == [
        (2, "malformed_line", dt.date(2024, 6, 1)),
        (3, "malformed_line", None),
        (4, "bad_encoding", dt.date(2024, 6, 1)),
        (5, "invalid_completed", dt.date(2024, 6, 1)),
    ]
    assert bronze(base, "source_line") == [(1,), (6,)]  # records are numbered by their position in the array
    manifest = read_manifest(Lake(str(base)), key)
    assert manifest.rows_read == 6 and manifest.rejects_by_day == {D1: 3, "unknown": 1}
    assert manifest.rejects_by_day_and_reason[D1] == {"bad_encoding": 1, "invalid_completed": 1, "malformed_line": 1}


def test_json_lines_with_a_bom(base):
    key = "raw/streams/events.jsonl"
    land(base, key, b"\xef\xbb\xbf" + b"\n".join(json.dumps(o).encode() for o in SEED) + b"\n")
    sync_landed_streams(Lake(str(base)))
    assert rejects(base) == []
    assert bronze(base, "stream_id", "user_id", "track_id", "listen_duration_ms", "completed", "device_type") == SEED_ROWS


def test_completed_spellings(base):
    key = "raw/streams/c.csv"
    values = ["true", " TRUE ", "1", "Yes", "t", "false", "0", "NO", "F", "", "  ", "maybe", "2", "y"]
    land(
        base,
        key,
        "user_id,track_id,listen_time,completed\n"
        + "".join(f"u1,T1,2024-06-01 10:{i:02d}:00,{v}\n" for i, v in enumerate(values)),
    )
    sync_landed_streams(Lake(str(base)))
    assert bronze(base, "source_line", "completed") == [(i + 2, v) for i, v in enumerate([True] * 5 + [False] * 4 + [None] * 2)]
    assert rejects(base, "source_line", "reason") == [
        (13, "invalid_completed"),
        (14, "invalid_completed"),
        (15, "invalid_completed"),
    ]


# ------------------------------------------------------------------------------------------ partial uploads
def test_names_that_are_not_finished_deliveries_are_ignored(base):
    for name in (
        "x.csv.part",
        "y.csv._COPYING_",
        "z.csv.tmp",
        "w.csv~",
        "W.CSV.PART",
        ".hidden.csv",
        "_tmp.csv",
        "_staging/a.csv",
        "spark_out.csv/_SUCCESS",
    ):
        land(base, f"raw/streams/{name}", GOOD)
    land(base, "raw/streams/y.csv", GOOD)
    lake = Lake(str(base))
    assert [f.key for f in landing.list_new(lake, layout.RAW_STREAMS)] == ["raw/streams/y.csv"]
    assert [f.key for f in landing.list_all(lake, layout.RAW_STREAMS, ignored_suffixes=(".tmp",))] == [
        "raw/streams/W.CSV.PART",
        "raw/streams/w.csv~",
        "raw/streams/x.csv.part",
        "raw/streams/y.csv",
        "raw/streams/y.csv._COPYING_",
    ]
    report = sync_landed_streams(lake)
    assert [m.key for outcome in report.outcomes.values() for m in outcome] == ["raw/streams/y.csv"]
    assert {r[0] for r in bronze(base, "source_file")} == {"raw/streams/y.csv"}
    report = sync_landed_streams(lake, keys=["raw/streams/x.csv.part", "raw/streams/y.csv"])
    assert [m.key for outcome in report.outcomes.values() for m in outcome] == ["raw/streams/y.csv"]


# ------------------------------------------------------------------------------------------ rows that vanished
def test_listens_outside_the_partitions_are_rejected_with_their_reason(base):
    key = "raw/streams/odd_years.csv"
    land(
        base,
        key,
        stream_csv(
            [
                ("u1", "T1", "2099-01-01 00:00:00"),
                ("u1", "T2", "1970-01-01 00:00:00"),
                ("u2", "T1", "2023-12-31T23:59:59Z"),
                ("u2", "T2", "2024-01-01T00:00:00Z"),
                ("u3", "T3", "2024-06-01 10:00:00"),
            ]
        ),
    )
    path = base / key
    landed_at = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC).timestamp()
    os.utime(path, (landed_at, landed_at))  # landed 2024-06-01 12:00 UTC
    land(base, "raw/streams/late.csv", stream_csv([("u1", "T3", "2024-06-02 12:00:00"), ("u2", "T3", "2024-06-02 12:00:01")]))
    os.utime(base / "raw/streams/late.csv", (landed_at, landed_at))
    lake = Lake(str(base))
    sync_landed_streams(lake, start_date=dt.date(2024, 1, 1))
    assert rejects(base, "source_file", "source_line", "reason", "date") == [
        ("raw/streams/late.csv", 3, "future_listen_time", dt.date(2024, 6, 2)),
        (key, 2, "future_listen_time", dt.date(2099, 1, 1)),
        (key, 3, "before_start_date", dt.date(1970, 1, 1)),
        (key, 4, "before_start_date", dt.date(2023, 12, 31)),
    ]
    assert bronze(base, "source_file", "source_line") == [("raw/streams/late.csv", 2), (key, 5), (key, 6)]
    manifest = read_manifest(lake, key)
    assert manifest.rows_read == 5 == sum(manifest.rows_by_day.values()) + sum(manifest.rejects_by_day.values())
    assert manifest.rejects_by_day == {"1970-01-01": 1, "2023-12-31": 1, "2099-01-01": 1}
    detail = rows(read_all(base, registry.INGEST_REJECTS.prefix), "detail")
    assert any("2024-06-01T12:00:00+00:00 + 24 h" in d[0] for d in detail)
    assert any("before the start date 2024-01-01" in d[0] for d in detail)


def test_start_date_is_a_parameter_read_at_call_time(base, monkeypatch):
    land(base, "raw/streams/a.csv", GOOD)
    monkeypatch.setenv("MUSIC_PIPELINE_START_DATE", "2024-06-02")
    sync_landed_streams(Lake(str(base)))
    assert {r[2] for r in rejects(base)} == {"before_start_date"} and len(rejects(base)) == 2


def test_an_unterminated_quote_swallows_no_more_than_its_bound(base):
    key = "raw/streams/quote.csv"
    land(
        base,
        key,
        HEADER + "\n"
        "u1,T1,2024-06-01 10:00:00\n"  # 2 good
        'u2,"T\n1",2024-06-01 10:04:00\n'  # 3-4 one record over two lines (RFC 4180)
        'u2,"T2,2024-06-01 10:01:00\n'  # 5 unterminated quote (no quote after it)
        "u3,T3,2024-06-01 10:02:00\n"  # 6 good
        "u1,T2,2024-06-01 10:03:00\n"  # 7 good
        "u3,T1,2024-06-01 10:05:00,extra\n",
    )  # 8 malformed, with a readable day
    lake = Lake(str(base))
    sync_landed_streams(lake)
    assert rejects(base, "source_line", "reason", "date") == [
        (5, "malformed_line", dt.date(2024, 6, 1)),
        (8, "malformed_line", dt.date(2024, 6, 1)),
    ]
    assert bronze(base, "source_line", "track_id") == [(2, "T1"), (3, "T\n1"), (6, "T3"), (7, "T2")]
    assert read_manifest(lake, key).rows_read == 6 and read_manifest(lake, key).rejects_by_day == {D1: 2}


def test_a_quote_open_for_more_lines_than_the_bound_rejects_one_line(base):
    key = "raw/streams/long_quote.csv"
    body = [f"u1,T1,2024-06-01 10:{i:02d}:00" for i in range(40)]
    body[5] = 'u2,"T2,2024-06-01 09:00:00'
    closing = 5 + csv_reader.MAX_RECORD_LINES + 3
    body[closing] = 'u3,T3",2024-06-01 09:30:00'  # would close it, too late; alone it is a literal quote
    land(base, key, HEADER + "\n" + "\n".join(body) + "\n")
    sync_landed_streams(Lake(str(base)))
    assert rejects(base, "source_line", "reason") == [(7, "malformed_line")]
    assert len(bronze(base, "source_line")) == 39
    assert ('T3"',) in bronze(base, "track_id")


def test_a_malformed_line_counts_in_its_days_rejected_share(base):
    key = "raw/streams/share.csv"
    land(base, key, stream_csv([("u1", "T1", "2024-06-02 10:00:00"), ("u2", "T2", "2024-06-02 10:00:00", "x")]))
    lake = validate(base, [D2])
    assert lake.exists(partition_key(registry.INGEST_REJECTS.prefix, D2, f"file={file_id(key)}.parquet"))
    assert read_manifest(lake, key).rejects_by_day == {D2: 1}


# ------------------------------------------------------------------------------------------ arrival
def test_future_only_days_do_not_pin_a_file_on_the_arrival_path():
    from music_pipeline.ingestion.arrival import _days_to_recompute
    from music_pipeline.ingestion.manifests import Manifest

    landed = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC).timestamp()
    manifest = Manifest(
        key="raw/streams/a.csv",
        content_hash="h",
        size=1,
        modified=landed,
        status="ingested",
        rows_read=4,
        rows_by_day={D1: 2},
        rejects_by_day={D2: 1, "2099-01-01": 1},
    )
    assert _days_to_recompute("ingested", manifest, None, None) == [D1, D2]


# ------------------------------------------------------------------------------------------ found beyond the list
LISTEN = b'{"user_id": "u1", "track_id": "T1", "listen_time": "2024-06-01 10:00:00"}'
ODD_FILES = {  # name: (bytes, records read, bronze rows, reasons)
    "huge_line.csv": (
        HEADER.encode() + b"\nu1,T1," + b"x" * (3 << 20) + b"\nu2,T2,2024-06-01 10:00:00\n",
        2,
        1,
        {"malformed_line": 1},
    ),
    "huge_line_no_end.csv": (HEADER.encode() + b"\nu1,T1," + b"x" * (3 << 20), 1, 0, {"malformed_line": 1}),
    "deep.json": (b"[" + b"[" * 100_000 + b"]" * 100_000 + b"," + LISTEN + b"]", 2, 1, {"malformed_line": 1}),
    "deep.jsonl": (b"[" * 100_000 + b"\n" + LISTEN + b"\n", 2, 1, {"malformed_line": 1}),
    "truncated_array.json": (b"[" + LISTEN + b',{"user_id": "u2", "tr', 2, 1, {"malformed_line": 1}),
    "after_the_array.json": (b"[" + LISTEN + b"]\n]\n" + LISTEN + b"\n", 3, 1, {"malformed_line": 2}),
    "stray_commas.json": (b"[,," + LISTEN + b",," + LISTEN + b",]", 2, 2, {}),
    "quote_at_the_end.csv": (HEADER.encode() + b'\nu1,"T1,2024-06-01 10:00:00', 1, 0, {"malformed_line": 1}),
    "lone_cr_inside.csv": (HEADER.encode() + b"\nu1,T1,2024-06-01 10:00:00\ru2,T2,2024-06-01 11:00:00\n", 2, 2, {}),
    "blank_lines.csv": (HEADER.encode() + b"\n\n   \n\t\nu1,T1,2024-06-01 10:00:00\n\n", 1, 1, {}),
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_odd_files_keep_every_record(base, name):
    data, read, good, reasons = ODD_FILES[name]
    key = f"raw/streams/{name}"
    land(base, key, data)
    sync_landed_streams(Lake(str(base)))
    manifest = read_manifest(Lake(str(base)), key)
    assert (manifest.status, manifest.rows_read, sum(manifest.rows_by_day.values()), manifest.rejects_by_reason) == (
        "ingested",
        read,
        good,
        reasons,
    )
