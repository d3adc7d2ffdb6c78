"""Acceptance (issue 12): a held day, the reference update that releases it, and the alerts, end to end.

A real Dagster instance; the arrival, reference and alert sensors ticked with build_sensor_context; the
automation evaluated; every requested run executed in-process; DynamoDB and SNS on a moto server, with an
SQS queue subscribed to the alert topic (what an operator's pager would read).

1. a good day is published; a day whose listens are 90% unknown tracks is held: nothing of it in DynamoDB,
   one alert naming the day and the share;
2. a songs.csv adding those tracks: that day, and no other, is recomputed and published, equal to an
   independent computation; the held incident is over;
3. the same songs.csv again: nothing recomputed;
4. a songs.csv with half its genres missing: not taken (the previous validated songs stay, byte for byte),
   nothing recomputed, one alert for the failed run.
"""

from __future__ import annotations

import time
from collections import defaultdict

import boto3
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from music_pipeline.core import layout, registry
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations_harness import OperationsHarness, sqs_alerts

SONGS = {"s1": ("pop", 200_000), "s2": ("pop", 180_000), "s3": ("rock", 240_000)}
NEW_SONGS = {"n1": ("metal", 210_000), "n2": ("metal", 190_000), "n3": ("folk", 250_000)}
USERS = ["u1", "u2", "u3"]
HELD, GOOD = "2024-06-01", "2024-06-02"

GOOD_LISTENS = [("u1", "s1", f"{GOOD} 08:00:00"), ("u2", "s3", f"{GOOD} 09:00:00"), ("u3", "s2", f"{GOOD} 10:00:00")]
# 10 listens, 9 of tracks the catalog does not know yet
HELD_LISTENS = [("u1", "s1", f"{HELD} 07:00:00")] + [
    (USERS[i % 3], ("n1", "n2", "n3")[i % 3], f"{HELD} {10 + i:02d}:00:00") for i in range(9)
]


def songs_rows(catalog: dict) -> list[dict]:
    return [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(catalog.items())]


def expected_kpis(listens: list[tuple], catalog: dict) -> dict[str, dict]:
    """{genre: kpis} of one day, by hand, from the listens whose track the catalog knows."""
    by_genre = defaultdict(list)
    for user, track, _ in listens:
        if track in catalog:
            genre, duration = catalog[track]
            by_genre[genre].append((user, duration))
    return {
        g: {"listen_count": len(v), "unique_listeners": len({u for u, _ in v}), "total_listening_time_ms": sum(d for _, d in v)}
        for g, v in by_genre.items()
    }


def served(tables: ServingTables, day: str) -> dict[str, dict]:
    return {
        i["genre"]: {
            "listen_count": int(i["listen_count"]),
            "unique_listeners": int(i["unique_listeners"]),
            "total_listening_time_ms": int(i["total_listening_time_ms"]),
        }
        for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, day)
    }


def materialized_days(instance, asset: str) -> list[str]:
    """Partitions of every materialization of an asset, in event order."""
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1000, ascending=True)
    return [r.partition_key for r in records.records]


