"""CloudWatch metrics of the pipeline (issue 24): `metrics_sensor` sends what the Dagster instance recorded.

names.py: every metric (the one list infra/monitoring.yaml may use); emitter.py: PutMetricData, or nothing
when off; collect.py: runs and materialized days as data points; sensor.py: the sensor and its cursor.
"""

from music_pipeline.operations.metrics.sensor import SENSOR, metrics_sensor

__all__ = ["SENSOR", "metrics_sensor"]
