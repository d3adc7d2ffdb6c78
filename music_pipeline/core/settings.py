"""Typed settings from the environment (docs/design.md section 7): every variable the project reads, once.

`Settings.from_env()` is the only place that reads `os.environ` (besides the CLI entry point, which
sets variables for the processes it launches). Nothing reads it at import time: the code location
builds its definitions from one `Settings` (`definitions.build_definitions`), and tests build other
settings in-process with `Settings.from_env({...})` or `dataclasses.replace`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from music_pipeline.core.layout import IGNORED_SUFFIXES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENGINES = ("duckdb", "spark", "glue")
DEFAULT_GLUE_JOB_PREFIX = "music-pipeline-"


# stream_files_sensor's interval on a folder lake: the sensor daemon's loop time (dagster/_daemon/sensor.py evaluates
# sensors at most every 5 s), so a landed file waits 2.5 s for its tick on average instead of half of 30 s
LOCAL_STREAM_INTERVAL_SECONDS = 5


@dataclass(frozen=True)
class ArrivalSettings:
    """How the arrival sensors behave (README, "Arrival-driven operation")."""

    interval_seconds: int = 30
    # stream_files_sensor's own interval (MUSIC_PIPELINE_STREAM_SENSOR_INTERVAL_SECONDS): a folder lake's listing costs
    # no request, so there it ticks at the daemon's loop (LOCAL_STREAM_INTERVAL_SECONDS); on S3, `interval_seconds`
    stream_interval_seconds: int = 30
    # a claimed batch of at most this many bytes is ingested in the sensor's tick, not in a run (ingestion/in_tick.py);
    # 0: never (MUSIC_PIPELINE_INLINE_INGEST_BYTES; `music-pipeline dev` sets 256 kB)
    inline_ingest_bytes: int = 0
    max_files_per_run: int = 100
    max_runs_per_tick: int = 20
    rescan_seconds: float = 300
    claim_timeout_seconds: float = 900
    # a file failing for a reason that passes is ingested again by the sensor, at most `file_retries` ingestions in
    # all, `file_retry_seconds` after the first failure, doubling; then it is `failed` (one alert) until retried by hand
    file_retries: int = 5
    file_retry_seconds: float = 60
    running_by_default: bool = True  # MUSIC_PIPELINE_AUTOMATION: on/off; default on for a folder lake
    ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES  # names that are not finished deliveries
    queue_url: str | None = None  # S3 event notifications of raw/streams (SQS): ticks read it instead of listing
    queue_wait_seconds: int = 10  # long poll of the queue's first receive in a tick


@dataclass(frozen=True)
class Thresholds:
    """Limits of the data quality checks."""

    max_rejected_share: float = 0.05
    near_duplicate_seconds: int = 5
    # volume_anomaly: a day's rows read against the median of the previous published days with data
    volume_low: float = 0.5  # below this share of the median: anomaly
    volume_high: float = 2.0  # above this multiple of the median: anomaly
    volume_history_days: int = 7  # the previous published days with data the median is taken over
    volume_min_history: int = 3  # fewer earlier days with data: not enough history, the check passes


@dataclass(frozen=True)
class GlueSettings:
    job_prefix: str = DEFAULT_GLUE_JOB_PREFIX
    pipes_uri: str | None = None  # default <lake>/_pipes (needs an S3 lake)
    role: str | None = None  # IAM role of the jobs, for `music-pipeline deploy`


@dataclass(frozen=True)
class CatalogSettings:
    """The Glue Data Catalog of the lake (lake/catalog.py): its database, and whether `doctor` checks it and
    `deploy` keeps it (MUSIC_PIPELINE_CATALOG on/off; default on for an S3 lake, off for a folder lake)."""

    database: str = "music_pipeline"  # MUSIC_PIPELINE_GLUE_DATABASE
    enabled: bool = False


@dataclass(frozen=True)
class AlertSettings:
    sns_topic_arn: str | None = None
    webhook_url: str | None = None
    webserver_url: str = "http://127.0.0.1:3000"  # MUSIC_PIPELINE_WEBSERVER_URL: base of the run links in alerts


@dataclass(frozen=True)
class OperationSettings:
    """Freshness expectation, the daily schedule and the healing of the serving tables (README, "Operating it")."""

    freshness_deadline: dt.time = dt.time(6, 0)  # the serving assets of day D by this UTC time of day D+1
    schedule_time: dt.time = dt.time(1, 0)  # the daily schedule materializes yesterday at this UTC time
    schedule_running_by_default: bool = False  # MUSIC_PIPELINE_DAILY_SCHEDULE on/off; default: on when sensors are off
    healing_interval_seconds: int = 300  # MUSIC_PIPELINE_HEALING_INTERVAL_SECONDS: how often serving_healing_sensor verifies
    healing_days: int = 7  # MUSIC_PIPELINE_HEALING_DAYS: the latest published days it compares with the gold each tick
    healing_running_by_default: bool = True  # MUSIC_PIPELINE_HEALING on/off: default status of serving_healing_sensor


@dataclass(frozen=True)
class MetricsSettings:
    """CloudWatch metrics of `metrics_sensor` (docs/monitoring.md): off unless enabled, so the local stack
    sends nothing anywhere."""

    enabled: bool = False  # MUSIC_PIPELINE_METRICS on/off; default on for an s3:// lake, off for a folder lake
    namespace: str = "MusicPipeline"  # MUSIC_PIPELINE_METRICS_NAMESPACE
    endpoint: str | None = None  # AWS_ENDPOINT_URL_CLOUDWATCH (or AWS_ENDPOINT_URL)


@dataclass(frozen=True)
class Settings:
    lake: str = str(PROJECT_ROOT / ".data" / "lake")
    engine: str = "duckdb"
    table_prefix: str = ""
    start_date: dt.date = dt.date(2024, 1, 1)
    dynamodb_endpoint: str | None = None
    s3_endpoint: str | None = None
    region: str = "us-east-1"
    duckdb_memory_limit: str | None = None
    range_chunk_days: int | None = None  # days per engine step in a range run; None: the engine's default
    session_gap_minutes: int = 30
    kpi_retention_days: int = 365
    thresholds: Thresholds = field(default_factory=Thresholds)
    arrival: ArrivalSettings = field(default_factory=ArrivalSettings)
    glue: GlueSettings = field(default_factory=GlueSettings)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    operations: OperationSettings = field(default_factory=OperationSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    def chunk_days(self, engine: str) -> int:
        """Days a step of `engine` processes at once in a range run (0: the whole range). DuckDB goes one
        day at a time, so a range run's memory is one day's whatever its length; Spark (local or Glue)
        takes the whole range in one job: it spills to disk within its executors' memory by itself, and each
        job pays start-up (seconds locally, about a minute for a Glue job run)."""
        if self.range_chunk_days is not None:
            return self.range_chunk_days
        return 1 if engine == "duckdb" else 0

    @property
    def lake_is_local(self) -> bool:
        return not self.lake.startswith("s3://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        engine = env.text("MUSIC_PIPELINE_ENGINE", "duckdb").lower()
        if engine not in ENGINES:
            raise ValueError(f"MUSIC_PIPELINE_ENGINE={engine!r}: expected one of {', '.join(ENGINES)}")
        lake = env.text("MUSIC_PIPELINE_LAKE", "") or cls.lake
        automation = env.text("MUSIC_PIPELINE_AUTOMATION", "").lower()
        if automation not in ("", "on", "off"):
            raise ValueError(f"MUSIC_PIPELINE_AUTOMATION={automation!r}: expected on or off")
        ignored = env.text("MUSIC_PIPELINE_IGNORED_SUFFIXES", ",".join(IGNORED_SUFFIXES))
        interval = env.integer("MUSIC_PIPELINE_SENSOR_INTERVAL_SECONDS", 30, minimum=1)
        sensors_on = automation == "on" or (automation == "" and not lake.startswith("s3://"))
        schedule = env.text("MUSIC_PIPELINE_DAILY_SCHEDULE", "").lower()
        healing = env.text("MUSIC_PIPELINE_HEALING", "on").lower()
        if healing not in ("on", "off"):
            raise ValueError(f"MUSIC_PIPELINE_HEALING={healing!r}: expected on or off")
        if schedule not in ("", "on", "off"):
            raise ValueError(f"MUSIC_PIPELINE_DAILY_SCHEDULE={schedule!r}: expected on or off")
        metrics = env.text("MUSIC_PIPELINE_METRICS", "").lower()
        if metrics not in ("", "on", "off"):
            raise ValueError(f"MUSIC_PIPELINE_METRICS={metrics!r}: expected on or off")
        catalog = env.text("MUSIC_PIPELINE_CATALOG", "").lower()
        if catalog not in ("", "on", "off"):
            raise ValueError(f"MUSIC_PIPELINE_CATALOG={catalog!r}: expected on or off")
        return cls(
            lake=lake,
            engine=engine,
            table_prefix=env.text("MUSIC_PIPELINE_TABLE_PREFIX", ""),
            start_date=env.date("MUSIC_PIPELINE_START_DATE", cls.start_date),
            dynamodb_endpoint=env.text("AWS_ENDPOINT_URL_DYNAMODB", "") or env.text("AWS_ENDPOINT_URL", "") or None,
            s3_endpoint=env.text("AWS_ENDPOINT_URL_S3", "") or env.text("AWS_ENDPOINT_URL", "") or None,
            region=env.text("AWS_REGION", "") or env.text("AWS_DEFAULT_REGION", "") or "us-east-1",
            duckdb_memory_limit=_memory_size(env.text("MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT", "")) or None,
            range_chunk_days=(
                env.integer("MUSIC_PIPELINE_RANGE_CHUNK_DAYS", 0, minimum=0)
                if env.text("MUSIC_PIPELINE_RANGE_CHUNK_DAYS", "")
                else None
            ),
            session_gap_minutes=env.integer("MUSIC_PIPELINE_SESSION_GAP_MINUTES", 30, minimum=1),
            kpi_retention_days=env.integer("MUSIC_PIPELINE_KPI_RETENTION_DAYS", 365, minimum=1),
            thresholds=Thresholds(
                max_rejected_share=env.share("MUSIC_PIPELINE_MAX_REJECTED_SHARE", 0.05),
                near_duplicate_seconds=env.integer("MUSIC_PIPELINE_NEAR_DUPLICATE_SECONDS", 5, minimum=0),
                volume_low=env.number("MUSIC_PIPELINE_VOLUME_LOW", 0.5),
                volume_high=env.number("MUSIC_PIPELINE_VOLUME_HIGH", 2.0),
                volume_history_days=env.integer("MUSIC_PIPELINE_VOLUME_HISTORY_DAYS", 7, minimum=1),
                volume_min_history=env.integer("MUSIC_PIPELINE_VOLUME_MIN_HISTORY", 3, minimum=1),
            ),
            arrival=ArrivalSettings(
                interval_seconds=interval,
                stream_interval_seconds=env.integer(
                    "MUSIC_PIPELINE_STREAM_SENSOR_INTERVAL_SECONDS",
                    interval if lake.startswith("s3://") else LOCAL_STREAM_INTERVAL_SECONDS,
                    minimum=1,
                ),
                inline_ingest_bytes=env.integer("MUSIC_PIPELINE_INLINE_INGEST_BYTES", 0, minimum=0),
                max_files_per_run=env.integer("MUSIC_PIPELINE_MAX_FILES_PER_RUN", 100, minimum=1),
                rescan_seconds=env.number("MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS", 300),
                claim_timeout_seconds=env.number("MUSIC_PIPELINE_CLAIM_TIMEOUT_SECONDS", 900),
                file_retries=env.integer("MUSIC_PIPELINE_FILE_RETRIES", 5, minimum=1),
                file_retry_seconds=env.number("MUSIC_PIPELINE_FILE_RETRY_SECONDS", 60),
                running_by_default=sensors_on,
                ignored_suffixes=tuple(s.strip() for s in ignored.split(",") if s.strip()),
                queue_url=env.text("MUSIC_PIPELINE_ARRIVAL_QUEUE_URL", "") or None,
                queue_wait_seconds=env.integer("MUSIC_PIPELINE_ARRIVAL_QUEUE_WAIT_SECONDS", 10, minimum=0),
            ),
            glue=GlueSettings(
                job_prefix=env.text("MUSIC_PIPELINE_GLUE_JOB_PREFIX", "") or DEFAULT_GLUE_JOB_PREFIX,
                pipes_uri=env.text("MUSIC_PIPELINE_GLUE_PIPES_URI", "") or None,
                role=env.text("MUSIC_PIPELINE_GLUE_ROLE", "") or None,
            ),
            catalog=CatalogSettings(
                database=env.text("MUSIC_PIPELINE_GLUE_DATABASE", "") or CatalogSettings.database,
                enabled=catalog == "on" or (catalog == "" and lake.startswith("s3://")),
            ),
            alerts=AlertSettings(
                sns_topic_arn=env.text("MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN", "") or None,
                webhook_url=env.text("MUSIC_PIPELINE_ALERT_WEBHOOK_URL", "") or None,
                webserver_url=(env.text("MUSIC_PIPELINE_WEBSERVER_URL", "") or AlertSettings.webserver_url).rstrip("/"),
            ),
            operations=OperationSettings(
                freshness_deadline=env.time_of_day("MUSIC_PIPELINE_FRESHNESS_DEADLINE", OperationSettings.freshness_deadline),
                schedule_time=env.time_of_day("MUSIC_PIPELINE_SCHEDULE_TIME", OperationSettings.schedule_time),
                schedule_running_by_default=schedule == "on" or (schedule == "" and not sensors_on),
                healing_interval_seconds=env.integer("MUSIC_PIPELINE_HEALING_INTERVAL_SECONDS", 300, minimum=1),
                healing_days=env.integer("MUSIC_PIPELINE_HEALING_DAYS", 7, minimum=1),
                healing_running_by_default=healing == "on",
            ),
            metrics=MetricsSettings(
                enabled=metrics == "on" or (metrics == "" and lake.startswith("s3://")),
                namespace=env.text("MUSIC_PIPELINE_METRICS_NAMESPACE", "") or MetricsSettings.namespace,
                endpoint=env.text("AWS_ENDPOINT_URL_CLOUDWATCH", "") or env.text("AWS_ENDPOINT_URL", "") or None,
            ),
        )


class _Env:
    """Typed reads of variables, each error naming the variable and what it expects."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def text(self, name: str, default: str) -> str:
        return self.env.get(name, default).strip()

    def date(self, name: str, default: dt.date) -> dt.date:
        value = self.text(name, default.isoformat())
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{name}={value!r} is not an ISO date (YYYY-MM-DD)") from exc

    def time_of_day(self, name: str, default: dt.time) -> dt.time:
        """A UTC time of day written HH:MM."""
        value = self.text(name, default.strftime("%H:%M"))
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f"{name}={value!r} is not a UTC time of day HH:MM (e.g. 06:00)")
        return dt.time(int(match.group(1)), int(match.group(2)))

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self.text(name, str(default))
        if not re.fullmatch(r"\d+", value) or (minimum is not None and int(value) < minimum):
            raise ValueError(f"{name}={value!r} is not a whole number" + (f" >= {minimum}" if minimum else ""))
        return int(value)

    def number(self, name: str, default: float) -> float:
        value = self.text(name, str(default))
        try:
            number = float(value)
        except ValueError as exc:
            raise ValueError(f"{name}={value!r} is not a number") from exc
        if number < 0:
            raise ValueError(f"{name}={value!r} must not be negative")
        return number

    def share(self, name: str, default: float) -> float:
        value = self.text(name, str(default))
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not 0 <= share <= 1:
            raise ValueError(f"{name}={value!r} is not a number between 0 and 1")
        return share


def _memory_size(value: str) -> str:
    """'' (DuckDB's default, 80% of RAM) or a DuckDB size such as '4GB' / '512MiB'."""
    if value and not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", value, flags=re.IGNORECASE):
        raise ValueError(f"MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT={value!r}: expected a size such as 4GB or 512MiB")
    return value
