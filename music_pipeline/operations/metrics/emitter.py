"""Sending data points to CloudWatch with PutMetricData, or nothing at all when metrics are off.

Off (`MUSIC_PIPELINE_METRICS=off`, the default for a folder lake) the emitter builds no client and sends
nothing, so the local stack never talks to CloudWatch. On, data points go in batches of at most
`BATCH` (PutMetricData's limit is 1000 per call and 1 MB). CloudWatch refuses points older than two
weeks: those are dropped (and counted) rather than failing every tick after a long pause of the sensor.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

from music_pipeline.core.settings import MetricsSettings
from music_pipeline.lake import aws
from music_pipeline.operations.metrics.names import METRICS, Datum

BATCH = 1000
MAX_AGE_SECONDS = 14 * 24 * 3600 - 3600  # CloudWatch accepts up to two weeks back (one hour of margin)


class MetricsEmitter:
    def __init__(self, settings: MetricsSettings, region: str | None = None, client=None):
        self.settings = settings
        self.region = region
        self._client = client

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def client(self):
        if self._client is None:
            self._client = aws.cloudwatch(self.settings.endpoint, self.region)
        return self._client

    def put(self, data: Sequence[Datum], now: float | None = None) -> tuple[int, int]:
        """Send the data points; returns (sent, dropped as too old). Nothing is sent when disabled."""
        if not self.enabled or not data:
            return 0, 0
        oldest = (now if now is not None else time.time()) - MAX_AGE_SECONDS
        fresh = [d for d in data if d.timestamp >= oldest]
        for start in range(0, len(fresh), BATCH):
            self.client().put_metric_data(
                Namespace=self.settings.namespace, MetricData=[as_metric_datum(d) for d in fresh[start : start + BATCH]]
            )
        return len(fresh), len(data) - len(fresh)


def as_metric_datum(datum: Datum) -> dict:
    """A data point in PutMetricData's shape (unit from `METRICS`)."""
    return {
        "MetricName": datum.name,
        "Dimensions": [{"Name": name, "Value": value} for name, value in datum.dimensions],
        "Timestamp": dt.datetime.fromtimestamp(datum.timestamp, tz=dt.UTC),
        "Value": float(datum.value),
        "Unit": METRICS[datum.name].unit,
    }
