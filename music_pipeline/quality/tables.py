"""The quality domain's table: `data_quality_daily`, the day's data-quality scorecard (scorecard.py)."""

import pyarrow as pa

from music_pipeline.core.specs import AssetTable

DATA_QUALITY_DAILY = AssetTable(
    name="data_quality_daily",
    prefix="processed/data_quality_daily",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("rows_read", pa.int64()),  # bronze rows + ingestion rejects of the day
            ("rows_validated", pa.int64()),
            ("rows_rejected", pa.int64()),  # ingestion + validation rejects of the day
            ("completeness", pa.float64()),  # 1 - missing required field / rows read
            ("validity", pa.float64()),  # 1 - malformed, unparseable or out of range / rows read
            ("consistency", pa.float64()),  # 1 - unknown track or user / rows read
            ("uniqueness", pa.float64()),  # 1 - duplicate listens / rows read
            ("latest_landing_at", pa.timestamp("us")),  # the latest landing of a file with rows of the day (UTC)
            ("timeliness_seconds", pa.float64()),  # latest landing of a file of the day -> DailyGenreKPIs published
            ("rejected_by_reason", pa.string()),  # JSON object reason -> rows
        ]
    ),
    model="DataQualityDaily",
    key=("date",),
    group="quality",
    inputs=("validated_streams",),
    headline=tuple(
        (name, "first", name) for name in ("completeness", "validity", "consistency", "uniqueness", "timeliness_seconds")
    ),
    description="The day's data-quality scorecard from its own counts (rows read = bronze rows + ingestion rejects): "
    "completeness, validity, consistency and uniqueness = 1 - the share of rows read rejected for that kind of reason; "
    "timeliness_seconds = from the latest landing of a file of the day to the day's DailyGenreKPIs publication. "
    "A day with no rows read has no row.",
)
