"""The event-driven arrival path (issue 25 item 3): S3 notifies the arrival queue (SQS) of each file written
under raw/streams/, and stream_files_sensor claims the notified keys through the ledger instead of listing the
landing zone between rescans. A message delivered twice, a message for a key that does not exist and S3's test
event claim nothing and are deleted; a message that is not an S3 notification is left for the dead-letter
queue; a file whose notification was lost is found by the next rescan. Real sensor ticks and runs, S3, SQS and
DynamoDB on a moto server (S3 sends the notifications itself)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from music_pipeline.core import layout
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.ingestion.notifications import landed_keys
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations_harness import OperationsHarness

BUCKET, DAY = "arrival-queue-lake", "2024-06-01"
RESCAN_SECONDS = 300


def notification(key: str, bucket: str = BUCKET, event: str = "ObjectCreated:Put") -> str:
    return json.dumps({"Records": [{"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


def test_s3_notifications_are_read_as_lake_keys():
    assert landed_keys(notification("raw/streams/day+one/a%2Bb.csv"), BUCKET) == ("raw/streams/day one/a+b.csv",)
    assert landed_keys(notification("lake/raw/streams/a.csv"), BUCKET, "/lake") == ("raw/streams/a.csv",)
    assert landed_keys(notification("raw/streams/a.csv", bucket="another"), BUCKET) == ()
    assert landed_keys(notification("raw/streams/a.csv", event="ObjectRemoved:Delete"), BUCKET) == ()
    assert landed_keys(notification("bronze/streams/x.parquet"), BUCKET) == ()
    assert landed_keys(notification("raw/streams/2024/"), BUCKET) == ()  # a folder marker
    assert landed_keys(json.dumps({"Event": "s3:TestEvent", "Bucket": BUCKET}), BUCKET) == ()
    assert landed_keys("hello", BUCKET) is None and landed_keys(json.dumps({"Records": [{}]}), BUCKET) is None


@pytest.fixture
def queued_lake(fresh_moto, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", fresh_moto)
    s3 = boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=fresh_moto, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    queue = sqs.create_queue(QueueName="arrival", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(  # what infra/cloudformation.yaml declares on the lake bucket
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/streams/"}]}},
                }
            ]
        },
    )
    lake = Lake(f"s3://{BUCKET}", s3_endpoint=fresh_moto)
    write_songs(lake, [song_row("s1", "pop"), song_row("s2", "rock")])
    write_users(lake, ["u1", "u2"])
    defs = build_defs(
        lake.uri,
        fresh_moto,
        s3_endpoint=fresh_moto,
        MUSIC_PIPELINE_LAKE=lake.uri,
        MUSIC_PIPELINE_ARRIVAL_QUEUE_URL=queue,
        MUSIC_PIPELINE_ARRIVAL_QUEUE_WAIT_SECONDS="0",
        MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS=str(RESCAN_SECONDS),
    )
    h = OperationsHarness(defs, DagsterInstance.ephemeral())
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    assert materialize(
        everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs"), AssetKey("users")]
    ).success
    yield h, lake, s3, sqs, queue, fresh_moto


def rescanned(h: OperationsHarness, at: float) -> None:
    """Set when stream_files_sensor last listed the whole landing zone (its cursor's `rescanned_at`)."""
    cursor = json.loads(h.sensor_cursor or "{}")
    h.sensor_cursor = json.dumps({**cursor, "rescanned_at": at})


def waiting(sqs, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_notified_files_are_claimed_once_and_lost_ones_by_the_rescan(queued_lake):
    h, lake, s3, sqs, queue, endpoint = queued_lake
    ledger, tables = Ledger(ServingTables(endpoint_url=endpoint)), ServingTables(endpoint_url=endpoint)
    h.tick()  # the first tick is a rescan (nothing landed yet); from now on the queue replaces the listing
    sqs.purge_queue(QueueUrl=queue)  # S3's test event of the configuration (moto sends one)

    a = f"{layout.RAW_STREAMS}/a.csv"
    land(lake, a, stream_csv([("u1", "s1", f"{DAY} 08:00:00"), ("u2", "s2", f"{DAY} 09:00:00")]))  # S3 notifies
    body = notification(a)
    sqs.send_message(QueueUrl=queue, MessageBody=body)  # delivered twice
    sqs.send_message(QueueUrl=queue, MessageBody=notification(f"{layout.RAW_STREAMS}/never-landed.csv"))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Event": "s3:TestEvent", "Bucket": BUCKET}))
    sqs.send_message(QueueUrl=queue, MessageBody="not a notification")
    assert waiting(sqs, queue) >= 5  # S3 notified the landing too

    h.tick()
    assert [r.job_name for _, r in h.launched[-2:]] == ["ingest_stream_files", "stream_days_job"]
    ingest = [r for _, r in h.launched if r.job_name == "ingest_stream_files"]
    assert len(ingest) == 1 and set(ingest[0].run_config["ops"]["ingest_claimed_files"]["config"]["files"]) == {a}
    assert ledger.get(a)["status"] == "ingested" and ledger.get(f"{layout.RAW_STREAMS}/never-landed.csv") is None
    kpis = tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, DAY)
    assert sorted((i["genre"], int(i["listen_count"])) for i in kpis) == [("pop", 1), ("rock", 1)]
    left = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == ["not a notification"]  # the rest was deleted; this one goes to the DLQ

    # a file whose notification is lost is not listed between rescans, and is found by the next rescan
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={})
    b = f"{layout.RAW_STREAMS}/b.csv"
    land(lake, b, stream_csv([("u1", "s2", f"{DAY} 10:00:00")]))
    launched = len(h.launched)
    rescanned(h, at=time.time())  # the last rescan was just now
    h.tick()
    assert ledger.get(b) is None and not [r for _, r in h.launched[launched:] if r.job_name == "ingest_stream_files"]
    rescanned(h, at=time.time() - RESCAN_SECONDS)  # the rescan interval has passed
    h.tick()
    assert ledger.get(b)["status"] == "ingested"
    kpis = tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, DAY)
    assert sorted((i["genre"], int(i["listen_count"])) for i in kpis) == [("pop", 1), ("rock", 2)]
