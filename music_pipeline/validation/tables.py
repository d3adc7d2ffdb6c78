"""The validation domain's tables: `validated_streams` and the rows validate_streams.sql rejects."""

import pyarrow as pa

from music_pipeline.core.specs import CheckSpec, LakeTable, ValidatingStep, conserved

# rows rejected by validate_streams.sql -> bad-records/validated_streams/date=D/data.parquet
STREAM_REJECTS = LakeTable(
    name="stream_rejects",
    prefix="bad-records/validated_streams",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("user_id", pa.string()),
            ("track_id", pa.string()),
            ("listen_time", pa.timestamp("us")),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
            ("reason", pa.string()),
        ]
    ),
)

VALIDATED_STREAMS = ValidatingStep(
    name="validated_streams",
    prefix="validated/streams",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("user_id", pa.string()),
            ("track_id", pa.string()),
            ("listen_time", pa.timestamp("us")),
            ("genre", pa.string()),
            ("listening_time_ms", pa.int64()),
            ("stream_id", pa.string()),
            ("completed", pa.bool_()),
            ("device_type", pa.string()),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    ),
    model="ValidatedStreams",
    key=("user_id", "track_id", "listen_time"),
    group="validation",
    sql="validate_streams",
    kept_sql="kept_streams",
    repeated_values=(("repeated_listen_hashes", "listen_key_hashes"),),
    inputs=("raw_streams", "songs", "users"),
    rejects=STREAM_REJECTS,
    glue_job="validation",
    checks=(
        conserved("Bronze rows of the day = validated + rejected listens (per day and per file)."),
        CheckSpec("known_references", "Every validated listen's track is in songs (with the same genre) and its user in users."),
        CheckSpec(
            "rejected_share",
            "Rejected rows of the day (ingestion + validation) / rows read stay at or "
            "below MUSIC_PIPELINE_MAX_REJECTED_SHARE (default 0.05); above it the day is "
            "held: nothing of it flows on to the gold tables and DynamoDB.",
        ),
        CheckSpec(
            "near_duplicates",
            "WARN when the same user plays the same track again within "
            "MUSIC_PIPELINE_NEAR_DUPLICATE_SECONDS seconds (default 5).",
            blocking=False,
            severity="WARN",
        ),
        CheckSpec(
            "volume_anomaly",
            "WARN when the day's rows read (bronze + ingestion rejects) are below MUSIC_PIPELINE_VOLUME_LOW (0.5) or "
            "above MUSIC_PIPELINE_VOLUME_HIGH (2.0) times the median of the previous MUSIC_PIPELINE_VOLUME_HISTORY_DAYS "
            "(7) published days with data; with fewer than MUSIC_PIPELINE_VOLUME_MIN_HISTORY (3) such days it passes.",
            blocking=False,
            severity="WARN",
        ),
        CheckSpec(
            "listens_longer_than_track",
            "WARN when a listen's own duration is longer than its track.",
            blocking=False,
            severity="WARN",
        ),
    ),
    description="Typed, de-duplicated, reference-checked listens of the day (validate_streams.sql); every other "
    "bronze row is in bad-records/validated_streams with its reason.",
)
