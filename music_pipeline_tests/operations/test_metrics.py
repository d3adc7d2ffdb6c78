"""CloudWatch metrics (issue 24 item 3): a real two-day run of the whole graph over the sample lake on a real
instance, then `metrics_sensor` ticked with build_sensor_context; moto's CloudWatch (in-process) must hold the
day's figures counted here from the lake's files and DynamoDB's items; a further tick sends the heartbeat
again and nothing twice. With the default settings of a folder lake the sensor is STOPPED and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import time

import boto3
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, DefaultSensorStatus

from music_pipeline.core import registry
from music_pipeline.core.settings import MetricsSettings
from music_pipeline.operations.metrics import SENSOR
from music_pipeline.operations.metrics.emitter import BATCH, MetricsEmitter
from music_pipeline.operations.metrics.names import METRICS, Datum
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import materialize_days
from music_pipeline_tests.operations_harness import OperationsHarness

DAYS = ("2024-06-02", "2024-06-03")
NAMESPACE = "MusicPipeline"


def rows_in(root, prefix: str, day: str) -> int:
    folder = root / prefix / f"date={day}"
    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet")) if folder.is_dir() else 0


def bytes_in(root, prefix: str, day: str) -> int:
    folder = root / prefix / f"date={day}"
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) if folder.is_dir() else 0


def values(cloudwatch, name: str, stat: str, **dimensions: str) -> list[float]:
    """The metric's statistic over the last hour, per minute (moto's CloudWatch)."""
    now = dt.datetime.now(dt.UTC)
    metric = {
        "Namespace": NAMESPACE,
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": metric, "Period": 60, "Stat": stat}}],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
    )
    return result["MetricDataResults"][0]["Values"]


def total(cloudwatch, name: str, **dimensions: str) -> float:
    return sum(values(cloudwatch, name, "Sum", **dimensions))


def count(cloudwatch, name: str, **dimensions: str) -> int:
    return int(sum(values(cloudwatch, name, "SampleCount", **dimensions)))


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:  # run-sharded SQLite, as `dagster dev`
        yield instance


def test_a_real_run_reaches_cloudwatch_once(small_sample, copy_lake, mocked_aws, instance):
    root = copy_lake(small_sample[0])
    harness = OperationsHarness(build_defs(str(root), None, MUSIC_PIPELINE_METRICS="on"), instance)
    assert harness.defs.resolve_sensor_def(SENSOR).default_status == DefaultSensorStatus.RUNNING
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    harness.tick_sensor(SENSOR)  # the first tick starts from now (history is not replayed)
    assert {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]} <= {
        "Heartbeat",
        "YesterdayPublicationLagSeconds",
    }
    assert materialize_days(root, DAYS[0], DAYS[-1], instance=instance).success
    harness.tick_sensor(SENSOR)

    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {m["MetricName"] for m in listed} == set(METRICS) - {"RunsFailed"}  # only declared ones; no run failed
    read_by_day = {d: rows_in(root, "bronze/streams", d) + rows_in(root, "bad-records/raw_streams", d) for d in DAYS}
    validated_by_day = {d: rows_in(root, "validated/streams", d) for d in DAYS}
    read, validated = sum(read_by_day.values()), sum(validated_by_day.values())
    assert read > validated > 0
    assert total(cloudwatch, "RowsRead") == read and count(cloudwatch, "RowsRead") == len(DAYS)
    assert total(cloudwatch, "RowsValidated") == validated
    assert total(cloudwatch, "RowsRejected") == read - validated  # nothing lost between them
    assert total(cloudwatch, "RejectedShare") == pytest.approx(
        sum((read_by_day[d] - validated_by_day[d]) / read_by_day[d] for d in DAYS), abs=1e-5
    )
    assert total(cloudwatch, "RunsSucceeded") == 1 and count(cloudwatch, "RunsFailed") == 0
    steps = {d["Value"] for m in listed if m["MetricName"] == "StepDurationSeconds" for d in m["Dimensions"]}
    assert {"raw_streams", "validated_streams", "dynamodb_daily_genre_kpis"} <= steps
    assert all(v >= 0 for v in values(cloudwatch, "StepDurationSeconds", "Minimum", Step="validated_streams"))

    serving = ServingTables()
    for spec in registry.SERVINGS:
        items = [i for i in serving.all_items(spec.table) if i.get("date") in DAYS]
        assert total(cloudwatch, "ItemsPublished", Table=spec.table.name) == len(items) > 0, spec.table.name
        lag = values(cloudwatch, "PublicationLagSeconds", "Minimum", Table=spec.table.name)
        end_of_last_day = dt.datetime(2024, 6, 4, tzinfo=dt.UTC).timestamp()
        assert min(lag) == pytest.approx(time.time() - end_of_last_day, abs=600)  # published minutes ago

    for name, column in (
        ("QualityCompleteness", "completeness"),
        ("QualityValidity", "validity"),
        ("QualityConsistency", "consistency"),
        ("QualityUniqueness", "uniqueness"),
        ("QualityTimelinessSeconds", "timeliness_seconds"),
    ):
        expected = sum(pq.read_table(root / f"processed/data_quality_daily/date={d}")[column][0].as_py() for d in DAYS)
        assert total(cloudwatch, name) == pytest.approx(expected), name
    assert total(cloudwatch, "BytesWritten", Step="validated_streams") == sum(
        bytes_in(root, "validated/streams", d) for d in DAYS
    )

    before = {m: count(cloudwatch, m) for m in METRICS}
    harness.tick_sensor(SENSOR)
    after = {m: count(cloudwatch, m) for m in METRICS}
    assert after["Heartbeat"] == before["Heartbeat"] + 1 == 3
    assert after["YesterdayPublicationLagSeconds"] == before["YesterdayPublicationLagSeconds"] + 1
    assert {m: n for m, n in after.items() if m not in ("Heartbeat", "YesterdayPublicationLagSeconds")} == {
        m: n for m, n in before.items() if m not in ("Heartbeat", "YesterdayPublicationLagSeconds")
    }  # nothing twice


def test_a_folder_lake_sends_nothing_by_default(tmp_path, mocked_aws, instance, monkeypatch):
    monkeypatch.delenv("MUSIC_PIPELINE_METRICS", raising=False)
    harness = OperationsHarness(build_defs(str(tmp_path / "lake"), None), instance)
    assert harness.defs.resolve_sensor_def(SENSOR).default_status == DefaultSensorStatus.STOPPED
    harness.tick_sensor(SENSOR)
    harness.tick_sensor(SENSOR)
    assert boto3.client("cloudwatch", region_name="us-east-1").list_metrics()["Metrics"] == []


class Recorder:
    def __init__(self):
        self.calls: list[dict] = []

    def put_metric_data(self, **call):
        self.calls.append(call)


def test_the_emitter_batches_and_drops_what_cloudwatch_would_refuse():
    now = time.time()
    client = Recorder()
    emitter = MetricsEmitter(MetricsSettings(enabled=True), client=client)
    data = [Datum("Heartbeat", 1, now - n) for n in range(2 * BATCH + 5)] + [Datum("Heartbeat", 1, now - 15 * 86400)]
    assert emitter.put(data, now) == (2 * BATCH + 5, 1)
    assert [len(c["MetricData"]) for c in client.calls] == [BATCH, BATCH, 5]
    assert {c["Namespace"] for c in client.calls} == {NAMESPACE}
    off = Recorder()
    assert MetricsEmitter(MetricsSettings(enabled=False), client=off).put(data, now) == (0, 0) and off.calls == []
    with pytest.raises(ValueError):
        Datum("ItemsPublished", 1, now)  # its Table dimension is missing
