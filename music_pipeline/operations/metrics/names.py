"""Every CloudWatch metric the pipeline emits: name -> unit and dimensions, in one constant (`METRICS`).

infra/monitoring.yaml's alarms and dashboard may only name metrics of this table
(music_pipeline_tests/operations/test_metrics_template.py); docs/monitoring.md describes each.
"""

from __future__ import annotations

from dataclasses import dataclass

# one unit per metric: CloudWatch keeps data of different units of one metric apart
COUNT, SECONDS, BYTES, NONE = "Count", "Seconds", "Bytes", "None"


@dataclass(frozen=True)
class Metric:
    unit: str
    dimensions: tuple[str, ...] = ()


METRICS: dict[str, Metric] = {
    # every tick of metrics_sensor: a dead daemon or code server shows as missing data
    "Heartbeat": Metric(COUNT),
    # every tick: how late yesterday's publication is (now - end of yesterday until all serving tables have it)
    "YesterdayPublicationLagSeconds": Metric(SECONDS),
    # per finished run
    "RunsSucceeded": Metric(COUNT),
    "RunsFailed": Metric(COUNT),
    "StepDurationSeconds": Metric(SECONDS, ("Step",)),
    # per materialized day
    "RowsRead": Metric(COUNT),  # raw_streams: the day's bronze rows + ingestion rejects
    "RowsValidated": Metric(COUNT),  # validated_streams
    "RowsRejected": Metric(COUNT),  # validated_streams: validation + ingestion rejects of the day
    "RejectedShare": Metric(NONE),  # validated_streams: rows rejected / rows read (0..1)
    "ItemsPublished": Metric(COUNT, ("Table",)),  # a serving asset: items written to its DynamoDB table
    "PublicationLagSeconds": Metric(SECONDS, ("Table",)),  # a serving asset: published at - (D+1 00:00 UTC)
    "BytesWritten": Metric(BYTES, ("Step",)),  # a lake asset: size of the day's files after the step
    "QualityCompleteness": Metric(NONE),  # data_quality_daily, 0..1
    "QualityValidity": Metric(NONE),
    "QualityConsistency": Metric(NONE),
    "QualityUniqueness": Metric(NONE),
    "QualityTimelinessSeconds": Metric(SECONDS),
}

# data_quality_daily's per-day metadata key -> metric
SCORECARD_METRICS = {
    "completeness": "QualityCompleteness",
    "validity": "QualityValidity",
    "consistency": "QualityConsistency",
    "uniqueness": "QualityUniqueness",
    "timeliness_seconds": "QualityTimelinessSeconds",
}


@dataclass(frozen=True)
class Datum:
    """One data point: a metric of `METRICS`, its value, when (epoch seconds) and its dimension values."""

    name: str
    value: float
    timestamp: float
    dimensions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        metric = METRICS[self.name]  # an unknown name fails here, not in CloudWatch
        if tuple(d for d, _ in self.dimensions) != metric.dimensions:
            raise ValueError(f"{self.name}: dimensions {self.dimensions} != {metric.dimensions}")
