"""Self-healing serving tables (issue 14): a day whose DynamoDB items were deleted or changed, and a
table deleted entirely, are republished from the lake by `serving_healing_sensor` within two ticks,
with one "day republished" message each (webhook on a local HTTP server); untouched, held and
in-flight days are not requested (one test over one published lake: the pipeline runs once). Sensor ticked with build_sensor_context on a real SQLite instance,
requested runs executed in-process, DynamoDB on a moto server."""

from __future__ import annotations

import os
import time

import pytest
from dagster import AssetKey, DagsterRunStatus, materialize
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG
from dagster._core.test_utils import instance_for_test

from music_pipeline.core import layout
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params
from music_pipeline.lake.store import Lake
from music_pipeline.operations import alerts
from music_pipeline.serving import healing, healing_sensor
from music_pipeline.serving import items as serving
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import gold_items, land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations.test_alerts import texts, webhook  # noqa: F401 - the local webhook fixture
from music_pipeline_tests.operations_harness import OperationsHarness

D1, D2, D3 = "2024-06-01", "2024-06-02", "2024-06-03"
SONGS = {"s1": ("pop", 200_000), "s2": ("rock", 180_000), "s3": ("jazz", 150_000)}
GENRES = serving_tables.DAILY_GENRE_KPIS_SERVING
TOP_GENRES = serving_tables.TOP_GENRES_DAILY_SERVING
METRICS = serving_tables.DAILY_METRICS_SERVING


def listens(day: str) -> list[tuple]:
    return [("u1", "s1", f"{day} 08:00:00"), ("u2", "s2", f"{day} 09:00:00"), ("u1", "s3", f"{day} 10:00:00")]


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    for day in (D1, D2, D3):
        land(lake, f"{layout.RAW_STREAMS}/{day.replace('-', '/')}/listens.csv", stream_csv(listens(day)))
    return lake


@pytest.fixture
def published(lake, fresh_moto, request, tmp_path):
    """(harness, tables, webhook messages): the three days published to DynamoDB on a real SQLite instance.
    Items keep a TTL far ahead (the sample's 2024 days would be expired by moto's enabled TTL otherwise)."""
    url, received = request.getfixturevalue("webhook")
    defs = build_defs(lake.uri, fresh_moto, MUSIC_PIPELINE_KPI_RETENTION_DAYS="36500", MUSIC_PIPELINE_ALERT_WEBHOOK_URL=url)
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        h = OperationsHarness(defs, instance)
        everything = [*defs.assets, *(defs.asset_checks or [])]
        reference = [AssetKey("songs"), AssetKey("users")]
        assert materialize(everything, instance=instance, resources=defs.resources, selection=reference).success
        assert materialize(
            everything,
            instance=instance,
            resources=defs.resources,
            selection=[a.key for a in defs.assets if a.partitions_def is not None],
            tags={ASSET_PARTITION_RANGE_START_TAG: D1, ASSET_PARTITION_RANGE_END_TAG: D3},
        ).success
        yield h, ServingTables(endpoint_url=fresh_moto), received


def heal_tick(h: OperationsHarness) -> list:
    """One tick of the healing sensor; its run requests are executed (and must succeed)."""
    requests = h.tick_sensor(healing_sensor.SENSOR)
    assert all(ok for _, _, ok in h.outcomes), h.outcomes
    return requests


def requested(requests) -> list[tuple]:
    return [
        (
            r.partition_key or f"{r.tags[ASSET_PARTITION_RANGE_START_TAG]}...{r.tags[ASSET_PARTITION_RANGE_END_TAG]}",
            sorted(k.to_user_string() for k in r.asset_selection),
        )
        for r in requests
    ]


def in_dynamodb(tables: ServingTables, spec, day: str) -> list[dict]:
    key = lambda i: (str(i[spec.table.pk]), str(i[spec.table.sk]))  # noqa: E731
    return sorted(tables.day_items(spec.table, day), key=key)


def from_gold(lake: Lake, spec, day: str) -> list[dict]:
    key = lambda i: (str(i[spec.table.pk]), str(i[spec.table.sk]))  # noqa: E731
    items = serving.day_items(lake, spec, day, Params(), retention_days=36500)
    return sorted(items, key=key)


def delete_day(tables: ServingTables, spec, day: str) -> int:
    keys = tables.day_keys(spec.table, day)
    with tables.table(spec.table).batch_writer() as batch:
        for key in keys:
            batch.delete_item(Key=key)
    return len(keys)


