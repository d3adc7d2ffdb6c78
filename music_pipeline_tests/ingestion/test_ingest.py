"""Ingestion of landed files (ingest.py, csv_reader.py) and the row rules of validate_streams.sql:
every bad row lands in bad-records with its reason, file and line; identity and conservation."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pyarrow.compute as pc
import pytest

from music_pipeline.core import layout, registry
from music_pipeline.engines import duckdb as duckdb_engine
from music_pipeline.ingestion.bronze import sync_landed_streams
from music_pipeline.ingestion.manifests import all_manifests, file_id, read_manifest
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline_tests.helpers import (
    lake_digest,
    land,
    read_all,
    read_day,
    rows,
    song_row,
    stream_csv,
    validate,
    write_songs,
    write_users,
)

D1, D2 = "2024-06-01", "2024-06-02"
SONGS = [
    song_row("T1", "pop", 180_000),
    song_row("T2", "pop", 200_000),
    song_row("T3", "rock", 240_000),
    song_row("T4", "jazz", 300_000),
    song_row("T5", "", 100_000),
]  # T5: no genre -> rejected song


@pytest.fixture
def base(tmp_path) -> Path:
    root = tmp_path / "lake"
    write_songs(root, SONGS)
    write_users(root, ["u1", "u2", "u3"])
    return root


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def bronze_rows(root: Path, day: str) -> list[tuple]:
    table = read_all(root, f"{registry.RAW_STREAMS.prefix}/date={day}")
    return rows(table, "source_file", "source_line", "user_id", "track_id", "listen_time", "listen_duration_ms")


# ------------------------------------------------------------------------------------------ row rules
def test_ingestion_rejects_each_kind_with_file_line_and_reason(base):
    a = "raw/streams/a.csv"
    land(
        base,
        a,
        b"user_id,track_id,listen_time\n"
        b"u1,T1,2024-06-01 10:00:00\n"  # 2 good
        b"u1,T2,2024-06-01 10:05:00,extra\n"  # 3 malformed (4 fields)
        b"u2,T1\n"  # 4 malformed (2 fields)
        b"u\xff2,T1,2024-06-01 11:00:00\n"  # 5 bad encoding
        b"u2,T3,not-a-time\n"  # 6 unparseable
        b"u3,T3,2024-13-45 99:00:00\n"  # 7 unparseable
        b"u3,T4,2024-06-01 12:00:00\n",
    )  # 8 good
    b = "raw/streams/mobile/b.csv"
    land(
        base,
        b,
        "user_id,song_id,timestamp,duration\n"
        "u1,T1,2024-06-01T13:00:00Z,abc\n"  # 2 invalid duration
        "u2,T2,2024-06-01T14:00:00Z,-5\n"  # 3 invalid duration (negative)
        "u3,T3,2024-06-01T15:00:00Z,187.5\n",
    )  # 4 good
    lake = validate(base, [D1])

    rejects = read_all(base, registry.INGEST_REJECTS.prefix)
    # a malformed line whose listen_time is readable counts in its day (issue 16), the others in `unknown`
    assert rows(rejects, "source_file", "source_line", "reason", "date") == [
        (a, 3, "malformed_line", dt.date(2024, 6, 1)),
        (a, 4, "malformed_line", None),
        (a, 5, "bad_encoding", dt.date(2024, 6, 1)),
        (a, 6, "unparseable_listen_time", None),
        (a, 7, "unparseable_listen_time", None),
        (b, 2, "invalid_duration", dt.date(2024, 6, 1)),
        (b, 3, "invalid_duration", dt.date(2024, 6, 1)),
    ]
    by_line = {(r["source_file"], r["source_line"]): r for r in rejects.to_pylist()}
    assert by_line[(a, 3)]["record"] == "u1,T2,2024-06-01 10:05:00,extra"
    assert by_line[(a, 4)]["record"] == "u2,T1"
    assert "\ufffd" in by_line[(a, 5)]["record"] and by_line[(a, 5)]["record"].endswith(",T1,2024-06-01 11:00:00")
    assert "not-a-time" in by_line[(a, 6)]["detail"]
    assert "abc" in by_line[(b, 2)]["detail"]
    # rows without a readable day are in the `unknown` partition, the others in their day
    assert lake.exists(partition_key(registry.INGEST_REJECTS.prefix, layout.UNKNOWN_DAY, f"file={file_id(a)}.parquet"))
    assert lake.exists(partition_key(registry.INGEST_REJECTS.prefix, D1, f"file={file_id(b)}.parquet"))

    assert bronze_rows(base, D1) == [
        (a, 2, "u1", "T1", ts("2024-06-01 10:00:00"), None),
        (a, 8, "u3", "T4", ts("2024-06-01 12:00:00"), None),
        (b, 4, "u3", "T3", ts("2024-06-01 15:00:00"), 187_500),
    ]
    manifest = read_manifest(lake, a)
    assert manifest.rows_read == 7 and manifest.rows_by_day == {D1: 2}
    assert manifest.rejects_by_reason == {"bad_encoding": 1, "malformed_line": 2, "unparseable_listen_time": 2}
    assert rows(read_day(base, registry.VALIDATED_STREAMS.prefix, D1), "source_file", "source_line") == [(a, 2), (a, 8), (b, 4)]


@pytest.mark.parametrize("repeats_found_by", ["a numpy sort", "the GROUP BY"])
def test_sql_rejects_each_kind_with_file_line_and_reason(base, repeats_found_by, monkeypatch):
    """Either way the DuckDB engine finds the repeated key hashes (`engines/duckdb.py`), the same rejects."""
    if repeats_found_by == "the GROUP BY":
        monkeypatch.setattr(duckdb_engine, "SORTED_VALUES_MAX_ROWS", 0)
    p1, p2 = "raw/streams/day/part1.csv", "raw/streams/day/part2.csv"
    land(
        base,
        p1,
        "user_id,track_id,listen_time\n"
        "u1,T1,2024-06-01 10:00:00\n"  # 2 valid
        ",T1,2024-06-01 10:01:00\n"  # 3 missing user
        "   ,T2,2024-06-01 10:02:00\n"  # 4 blank user
        "u2,,2024-06-01 10:03:00\n"  # 5 missing track
        "u2,  ,2024-06-01 10:03:30\n"  # 6 blank track
        "u2,NOPE,2024-06-01 10:04:00\n"  # 7 unknown track
        "u3,T5,2024-06-01 10:04:30\n"  # 8 track of the rejected no-genre song
        "u9,T2,2024-06-01 10:05:00\n"  # 9 unknown user
        "u1,T1,2024-06-01 10:00:00\n",
    )  # 10 duplicate of line 2
    land(
        base,
        p2,
        "user_id,track_id,listen_time\n"
        "u1,T1,2024-06-01 10:00:00\n"  # 2 duplicate of part1 line 2
        "u2,T3,2024-06-01 11:00:00\n"  # 3 valid
        "u2, T3 ,2024-06-01 12:00:00\n",
    )  # 4 valid once trimmed
    validate(base, [D1])
    rejected = read_day(base, registry.STREAM_REJECTS.prefix, D1)
    assert rows(rejected, "source_file", "source_line", "reason") == [
        (p1, 3, "missing_user_id"),
        (p1, 4, "missing_user_id"),
        (p1, 5, "missing_track_id"),
        (p1, 6, "missing_track_id"),
        (p1, 7, "unknown_track_id"),
        (p1, 8, "unknown_track_id"),
        (p1, 9, "unknown_user_id"),
        (p1, 10, "duplicate_listen"),
        (p2, 2, "duplicate_listen"),
    ]
    assert set(rejected.column("date").to_pylist()) == {dt.date(2024, 6, 1)}
    valid = read_day(base, registry.VALIDATED_STREAMS.prefix, D1)
    assert rows(valid, "source_file", "source_line", "user_id", "track_id", "genre", "listening_time_ms") == [
        (p1, 2, "u1", "T1", "pop", 180_000),
        (p2, 3, "u2", "T3", "rock", 240_000),
        (p2, 4, "u2", "T3", "rock", 240_000),
    ]


def test_every_injected_bad_row_of_the_sample_is_in_bad_records(small_sample, copy_lake):
    src, summary = small_sample
    root = copy_lake(src)
    validate(root, summary.days)
    ingest_rejects = read_all(root, registry.INGEST_REJECTS.prefix)
    sql_rejects = read_all(root, registry.STREAM_REJECTS.prefix)
    counts = collections.Counter(ingest_rejects.column("reason").to_pylist() + sql_rejects.column("reason").to_pylist())
    assert dict(counts) == summary.injected_bad_rows
    # each reject points at its raw line: ingestion keeps the text, SQL rejects keep the ids
    for table, check in ((ingest_rejects, "record"), (sql_rejects, "ids")):
        for r in table.to_pylist():
            line = _raw_line(root, r["source_file"], r["source_line"])
            if check == "record":
                assert line.decode("utf-8", "replace") == r["record"], r
            else:
                fields = line.decode().split(",")
                assert [f.strip() for f in fields[:2]] == [r["user_id"] or "", r["track_id"] or ""], r


def _raw_line(root: Path, key: str, number: int) -> bytes:
    data = (root / key).read_bytes()
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    if key.endswith(".json"):  # the sample's arrays: `[` on line 1, then element N (source_line N) on line N + 1
        return data.split(b"\n")[number].rstrip(b"\r").removesuffix(b",")
    return data.split(b"\n")[number - 1].rstrip(b"\r")


# ------------------------------------------------------------------------------------------ formats
def test_rfc4180_doubled_quotes_and_quoted_commas(base):
    write_songs(base, SONGS + [song_row("T,9", "pop", 150_000, name='Don\'t Stop "Believin", Live', artists="Ann, Bob;Cy")])
    raw = (base / layout.RAW_SONGS).read_text()
    assert '"Don\'t Stop ""Believin"", Live"' in raw and '"T,9"' in raw
    key = "raw/streams/quoted.csv"
    land(
        base,
        key,
        "user_id,track_id,listen_time\n"
        '"u1","T,9","2024-06-01 10:00:00"\n'
        'u2,"T,9",2024-06-01 11:00:00\n'
        '"u3","T""1",2024-06-01 12:00:00\n',
    )
    validate(base, [D1])
    songs = read_all(base, registry.SONGS.prefix)
    song = next(r for r in songs.to_pylist() if r["track_id"] == "T,9")
    assert song["track_name"] == 'Don\'t Stop "Believin", Live' and song["artists"] == "Ann, Bob;Cy"
    valid = read_day(base, registry.VALIDATED_STREAMS.prefix, D1)
    assert rows(valid, "source_line", "user_id", "track_id", "genre") == [(2, "u1", "T,9", "pop"), (3, "u2", "T,9", "pop")]
    rejected = read_day(base, registry.STREAM_REJECTS.prefix, D1)
    assert rows(rejected, "source_line", "track_id", "reason") == [(4, 'T"1', "unknown_track_id")]


def test_csv_gz_and_json_lines_are_ingested(base):
    gz = "raw/streams/2024/06/01/streams.csv.gz"
    land(
        base,
        gz,
        gzip.compress(
            stream_csv(
                [("u1", "T1", "2024-06-01 08:00:00"), ("u2", "T2", "2024-06-01 09:00:00"), ("u3", "T3", "not a time")]
            ).encode()
        ),
    )
    jl = "raw/streams/events/2024-06-01.jsonl"
    land(
        base,
        jl,
        "\n".join(
            [
                json.dumps({"user_id": "u1", "track_id": "T3", "listen_time": "2024-06-01T10:00:00Z"}),  # 1
                "",  # 2 blank
                "{not json",  # 3 malformed
                json.dumps(["u2", "T1"]),  # 4 not an object
                json.dumps({"user_id": "u2", "song_id": "T4", "timestamp": "2024-06-01 11:00:00", "duration": 61}),  # 5
                json.dumps({"user_id": "u3", "track_id": "T1", "listen_time": None}),  # 6 no time
            ]
        )
        + "\n",
    )
    validate(base, [D1])
    assert bronze_rows(base, D1) == [
        (gz, 2, "u1", "T1", ts("2024-06-01 08:00:00"), None),
        (gz, 3, "u2", "T2", ts("2024-06-01 09:00:00"), None),
        (jl, 1, "u1", "T3", ts("2024-06-01 10:00:00"), None),
        (jl, 5, "u2", "T4", ts("2024-06-01 11:00:00"), 61_000),
    ]
    assert rows(read_all(base, registry.INGEST_REJECTS.prefix), "source_file", "source_line", "reason") == [
        (gz, 4, "unparseable_listen_time"),
        (jl, 3, "malformed_line"),
        (jl, 4, "malformed_line"),
        (jl, 6, "unparseable_listen_time"),
    ]
    valid = read_day(base, registry.VALIDATED_STREAMS.prefix, D1)
    assert rows(valid, "user_id", "track_id", "listening_time_ms") == [
        ("u1", "T1", 180_000),
        ("u1", "T3", 240_000),
        ("u2", "T2", 200_000),
        ("u2", "T4", 61_000),
    ]


def test_aliases_and_duration_seconds_become_listening_time_ms(base):
    key = "raw/streams/mobile_export/listens.csv"
    land(
        base,
        key,
        " User_ID ,Song_ID,TIMESTAMP,duration\n"
        "u1,T1,2024-06-01 10:00:00,187\n"
        "u2,T1,2024-06-01 10:00:00,187.5\n"
        "u3,T3,2024-06-01 10:00:00,\n"  # blank: the track's duration_ms
        "u3,T4,2024-06-01 11:00:00,0.0004\n",
    )
    validate(base, [D1])
    valid = read_day(base, registry.VALIDATED_STREAMS.prefix, D1)
    assert rows(valid, "source_line", "user_id", "track_id", "listen_time", "listening_time_ms") == [
        (2, "u1", "T1", ts("2024-06-01 10:00:00"), 187_000),
        (3, "u2", "T1", ts("2024-06-01 10:00:00"), 187_500),
        (4, "u3", "T3", ts("2024-06-01 10:00:00"), 240_000),
        (5, "u3", "T4", ts("2024-06-01 11:00:00"), 0),
    ]


def test_offsets_move_a_listen_to_its_utc_day(base):
    key = "raw/streams/tz.csv"
    land(
        base,
        key,
        stream_csv(
            [
                ("u1", "T1", "2024-06-02T01:30:00+02:00"),  # 2024-06-01 23:30 UTC
                ("u1", "T2", "2024-06-01T22:00:00-05:00"),  # 2024-06-02 03:00 UTC
                ("u2", "T1", "2024-06-01T10:00:00Z"),
                ("u2", "T2", "2024-06-01 23:59:59"),  # no offset: UTC
                ("u3", "T3", "2024-06-02T05:29:59+05:30"),  # 2024-06-01 23:59:59 UTC
            ]
        ),
    )
    validate(base, [D1, D2])
    day1 = read_day(base, registry.VALIDATED_STREAMS.prefix, D1)
    day2 = read_day(base, registry.VALIDATED_STREAMS.prefix, D2)
    assert rows(day1, "source_line", "listen_time") == [
        (2, ts("2024-06-01 23:30:00")),
        (4, ts("2024-06-01 10:00:00")),
        (5, ts("2024-06-01 23:59:59")),
        (6, ts("2024-06-01 23:59:59")),
    ]
    assert rows(day2, "source_line", "listen_time", "date") == [(3, ts("2024-06-02 03:00:00"), dt.date(2024, 6, 2))]
    assert set(day1.column("date").to_pylist()) == {dt.date(2024, 6, 1)}


def test_a_file_spanning_two_days_lands_in_both(base):
    key = "raw/streams/sessions/night.csv"
    land(
        base,
        key,
        stream_csv(
            [
                ("u1", "T1", "2024-06-01 22:00:00"),
                ("u2", "T2", "2024-06-01 23:59:59"),
                ("u1", "T3", "2024-06-02 00:00:00"),
                ("u3", "T4", "2024-06-02 03:00:00"),
                ("u3", "T1", "2024-06-02 03:30:00"),
            ]
        ),
    )
    lake = validate(base, [D1, D2])
    name = f"file={file_id(key)}.parquet"
    assert lake.parquet_rows(partition_key(registry.RAW_STREAMS.prefix, D1, name)) == 2
    assert lake.parquet_rows(partition_key(registry.RAW_STREAMS.prefix, D2, name)) == 3
    assert read_manifest(lake, key).rows_by_day == {D1: 2, D2: 3}
    assert rows(read_day(base, registry.VALIDATED_STREAMS.prefix, D1), "source_line") == [(2,), (3,)]
    assert rows(read_day(base, registry.VALIDATED_STREAMS.prefix, D2), "source_line") == [(4,), (5,), (6,)]


# ------------------------------------------------------------------------------------------ conservation
def test_conservation_per_file_and_per_day(small_sample, copy_lake):
    src, summary = small_sample
    root = copy_lake(src)
    lake = validate(root, summary.days)
    bronze = read_all(root, registry.RAW_STREAMS.prefix)
    ingest_rejects = read_all(root, registry.INGEST_REJECTS.prefix)
    manifests = all_manifests(lake)
    stream_files = [f for f in summary.files if f.startswith("raw/streams/")]
    assert sorted(m.key for m in manifests) == sorted(stream_files)
    for m in manifests:
        in_bronze = pc.sum(pc.equal(bronze["source_file"], m.key)).as_py() or 0
        rejected = pc.sum(pc.equal(ingest_rejects["source_file"], m.key)).as_py() or 0
        assert m.status == "ingested"
        assert m.rows_read == in_bronze + rejected == _data_lines(root, m.key), m.key
        assert sum(m.rows_by_day.values()) == in_bronze and sum(m.rejects_by_reason.values()) == rejected
    assert sum(m.rows_read for m in manifests) == summary.stream_rows
    for day in summary.days:
        in_bronze = pc.sum(pc.equal(bronze["date"], dt.date.fromisoformat(day))).as_py()
        valid = read_day(root, registry.VALIDATED_STREAMS.prefix, day).num_rows
        rejected = read_day(root, registry.STREAM_REJECTS.prefix, day).num_rows
        assert in_bronze == valid + rejected > 0, day


def _data_lines(root: Path, key: str) -> int:
    data = (root / key).read_bytes()
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    if key.endswith(".json"):  # a JSON array: its elements are the records
        return len(json.loads(data))
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    return len(lines) - (0 if key.endswith(".jsonl") else 1)


# ------------------------------------------------------------------------------------------ identity
def test_redelivering_identical_content_changes_nothing(base):
    key = "raw/streams/2024/06/01/a.csv"
    content = stream_csv([("u1", "T1", "2024-06-01 10:00:00"), ("u2", "T3", "2024-06-02 10:00:00"), ("u3", "T2", "garbage")])
    land(base, key, content)
    validate(base, [D1, D2])
    before = lake_digest(base)
    valid_before = {d: rows(read_day(base, registry.VALIDATED_STREAMS.prefix, d)) for d in (D1, D2)}

    land(base, key, content)  # same key, same bytes, new modification time
    path = base / key
    os.utime(path, (path.stat().st_atime + 10, path.stat().st_mtime + 10))
    land(base, "raw/streams/resent/a-copy.csv", content)  # same content under another key
    lake = Lake(str(base))
    report = sync_landed_streams(lake)
    assert report.count("unchanged") == 1 and report.count("duplicate") == 1 and report.count("ingested") == 0
    assert read_manifest(lake, "raw/streams/resent/a-copy.csv").duplicate_of == key
    validate(base, [D1, D2])
    after = lake_digest(base)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # only the manifests (new mtime / the duplicate's record) and the re-published validated files are new
    assert all(k.startswith(("bronze/_files/", "validated/", "bad-records/validated_streams/")) for k in changed), changed
    assert {k for k in after if k.startswith(("bronze/streams", "bad-records/raw_streams"))} == {
        k for k in before if k.startswith(("bronze/streams", "bad-records/raw_streams"))
    }
    assert {d: rows(read_day(base, registry.VALIDATED_STREAMS.prefix, d)) for d in (D1, D2)} == valid_before


def test_changed_content_under_the_same_key_replaces_it(base):
    key = "raw/streams/late.csv"
    land(
        base,
        key,
        stream_csv(
            [
                ("u1", "T1", "2024-06-01 10:00:00"),
                ("u2", "T2", "2024-06-01 11:00:00"),
                ("u3", "T3", "2024-06-02 10:00:00"),
                ("u3", "T3", "bad time"),
            ]
        ),
    )
    lake = validate(base, [D1, D2])
    name = f"file={file_id(key)}.parquet"
    assert lake.exists(partition_key(registry.RAW_STREAMS.prefix, D2, name))
    assert lake.exists(partition_key(registry.INGEST_REJECTS.prefix, layout.UNKNOWN_DAY, name))
    assert read_day(base, registry.VALIDATED_STREAMS.prefix, D2).num_rows == 1

    land(base, key, stream_csv([("u1", "T4", "2024-06-01 12:00:00")]))  # new content: one day, no bad row
    report = sync_landed_streams(lake)
    assert report.count("replaced") == 1
    assert not lake.exists(partition_key(registry.RAW_STREAMS.prefix, D2, name))
    assert not lake.exists(partition_key(registry.INGEST_REJECTS.prefix, layout.UNKNOWN_DAY, name))
    assert bronze_rows(base, D1) == [(key, 2, "u1", "T4", ts("2024-06-01 12:00:00"), None)]
    manifest = read_manifest(lake, key)
    assert manifest.rows_read == 1 and manifest.rows_by_day == {D1: 1} and manifest.rejects_by_reason == {}
    validate(base, [D1, D2])
    assert rows(read_day(base, registry.VALIDATED_STREAMS.prefix, D1), "track_id") == [("T4",)]
    assert read_day(base, registry.VALIDATED_STREAMS.prefix, D2).num_rows == 0


def test_a_file_missing_a_required_column_fails_alone(base):
    bad, good = "raw/streams/a_bad.csv", "raw/streams/b_good.csv"
    land(base, bad, "user_id,song\nu1,T1\n")
    land(base, good, stream_csv([("u1", "T1", "2024-06-01 10:00:00")]))
    lake = Lake(str(base))
    report = sync_landed_streams(lake)
    assert [m.key for m in report.failed] == [bad]
    assert report.count("ingested") == 1
    error = read_manifest(lake, bad).error
    assert read_manifest(lake, bad).status == "failed"
    assert bad in error and "missing required column(s) track_id, listen_time" in error
    validate(base, [D1])
    assert rows(read_day(base, registry.VALIDATED_STREAMS.prefix, D1), "source_file") == [(good,)]
    # the failed file is not retried while unchanged, and is ingested once fixed
    assert sync_landed_streams(lake).count("failed") == 0
    land(base, bad, stream_csv([("u2", "T2", "2024-06-01 11:00:00")]))
    assert sync_landed_streams(lake).count("ingested") == 1
    assert read_manifest(lake, bad).status == "ingested"
