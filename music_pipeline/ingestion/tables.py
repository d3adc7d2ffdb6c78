"""The ingestion domain's tables: `raw_streams` (bronze slices of landed files) and the rows ingestion
cannot read. The landed file's columns and aliases are in `core/contracts.py`."""

import pyarrow as pa

from music_pipeline.core.specs import DAY_SLICES, IngestedTable, LakeTable, conserved

# rows rejected while reading a landed file -> bad-records/raw_streams/date=D|unknown/file=<id>.parquet
INGEST_REJECTS = LakeTable(
    name="ingest_rejects",
    prefix="bad-records/raw_streams",
    layout=DAY_SLICES,
    contract=pa.schema(
        [
            ("date", pa.date32()),  # the UTC day of a readable listen_time (malformed lines too), else null
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
            ("reason", pa.string()),
            ("detail", pa.string()),
            ("record", pa.string()),  # the raw line (undecodable bytes shown as U+FFFD)
        ]
    ),
)

# landed file -> bronze/streams/date=D/file=<id>.parquet
RAW_STREAMS = IngestedTable(
    name="raw_streams",
    prefix="bronze/streams",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("user_id", pa.string()),
            ("track_id", pa.string()),
            ("listen_time", pa.timestamp("us")),
            ("listen_duration_ms", pa.int64()),  # from the file's own `duration` column, else null
            ("stream_id", pa.string()),  # trimmed; null when absent or blank
            ("completed", pa.bool_()),  # null = unknown
            ("device_type", pa.string()),  # trimmed, lower-cased; 'unknown' when blank or absent
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    ),
    layout=DAY_SLICES,
    model="BronzeStreams",
    key=("source_file", "source_line"),
    group="ingestion",
    view="bronze_streams",
    rejects=INGEST_REJECTS,
    checks=(
        conserved(
            "For every landed file with rows in the day: its manifest's rows of the day = its bronze "
            "slice rows, its rejects = its bad-records rows, and rows read = bronze rows + rejects over "
            "all days."
        ),
    ),
    description="Bronze slices of the day: every landed file under raw/streams is read once per content "
    "(a plain CSV file by DuckDB's parallel reader, any other by the careful pyarrow reader, RFC 4180), split by the "
    "UTC day of listen_time; unreadable lines go to bad-records/raw_streams.",
)