def test_damaged_serving_days_are_republished_untouched_in_flight_and_held_days_are_not(lake, published):
    h, tables, received = published
    assert heal_tick(h) == []  # untouched: nothing requested
    assert texts(received) == []
    assert gold_items(lake, D2, GENRES)  # (the helper's items, TTL 365 days, are not compared below)

    # the items of one day deleted -> that day of that table republished, in the first tick
    assert delete_day(tables, GENRES, D2) == 3
    requests = heal_tick(h)
    assert requested(requests) == [(D2, ["dynamodb_daily_genre_kpis"])]
    assert requests[0].job_name == healing_sensor.JOB and requests[0].tags[healing_sensor.HEALING_TAG] == "republish"
    assert in_dynamodb(tables, GENRES, D2) == from_gold(lake, GENRES, D2)
    assert {i["genre"]: int(i["listen_count"]) for i in in_dynamodb(tables, GENRES, D2)} == {"pop": 1, "rock": 1, "jazz": 1}
    (message,) = texts(received)
    assert message.startswith(f"[music_pipeline] {alerts.DAY_REPUBLISHED}: {D2} (DailyGenreKPIs)\nwhy: 3 differences between ")
    assert "(0 items in DynamoDB, 3 from the gold rows); republishing from the lake" in message
    observed = [(e.asset_key.to_user_string(), e.partition) for e in h.asset_events if healing_sensor.HEALED in e.metadata]
    assert observed == [("dynamodb_daily_genre_kpis", D2)]
    assert heal_tick(h) == [] and texts(received) == []  # the second tick: healed, nothing more

    # the same fault again after the republish: a new detection (new run key), healed again
    first_key = requests[0].run_key
    delete_day(tables, GENRES, D2)
    again = heal_tick(h)
    assert requested(again) == [(D2, ["dynamodb_daily_genre_kpis"])] and again[0].run_key != first_key
    assert in_dynamodb(tables, GENRES, D2) == from_gold(lake, GENRES, D2)
    texts(received)

    # an item changed (a wrong value) -> republished, the value is the gold's again
    top = tables.table(TOP_GENRES.table)
    top.update_item(Key={"date": D1, "rank": 1}, UpdateExpression="SET listen_count = :v", ExpressionAttributeValues={":v": 999})
    assert requested(heal_tick(h)) == [(D1, ["dynamodb_top_genres_daily"])]
    assert in_dynamodb(tables, TOP_GENRES, D1) == from_gold(lake, TOP_GENRES, D1)
    assert int(top.get_item(Key={"date": D1, "rank": 1})["Item"]["listen_count"]) == 1
    (message,) = texts(received)
    assert f"{D1} (TopGenresDaily)" in message and "differs" in message

    # a table deleted entirely -> re-created, every published day republished in one range run
    tables.client.delete_table(TableName=tables.name(METRICS.table))
    requests = heal_tick(h)
    assert requested(requests) == [(f"{D1}...{D3}", ["dynamodb_daily_metrics"])]
    for day in (D1, D2, D3):
        assert in_dynamodb(tables, METRICS, day) == from_gold(lake, METRICS, day), day
        assert len(in_dynamodb(tables, METRICS, day)) > 10
    (message,) = texts(received)
    assert message.startswith(f"[music_pipeline] {alerts.DAY_REPUBLISHED}: {D1}...{D3} (3 days) (DailyMetrics)")
    assert "DailyMetrics was missing (re-created)" in message
    assert heal_tick(h) == []

    # several tables of a day damaged at once -> one run of that day with both assets
    delete_day(tables, GENRES, D3)
    delete_day(tables, TOP_GENRES, D3)
    assert requested(heal_tick(h)) == [(D3, ["dynamodb_daily_genre_kpis", "dynamodb_top_genres_daily"])]
    assert in_dynamodb(tables, TOP_GENRES, D3) == from_gold(lake, TOP_GENRES, D3)
    assert len(texts(received)) == 1

    # in-flight and held days are left alone (same published lake: one pipeline run for the whole test)
    # a run of D1 in progress (the automation publishing it): D1 is not verified meanwhile
    h.instance.add_run(
        DagsterRun(job_name="__ASSET_JOB", run_id="running-d1", status=DagsterRunStatus.STARTED, tags={PARTITION_NAME_TAG: D1})
    )
    delete_day(tables, GENRES, D1)
    assert heal_tick(h) == []
    h.instance.report_run_canceled(h.instance.get_run_by_id("running-d1"))
    assert requested(heal_tick(h)) == [(D1, ["dynamodb_daily_genre_kpis"])]  # once it is over
    texts(received)

    # D3 held: a new file of unknown tracks lands; its run fails on rejected_share; nothing is published
    land(
        lake,
        f"{layout.RAW_STREAMS}/2024/06/03/late.csv",
        stream_csv([("u1", f"x{i}", f"{D3} 11:{i:02d}:00") for i in range(20)]),
    )
    run = materialize(
        [*h.defs.assets, *(h.defs.asset_checks or [])],
        instance=h.instance,
        resources=h.defs.resources,
        partition_key=D3,
        selection=[a.key for a in h.defs.assets if a.partitions_def is not None],
        raise_on_error=False,
    )
    assert not run.success
    delete_day(tables, GENRES, D3)
    assert heal_tick(h) == []  # the held day's items stay deleted: nothing of it may reach DynamoDB
    assert tables.day_items(GENRES.table, D3) == [] and texts(received) == []
    settings = Settings.from_env({**os.environ, "MUSIC_PIPELINE_KPI_RETENTION_DAYS": "36500"})
    tick = healing.inspect(h.instance, h.defs.get_repository_def().asset_graph, lake, tables, settings, time.time())
    assert tick.findings == []
    assert tick.skipped[f"dynamodb_daily_genre_kpis {D3}"] == "held: validated_streams check rejected_share failed"
    assert tick.verified == 4 * 2  # the other two days of the four tables

    # with the default retention (365 days) moto's TTL has expired the 2024 items: left alone, not republished
    expired = healing.inspect(
        h.instance, h.defs.get_repository_def().asset_graph, lake, tables, Settings.from_env(dict(os.environ)), time.time()
    )
    assert expired.findings == [] and expired.verified == 0
    assert expired.skipped[f"dynamodb_top_genres_daily {D1}"] == "its items have expired (TTL expires_at)"


def test_healing_settings():
    default = Settings.from_env({}).operations
    assert (default.healing_interval_seconds, default.healing_days, default.healing_running_by_default) == (300, 7, True)
    chosen = Settings.from_env(
        {"MUSIC_PIPELINE_HEALING_INTERVAL_SECONDS": "60", "MUSIC_PIPELINE_HEALING_DAYS": "30", "MUSIC_PIPELINE_HEALING": "off"}
    ).operations
    assert (chosen.healing_interval_seconds, chosen.healing_days, chosen.healing_running_by_default) == (60, 30, False)
    for name, value in (("MUSIC_PIPELINE_HEALING_DAYS", "0"), ("MUSIC_PIPELINE_HEALING", "maybe")):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value})
