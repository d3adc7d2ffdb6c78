"""Acceptance: files arriving drive the platform end to end, with DynamoDB over a moto SERVER.

Three files for one day landing at different times, a late file for an earlier day, the same
content re-delivered (under its own key and under another key), changed content under a known
key, and an unreadable file. After each step the sensor is ticked (build_sensor_context on a
real instance), the automation conditions are evaluated, and every requested run is executed
in-process; the DynamoDB items must equal an independent computation of the KPIs from the
hand-made listens, and the ledger and archive must say what happened to each file.

It runs twice: on a folder lake, and on an S3 lake served by the same moto server (S3 and
DynamoDB over HTTP), where the duckdb engine reads through pyarrow's S3 filesystem.
"""

from __future__ import annotations

import gzip
import time
from collections import defaultdict

import boto3
import pytest
from dagster import DagsterInstance

from music_pipeline.core import layout
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import Harness, build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users

SONGS = {"s1": ("pop", 200_000), "s2": ("pop", 180_000), "s3": ("rock", 240_000), "s4": ("jazz", 300_000)}
USERS = ["u1", "u2", "u3", "u4"]
D1, D2 = "2024-06-01", "2024-06-02"

A = [("u1", "s1", f"{D2} 08:00:00"), ("u2", "s1", f"{D2} 09:00:00"), ("u1", "s3", f"{D2} 10:00:00")]
B = [("u3", "s2", f"{D2} 11:00:00"), ("u1", "s1", f"{D2} 12:00:00")]
C = [("u4", "s4", f"{D2} 13:00:00"), ("u2", "s3", f"{D2} 14:00:00"), ("u2", "s3", f"{D2} 15:00:00")]
LATE = [("u1", "s3", f"{D1} 10:00:00"), ("u2", "s4", f"{D1} 11:00:00"), ("u3", "s4", f"{D1} 23:59:59")]
A_CHANGED = [("u1", "s1", f"{D2} 08:00:00"), ("u3", "s4", f"{D2} 09:30:00")]

KEY_A, KEY_B, KEY_C = (f"{layout.RAW_STREAMS}/2024/06/02/{n}.csv" for n in ("a", "b", "c"))
KEY_LATE = f"{layout.RAW_STREAMS}/2024/06/03/late_listens_2024-06-01.csv"
KEY_B_AGAIN = f"{layout.RAW_STREAMS}/2024/06/03/resent_b.csv"
KEY_BAD = f"{layout.RAW_STREAMS}/2024/06/03/broken.csv"


def expected_kpis(files: list[list[tuple]]) -> dict[str, dict[str, dict]]:
    """{day: {genre: kpis}} computed by hand from the listens of the files in effect."""
    listens = defaultdict(list)
    for rows in files:
        for user, track, time_ in rows:
            genre, duration_ms = SONGS[track]
            listens[(time_[:10], genre)].append((user, duration_ms))
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for (day, genre), values in listens.items():
        users = {u for u, _ in values}
        total = sum(d for _, d in values)
        out[day][genre] = {
            "listen_count": len(values),
            "unique_listeners": len(users),
            "total_listening_time_ms": total,
            "avg_listening_time_per_user_ms": total / len(users),
        }
    return dict(out)


def served(tables: ServingTables, day: str) -> dict[str, dict]:
    return {
        i["genre"]: {
            "listen_count": int(i["listen_count"]),
            "unique_listeners": int(i["unique_listeners"]),
            "total_listening_time_ms": int(i["total_listening_time_ms"]),
            "avg_listening_time_per_user_ms": float(i["avg_listening_time_per_user_ms"]),
        }
        for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, day)
    }


def served_top_genres(tables: ServingTables, day: str) -> list[str]:
    return [
        i["genre"] for i in sorted(tables.day_items(serving_tables.TOP_GENRES_DAILY_SERVING.table, day), key=lambda i: i["rank"])
    ]


def expected_top_genres(kpis: dict[str, dict]) -> list[str]:
    return [g for g, _ in sorted(kpis.items(), key=lambda kv: (-kv[1]["listen_count"], kv[0]))][:5]


@pytest.fixture(params=["folder", "s3"])
def lake(request, tmp_path, fresh_moto) -> Lake:
    if request.param == "folder":
        return Lake(str(tmp_path / "lake"))
    boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1").create_bucket(Bucket="music-lake")
    return Lake("s3://music-lake/lake", s3_endpoint=fresh_moto)


def archived(key: str) -> str:
    return f"{layout.ARCHIVE_STREAMS}/{key[len(layout.RAW_STREAMS) + 1 :]}.gz"  # stored gzip-compressed


def status(ledger: Ledger, key: str) -> str:
    return ledger.get(key)["status"]


