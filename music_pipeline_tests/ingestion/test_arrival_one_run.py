"""Arrival latency (issue 15 goal 4): a landed file reaches DynamoDB in one tick of stream_files_sensor
plus the work. The tick claims it and runs its ingestion; `ingested_files_sensor` (a run status sensor on
the ingestion job) then requests `stream_days_job`, raw_streams and everything downstream of it for the
touched days, in one run; the automation does not compute those days again; a held day is not published
(neither by that run nor by the automation), and the good day of a held range flows on by the automation.

Real sensor ticks (build_sensor_context on a real instance), real runs, DynamoDB on a moto server.
"""

from __future__ import annotations

from collections import Counter

import pytest
from botocore.exceptions import ClientError
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, materialize

from music_pipeline.core import layout
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations_harness import OperationsHarness

SONGS = {"s1": ("pop", 200_000), "s2": ("rock", 180_000)}
D1, D2, D3 = "2024-06-01", "2024-06-02", "2024-06-03"
GOOD = [("u1", "s1", f"{D1} 08:00:00"), ("u2", "s2", f"{D1} 09:00:00"), ("u1", "s2", f"{D1} 10:00:00")]
# D2: 9 of 10 listens name tracks the catalog does not know: held by the blocking rejected_share check
HELD = [("u1", "s1", f"{D2} 07:00:00")] + [("u2", f"x{i}", f"{D2} 1{i}:00:00") for i in range(9)]
LATER = [("u2", "s1", f"{D3} 08:00:00"), ("u1", "s1", f"{D3} 09:00:00")]


def served(tables: ServingTables, day: str) -> dict[str, int]:
    """{genre: listen_count} of the day in DailyGenreKPIs (nothing while the table was never written)."""
    try:
        items = tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, day)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        items = []
    return {i["genre"]: int(i["listen_count"]) for i in items}


def materialized(instance, asset: str) -> Counter:
    """How many times each day of the asset was materialized."""
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1000).records
    return Counter(r.partition_key for r in records)


@pytest.fixture
def harness(tmp_path, fresh_moto):
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    h = OperationsHarness(build_defs(lake.uri, fresh_moto), DagsterInstance.ephemeral())
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    assert materialize(
        everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs"), AssetKey("users")]
    ).success
    assert h.automate() == []  # the automation's first evaluation only sets its cursor
    return h, lake, ServingTables(endpoint_url=fresh_moto), Ledger(ServingTables(endpoint_url=fresh_moto))


def test_one_tick_takes_a_file_to_dynamodb_in_one_days_run(harness):
    h, lake, tables, ledger = harness
    key = f"{layout.RAW_STREAMS}/2024/06/02/good.csv"
    land(lake, key, stream_csv(GOOD))

    requested = h.tick()  # one tick of stream_files_sensor (plus its ingestion run's follow-up)
    assert [(name, r.job_name) for name, r in h.launched] == [
        ("stream_files_sensor", "ingest_stream_files"),
        ("ingested_files_sensor", "stream_days_job"),
    ]
    days_run = requested[-1]
    assert (days_run.tags["dagster/asset_partition_range_start"], days_run.tags["dagster/asset_partition_range_end"]) == (
        D1,
        D1,
    )
    assert all(ok for _, _, ok in h.outcomes)
    assert served(tables, D1) == {"pop": 1, "rock": 2}  # in DynamoDB after one tick, before any automation
    # lineage per day: every asset of the days job materialized once for D1, with D1's own row count
    job = h.defs.resolve_job_def("stream_days_job")
    for asset in job.asset_layer.selected_asset_keys:
        assert materialized(h.instance, asset.to_user_string()) == Counter({D1: 1}), asset
    raw = h.instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey("raw_streams")), limit=1).records[0]
    assert raw.asset_materialization.metadata["dagster/row_count"].value == 3

    assert h.automate() == []  # the automation does not compute the day again
    assert ledger.get(key)["status"] == "ingested" and ledger.get(key)["days_requested"] == [D1]
    h.tick()  # the next tick finds the day published and archives the file
    assert ledger.get(key)["status"] == "archived" and not lake.exists(key)
    assert [r.job_name for _, r in h.launched[2:]] == ["archive_stream_files"]
    assert h.settle() == 0
    assert materialized(h.instance, "dynamodb_daily_genre_kpis") == Counter({D1: 1})


