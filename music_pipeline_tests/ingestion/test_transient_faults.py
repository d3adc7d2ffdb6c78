"""A transient fault never publishes a day without its data (issue 27): landed files whose reads fail for a
reason that passes (S3 5xx through a fault-injecting proxy in front of moto, a full disk) are retried with
backoff, then recorded as failed *transiently*: the run fails instead of publishing a short day, and the next
run after the fault clears reads them and publishes the whole day, with no manual step. A manifest write that
fails after the slices were published is repaired by the next sync."""

from __future__ import annotations

import errno

import boto3
import pytest
from dagster import AssetKey, materialize

from music_pipeline.core import faults, layout
from music_pipeline.core.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.ingestion import bronze, manifests
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.fault_proxy import Fault, FaultProxy, Request, Response
from music_pipeline_tests.helpers import code_location, land, read_all, song_row, stream_csv, write_songs, write_users

DAY = "2024-06-01"
FILES, LISTENS = 4, 110  # 440 listens of the day in four files
BUCKET = "transient-lake"
SELECTION = [
    AssetKey(n) for n in ("songs", "users", "raw_streams", "validated_streams", "genre_daily_kpis", "dynamodb_daily_genre_kpis")
]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(faults, "BACKOFF_SECONDS", 0.01)


def land_day(lake: Lake) -> None:
    write_songs(lake, [song_row("s1", "pop"), song_row("s2", "rock")])
    write_users(lake, [f"u{i}" for i in range(LISTENS)])
    for f in range(FILES):
        rows = [(f"u{i}", "s1" if i % 2 else "s2", f"{DAY} {f + 10:02d}:{i // 60:02d}:{i % 60:02d}") for i in range(LISTENS)]
        land(lake, f"{layout.RAW_STREAMS}/part{f}.csv", stream_csv(rows))


def run(lake_uri: str, s3_endpoint: str | None = None):
    defs = code_location()
    resources = {
        "lake": LakeResource(uri=lake_uri, s3_endpoint=s3_endpoint),
        "engine": EngineResource(kind="duckdb", s3_endpoint=s3_endpoint),
        "dynamodb_tables": DynamoDBResource(),
    }
    return materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        resources=resources,
        partition_key=DAY,
        selection=SELECTION,
        raise_on_error=False,
    )


def published_listens() -> int:
    tables = ServingTables()
    tables.ensure()
    items = tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, DAY)
    return sum(int(i["listen_count"]) for i in items)


@pytest.fixture
def s3_lake(fresh_moto, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", fresh_moto)
    boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    with FaultProxy(fresh_moto) as proxy:
        lake = Lake(f"s3://{BUCKET}/lake", s3_endpoint=proxy.url)
        land_day(lake)
        yield proxy, lake


def test_s3_read_faults_fail_the_run_then_the_whole_day_is_published(s3_lake):
    proxy, lake = s3_lake
    # three of the four files cannot be read for as long as the fault lasts
    proxy.add(Fault.s3_status(503, "SlowDown", method="GET", path_contains="/raw/streams/part1", seconds=3600))
    proxy.add(Fault.s3_status(500, "InternalError", method="GET", path_contains="/raw/streams/part2", seconds=3600))
    proxy.add(Fault.s3_status(503, "SlowDown", method="GET", path_contains="/raw/streams/part3", seconds=3600))
    failed = run(lake.uri, proxy.url)
    assert not failed.success  # before: exit 0 with 110 listens published instead of 440
    assert published_listens() == 0  # nothing of the short day reached DynamoDB
    for f in (1, 2, 3):
        manifest = manifests.read_manifest(lake, f"{layout.RAW_STREAMS}/part{f}.csv")
        assert manifest is not None and manifest.status == "failed" and manifest.transient
    assert all(n >= faults.ATTEMPTS for n in proxy.fired.values())  # each was retried before giving up

    proxy.clear()  # the service recovers; the same command again, no manual step
    assert run(lake.uri, proxy.url).success
    assert published_listens() == FILES * LISTENS
    assert read_all(lake, "bronze/streams").num_rows == FILES * LISTENS


def test_a_fault_that_passes_within_the_retries_costs_nothing(s3_lake):
    proxy, lake = s3_lake
    proxy.add(Fault.s3_status(503, "SlowDown", method="GET", path_contains="/raw/streams/part0", times=faults.ATTEMPTS - 1))
    assert run(lake.uri, proxy.url).success
    assert published_listens() == FILES * LISTENS


def test_a_manifest_write_that_fails_after_the_slices_is_repaired_by_the_next_sync(s3_lake):
    proxy, lake = s3_lake

    def final_manifest_put(r: Request) -> bool:  # the manifest written after the slices, not the one before
        return r.method == "PUT" and f"/{layout.BRONZE_MANIFESTS}/" in r.path and b'"status": "ingested"' in r.body

    body = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
    proxy.add(
        Fault("manifest PUT -> 500", final_manifest_put, lambda r: Response(500, body, {"Content-Type": "application/xml"}))
    )
    bronze.sync_landed_streams(lake, keys=[f"{layout.RAW_STREAMS}/part0.csv"])
    first = manifests.read_manifest(lake, f"{layout.RAW_STREAMS}/part0.csv")
    assert first is not None and first.status == "failed" and first.transient and first.rows_by_day == {}
    assert read_all(lake, "bronze/streams").num_rows == LISTENS  # the slice is there, its manifest disagrees

    proxy.clear()
    report = bronze.sync_landed_streams(lake)  # the next sync: never `unchanged` for that key
    assert report.count("unchanged") == 0 and not report.failed
    repaired = manifests.read_manifest(lake, f"{layout.RAW_STREAMS}/part0.csv")
    assert repaired is not None and repaired.status == "ingested" and repaired.rows_by_day == {DAY: LISTENS}
    assert read_all(lake, "bronze/streams").num_rows == FILES * LISTENS


def test_a_full_disk_fails_the_run_then_the_whole_day_is_published(tmp_path, fresh_moto, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", fresh_moto)
    lake = Lake(str(tmp_path / "lake"))
    land_day(lake)
    real_writer = bronze._Staging.writer
    writes = {"n": 0}

    def full_disk(self, key, schema):
        writes["n"] += 1
        if "part2" in key or writes["n"] > 2:  # after two slices the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writer(self, key, schema)

    monkeypatch.setattr(bronze._Staging, "writer", full_disk)
    failed = run(lake.uri)
    assert not failed.success and published_listens() == 0  # before: exit 0, the day published short for ever
    monkeypatch.setattr(bronze._Staging, "writer", real_writer)  # space freed
    assert run(lake.uri).success
    assert published_listens() == FILES * LISTENS


def test_content_errors_are_not_transient():
    assert not faults.is_transient(bronze.UnreadableFile("missing required column track_id"))
    assert not faults.is_transient(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert faults.is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert faults.is_transient(OSError("AWS Error SLOW_DOWN during GetObject operation: injected"))
    assert not faults.is_transient(OSError("AWS Error ACCESS_DENIED during GetObject operation"))