def test_files_arriving_end_to_end(lake: Lake, fresh_moto: str, monkeypatch):
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, USERS)
    monkeypatch.setenv("MUSIC_PIPELINE_MAX_FILES_PER_RUN", "2")
    h = Harness(build_defs(lake.uri, fresh_moto, s3_endpoint=lake.s3_endpoint), DagsterInstance.ephemeral())
    tables = ServingTables(endpoint_url=fresh_moto)
    ledger = Ledger(tables)

    def check_served(files):
        want = expected_kpis(files)
        for day in (D1, D2):
            assert served(tables, day) == want.get(day, {}), day
            assert served_top_genres(tables, day) == expected_top_genres(want.get(day, {})), day

    # 1. the first file of the day: ingested, its day computed and published, then archived
    land(lake, KEY_A, stream_csv(A))
    h.settle()
    check_served([A])
    item = ledger.get(KEY_A)
    assert (item["status"], item["days"], item["rows"], item["outcome"]) == ("archived", [D2], 3, "ingested")
    assert not lake.exists(KEY_A) and gzip.decompress(lake.read_bytes(archived(KEY_A))) == stream_csv(A).encode()

    # 2. two more files for the same day, landing together: one ingestion run (max 2 files per run)
    time.sleep(0.01)
    land(lake, KEY_B, stream_csv(B))
    land(lake, KEY_C, stream_csv(C))
    before = len(h.launched)
    h.settle()
    ingest_runs = [r for kind, r in h.launched[before:] if r.job_name == "ingest_stream_files"]
    assert [sorted(r.run_config["ops"]["ingest_claimed_files"]["config"]["files"]) for r in ingest_runs] == [[KEY_B, KEY_C]]
    check_served([A, B, C])
    assert {status(ledger, k) for k in (KEY_B, KEY_C)} == {"archived"}

    # 3. a late file for an earlier day (and one that cannot be read at all): D1 computed, the bad file failed
    land(lake, KEY_LATE, stream_csv(LATE))
    land(lake, KEY_BAD, "this is not,a stream file\n1,2\n")
    h.settle()
    check_served([A, B, C, LATE])
    assert ledger.get(KEY_LATE)["days"] == [D1] and status(ledger, KEY_LATE) == "archived"
    bad = ledger.get(KEY_BAD)
    assert bad["status"] == "failed" and "missing required column" in bad["reason"]
    assert lake.exists(KEY_BAD)  # a failed file stays where it landed
    days_runs = [r.tags for kind, r in h.launched if r.job_name == "stream_days_job"]
    assert days_runs[-1]["dagster/asset_partition_range_start"] == D1 == days_runs[-1]["dagster/asset_partition_range_end"]

    # 4. the same content again, under another key: nothing changes, the copy is archived
    items_before = {d: tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, d) for d in (D1, D2)}
    land(lake, KEY_B_AGAIN, stream_csv(B))
    before = len(h.launched)
    h.settle()
    again = ledger.get(KEY_B_AGAIN)
    assert (again["status"], again["outcome"], again["duplicate_of"], again["days"]) == ("archived", "duplicate", KEY_B, [])
    assert not [r for kind, r in h.launched[before:] if kind == "automation" or r.job_name == "stream_days_job"]
    assert {d: tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, d) for d in (D1, D2)} == items_before

    # 5. the same bytes re-delivered under their own (archived) key: found by the periodic rescan,
    #    recognised as already published, archived again, nothing recomputed
    time.sleep(1.0)  # a new delivery: S3 keeps modification times to the second
    land(lake, KEY_B, stream_csv(B))
    h.tick()
    assert status(ledger, KEY_B) == "archived"  # behind the cursor: not seen until the rescan is due
    h.defs = build_defs(lake.uri, fresh_moto, s3_endpoint=lake.s3_endpoint, MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS="0")
    before = len(h.launched)
    h.settle()
    assert (ledger.get(KEY_B)["outcome"], ledger.get(KEY_B)["days"], status(ledger, KEY_B)) == ("unchanged", [], "archived")
    assert not [r for kind, r in h.launched[before:] if kind == "automation" or r.job_name == "stream_days_job"]
    check_served([A, B, C, LATE])

    # 6. changed content under a known key: replaces that file's contribution, never adds to it
    land(lake, KEY_A, stream_csv(A_CHANGED))
    h.settle()
    check_served([A_CHANGED, B, C, LATE])
    item = ledger.get(KEY_A)
    assert (item["status"], item["outcome"], item["days"]) == ("archived", "replaced", [D2])
    assert gzip.decompress(lake.read_bytes(archived(KEY_A))) == stream_csv(A_CHANGED).encode()
    assert [f.key for f in lake.list(f"{layout.RAW_STREAMS}/2024/06/03")] == [KEY_BAD]

    # 7. a backfill of the archived days still reads their rows from bronze
    from dagster import materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    result = materialize(
        [*h.defs.assets, *(h.defs.asset_checks or [])],
        instance=h.instance,
        resources=h.defs.resources,
        tags={ASSET_PARTITION_RANGE_START_TAG: D1, ASSET_PARTITION_RANGE_END_TAG: D2},
        selection=[a.key for a in h.defs.assets if a.partitions_def is not None],
    )
    assert result.success
    check_served([A_CHANGED, B, C, LATE])
