"""The ledger and the sensor's cursor disagreeing (issue 14 item 2), with real sensor ticks.

- Ledger lost, cursor kept (the ledger table deleted; the sensor recreates it): every file the cursor had
  in flight is claimed again at once (not at the next rescan), re-ingested by a new run (its run key is
  not the first ingestion's, which Dagster would skip as done), published and archived; the KPIs are
  the same, not doubled; nothing stays in flight.
- Cursor lost, ledger kept: the sensor follows the ledger's in-flight files again and archives them;
  nothing is ingested twice.
"""

from __future__ import annotations

import boto3
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from music_pipeline.core import layout, registry
from music_pipeline.ingestion.discovery import Cursor
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import Harness, build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users

SONGS = {"s1": ("pop", 200_000), "s2": ("rock", 180_000)}
D1, D2 = "2024-06-01", "2024-06-02"
FILES = {
    f"{layout.RAW_STREAMS}/2024/06/02/a.csv": [("u1", "s1", f"{D1} 08:00:00"), ("u2", "s2", f"{D1} 09:00:00")],
    f"{layout.RAW_STREAMS}/2024/06/03/b.csv": [("u1", "s2", f"{D2} 08:00:00"), ("u2", "s2", f"{D2} 09:00:00")],
}
EXPECTED = {D1: {"pop": 1, "rock": 1}, D2: {"rock": 2}}


def served(tables: ServingTables) -> dict[str, dict[str, int]]:
    return {
        day: {i["genre"]: int(i["listen_count"]) for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, day)}
        for day in (D1, D2)
    }


def ingest_runs(h: Harness, since: int = 0) -> list:
    return [r for _, r in h.launched[since:] if r.job_name == "ingest_stream_files"]


@pytest.fixture
def published_not_archived(tmp_path, fresh_moto):
    """Two files ingested and published by one tick; their archiving is due at the next tick."""
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    h = Harness(build_defs(lake.uri, fresh_moto), DagsterInstance.ephemeral())
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    assert materialize(
        everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs"), AssetKey("users")]
    ).success
    h.automate()
    for key, rows in FILES.items():
        land(lake, key, stream_csv(rows))
    h.tick()
    tables = ServingTables(endpoint_url=fresh_moto)
    ledger = Ledger(tables)
    assert served(tables) == EXPECTED
    assert {k: ledger.get(k)["status"] for k in FILES} == dict.fromkeys(FILES, "ingested")
    assert sorted(Cursor.parse(h.sensor_cursor).pending) == sorted(FILES)
    return h, lake, tables, ledger


def test_ledger_lost_cursor_kept_every_file_ends_archived(published_not_archived, fresh_moto):
    h, lake, tables, ledger = published_not_archived
    first = {r.run_key for r in ingest_runs(h)}
    boto3.client("dynamodb", endpoint_url=fresh_moto).delete_table(TableName=tables.name(registry.PROCESSED_STREAMS))
    before = len(h.launched)

    h.settle()

    again = ingest_runs(h, before)
    assert again and not {r.run_key for r in again} & first  # new runs, not skipped as "already completed"
    assert sorted(f for r in again for f in r.run_config["ops"]["ingest_claimed_files"]["config"]["files"]) == sorted(FILES)
    for key in FILES:
        item = ledger.get(key)
        assert (item["status"], item["outcome"]) == ("archived", "unchanged"), key
        assert not lake.exists(key) and lake.exists(item["archive_key"])
    assert Cursor.parse(h.sensor_cursor).pending == {}  # nothing in flight
    assert served(tables) == EXPECTED  # re-ingested content replaced, never added


def test_cursor_lost_ledger_kept_nothing_is_ingested_twice(published_not_archived):
    h, lake, tables, ledger = published_not_archived
    run_ids = {k: ledger.get(k)["run_id"] for k in FILES}
    h.sensor_cursor = None  # a new Dagster instance, the same DynamoDB
    before = len(h.launched)

    h.settle()

    assert ingest_runs(h, before) == []
    assert [r.job_name for _, r in h.launched[before:]] == ["archive_stream_files"]
    for key in FILES:
        item = ledger.get(key)
        assert (item["status"], item["run_id"]) == ("archived", run_ids[key]), key
        assert not lake.exists(key)
    assert Cursor.parse(h.sensor_cursor).pending == {}
    assert served(tables) == EXPECTED