@pytest.fixture
def alert_queue(fresh_moto, monkeypatch):
    """An SNS topic on the moto server with an SQS queue subscribed; the project's SNS client finds the
    server through boto3's own endpoint variable."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", fresh_moto)
    sns = boto3.client("sns", endpoint_url=fresh_moto, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=fresh_moto, region_name="us-east-1")
    topic = sns.create_topic(Name="music-pipeline-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, sqs, queue


def test_held_day_released_by_a_reference_update(tmp_path, fresh_moto, alert_queue):
    topic, sqs, queue = alert_queue
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, songs_rows(SONGS))
    write_users(lake, USERS)
    h = OperationsHarness(
        build_defs(
            lake.uri,
            fresh_moto,
            MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN=topic,
            MUSIC_PIPELINE_WEBSERVER_URL="http://dagster.example:3000",
        ),
        DagsterInstance.local_temp(str(tmp_path)),
    )  # run-sharded SQLite, as `dagster dev`
    tables = ServingTables(endpoint_url=fresh_moto)
    h.alert_ticks()  # the alert sensors start from "now"
    h.settle()

    # 1. a good day flows to DynamoDB; a day of 90% unknown tracks is held, with one alert
    land(lake, f"{layout.RAW_STREAMS}/2024/06/02/good.csv", stream_csv(GOOD_LISTENS))
    h.settle()
    assert served(tables, GOOD) == expected_kpis(GOOD_LISTENS, SONGS)
    land(lake, f"{layout.RAW_STREAMS}/2024/06/03/catalog_lags.csv", stream_csv(HELD_LISTENS))
    h.settle()
    assert served(tables, HELD) == {}
    for serving in registry.SERVINGS:
        assert HELD not in materialized_days(h.instance, serving.asset)
        assert tables.day_items(serving.table, HELD) == [], serving.table.name
    held = h.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("validated_streams"), asset_partitions=[HELD]), limit=1
    ).records[0]
    metadata = {k: v.value for k, v in held.asset_materialization.metadata.items()}
    assert metadata["held"] is True and metadata["rejected_share"] == 0.9
    assert metadata["held_reason"].startswith("90.00% of 10 rows rejected") and "unknown_track_id: 9" in metadata["held_reason"]
    h.alert_ticks()
    h.alert_ticks()  # a repeated tick alerts nothing again
    messages = sqs_alerts(sqs, queue)
    held_alerts = [m for m in messages if "day held" in m]
    assert len(held_alerts) == 1, messages
    assert held_alerts[0].startswith(f"[music_pipeline] day held: validated_streams {HELD} (check rejected_share)")
    assert "why: held: 90.00% of 10 rows rejected, above the limit 5.00%" in held_alerts[0]
    assert "run: http://dagster.example:3000/runs/" in held_alerts[0]
    # the serving runs also evaluated the freshness checks: yesterday (of the wall clock) is not published
    # by its deadline in this lake of 2024 days, one incident per serving table, alerted once
    stale = sorted(m.split(" (check")[0] for m in messages if m not in held_alerts)
    assert stale == [f"[music_pipeline] freshness missed: {name}" for name in sorted(registry.SERVING_ASSETS)], messages
    alert_events = [e for e in h.asset_events if e.asset_key == AssetKey("validated_streams")]
    assert [(e.partition, e.metadata["music_pipeline/alert"].value) for e in alert_events] == [(HELD, "day held")]

    # 2. the catalog catches up: exactly the held day is recomputed and published by itself
    before = {s.asset: materialized_days(h.instance, s.asset) for s in registry.SERVINGS}
    validated_before = materialized_days(h.instance, "validated_streams")
    songs_before = lake.read_bytes(registry.SONGS.file_key)
    catalog = {**SONGS, **NEW_SONGS}
    write_songs(lake, songs_rows(catalog))
    h.settle()
    assert served(tables, HELD) == expected_kpis(HELD_LISTENS, catalog)
    assert served(tables, GOOD) == expected_kpis(GOOD_LISTENS, SONGS)
    assert materialized_days(h.instance, "validated_streams")[len(validated_before) :] == [HELD]
    for serving in registry.SERVINGS:
        assert materialized_days(h.instance, serving.asset)[len(before[serving.asset]) :] == [HELD], serving.asset
    songs = h.instance.fetch_materializations(AssetKey("songs"), limit=1).records[0].asset_materialization.metadata
    assert songs["affected_days"].value == [HELD] and songs["changed_ids"].value == 3
    assert lake.read_bytes(f"{registry.SONGS.prefix}/_previous/data.parquet") == songs_before
    assert [r.tags["dagster/asset_partition_range_start"] for name, r in h.launched if r.job_name == "reference_days_job"] == [
        HELD
    ]
    h.alert_ticks()
    assert sqs_alerts(sqs, queue) == []  # a day that passes is no incident

    # 3. the same songs.csv again (a new delivery of the same bytes): nothing recomputed
    launched = len(h.launched)
    time.sleep(0.01)
    write_songs(lake, songs_rows(catalog))
    h.settle()
    assert h.launched[launched:] == []

    # 4. a songs.csv with half its genres missing is not taken: the previous version stays
    validated_songs = lake.read_bytes(registry.SONGS.file_key)
    broken = {t: ("" if i % 2 else g, d) for i, (t, (g, d)) in enumerate(catalog.items())}
    write_songs(lake, songs_rows(broken))
    h.settle()
    failed = [(job, ok) for job, request, ok in h.outcomes[-1:]]
    assert failed == [("reference_assets_job", False)]
    assert lake.read_bytes(registry.SONGS.file_key) == validated_songs
    assert [name for name, r in h.launched[launched:]] == ["reference_files_sensor"]  # the failed run, nothing else
    h.alert_ticks()
    h.alert_ticks()
    messages = sqs_alerts(sqs, queue)
    assert len(messages) == 1, messages
    assert messages[0].startswith("[music_pipeline] run failed: reference_assets_job (songs)")
    assert (
        "songs not replaced: raw/songs/songs.csv: 3 of 6 rows rejected (50.00%), above "
        "MUSIC_PIPELINE_MAX_REJECTED_SHARE 5.00%; the previous version stays" in messages[0]
    )