def test_a_held_day_is_not_published_and_the_good_day_of_its_range_flows_on(harness):
    h, lake, tables, ledger = harness
    key = f"{layout.RAW_STREAMS}/2024/06/03/mixed.csv"
    land(lake, key, stream_csv(GOOD + HELD))  # D1 good, D2 held: one days run for D1...D2
    h.tick()
    days_runs = [(r, ok) for label, r, ok in h.outcomes if label == "stream_days_job"]
    assert len(days_runs) == 1 and not days_runs[0][1]  # the run fails on D2's blocking check
    assert days_runs[0][0].tags["dagster/asset_partition_range_end"] == D2
    assert served(tables, D1) == {} and served(tables, D2) == {}  # a range run holds the range
    requested = []  # the good day flows on by itself (a level per evaluation), the held day does not
    while step := h.automate():
        requested += step
    assert {r.partition_key for r in requested} == {D1}
    assert served(tables, D1) == {"pop": 1, "rock": 2} and served(tables, D2) == {}
    assert h.settle() == 0
    assert served(tables, D2) == {} and materialized(h.instance, "dynamodb_daily_genre_kpis") == Counter({D1: 1})
    assert ledger.get(key)["status"] == "ingested" and lake.exists(key)  # waits for D2: not archived

    # a later file for another day is not held up by it
    later = f"{layout.RAW_STREAMS}/2024/06/04/later.csv"
    land(lake, later, stream_csv(LATER))
    h.settle()
    assert served(tables, D3) == {"pop": 2} and ledger.get(later)["status"] == "archived"
    assert served(tables, D2) == {} and ledger.get(key)["status"] == "ingested"


def test_a_failed_archive_run_is_followed_by_a_fresh_one_up_to_its_bound(harness, monkeypatch):
    """An archive run that fails (here: every archive_file call raises, as a worker lost mid-run would) keeps its
    run key, which the daemon never launches again: the next tick asks under a key counting the batch's failed
    runs, until ARCHIVE_ATTEMPTS runs failed; then the files stay published in the landing zone."""
    from music_pipeline.ingestion.archive_retries import ARCHIVE_ATTEMPTS
    from music_pipeline.operations import archive

    h, lake, tables, ledger = harness
    key = f"{layout.RAW_STREAMS}/2024/06/02/good.csv"
    land(lake, key, stream_csv(GOOD))
    h.tick()
    assert served(tables, D1) == {"pop": 1, "rock": 2}
    real = archive.archive_file

    def lost_worker(*args, **kwargs):
        raise RuntimeError("Tried to start a run on a server after telling it to shut down")

    monkeypatch.setattr(archive, "archive_file", lost_worker)
    for _ in range(ARCHIVE_ATTEMPTS + 1):
        h.tick()
    archives = [r for _, r in h.launched if r.job_name == "archive_stream_files"]
    first = archives[0].run_key
    assert [r.run_key for r in archives] == [first, f"{first}#1", f"{first}#2"]  # the fourth tick asked for none
    assert [ok for label, _, ok in h.outcomes if label == "archive_stream_files"] == [False] * ARCHIVE_ATTEMPTS
    assert ledger.get(key)["status"] == "published" and lake.exists(key)

    # a new batch (the stuck file and a newly published one) has its own attempts: the third run archives both
    monkeypatch.setattr(archive, "archive_file", real)
    other = f"{layout.RAW_STREAMS}/2024/06/03/later.csv"
    land(lake, other, stream_csv(LATER))
    h.tick()
    calls = []

    def fails_twice(*args, **kwargs):
        calls.append(args[2])
        if len(calls) <= 2:
            raise OSError("the store is unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(archive, "archive_file", fails_twice)
    for _ in range(3):
        h.tick()
    assert calls == [key, key, key, other]  # a failing run stops at its first file
    for done in (key, other):
        assert ledger.get(done)["status"] == "archived" and not lake.exists(done)
