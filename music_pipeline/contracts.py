"""Column contracts of every lake table: the one source of truth for names, types and reasons.

Engines write these schemas, ingestion produces them, checks validate against them. Timestamps
are naive and mean UTC (DESIGN.md section 3); `date` is the UTC day of `listen_time` and is stored
inside every partitioned file as well as in its `date=D` folder name.
"""

from __future__ import annotations

import pyarrow as pa

CONTRACT_VERSION = "2"  # 2: optional listen columns, reference shapes, engagement/artist/platform tables

# Column aliases normalized at ingestion (DESIGN.md section 3): the one place where a landed
# file's names and units meet the bronze contract (stream_typing.type_stream_batch applies the units).
STREAM_COLUMN_ALIASES = {"song_id": "track_id", "timestamp": "listen_time"}
STREAM_REQUIRED_COLUMNS = ("user_id", "track_id", "listen_time")
STREAM_DURATION_COLUMN = "duration"  # optional, seconds -> bronze listen_duration_ms
STREAM_OPTIONAL_COLUMNS = ("stream_id", STREAM_DURATION_COLUMN, "completed", "device_type")
STREAM_DURATION_MAX_SECONDS = 86_400  # 0 <= duration <= 24 h, else invalid_duration
STREAM_COMPLETED_TRUE = ("true", "1", "yes", "t")  # any case, surrounding blanks ignored
STREAM_COMPLETED_FALSE = ("false", "0", "no", "f")
STREAM_UNKNOWN_DEVICE = "unknown"  # device_type when blank or absent
STREAM_FUTURE_TOLERANCE_SECONDS = 86_400  # a listen later than its file's landing time + 24 h is future


class Reason:
    """Reject reasons written to bad-records. Ingestion and SQL use exactly these strings."""

    MALFORMED_LINE = "malformed_line"
    BAD_ENCODING = "bad_encoding"
    UNPARSEABLE_LISTEN_TIME = "unparseable_listen_time"
    INVALID_DURATION = "invalid_duration"
    INVALID_COMPLETED = "invalid_completed"
    FUTURE_LISTEN_TIME = "future_listen_time"
    BEFORE_START_DATE = "before_start_date"
    MISSING_USER_ID = "missing_user_id"
    MISSING_TRACK_ID = "missing_track_id"
    UNKNOWN_TRACK_ID = "unknown_track_id"
    UNKNOWN_USER_ID = "unknown_user_id"
    DUPLICATE_LISTEN = "duplicate_listen"
    # reference data
    MISSING_GENRE = "missing_genre"
    INVALID_DURATION_MS = "invalid_duration_ms"
    DUPLICATE_TRACK_ID = "duplicate_track_id"
    DUPLICATE_USER_ID = "duplicate_user_id"


# landed file -> bronze/streams/date=D/file=<id>.parquet
BRONZE_STREAMS = pa.schema(
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
)

# rows rejected while reading a landed file -> bad-records/raw_streams/date=D|unknown/file=<id>.parquet
INGEST_REJECTS = pa.schema(
    [
        ("date", pa.date32()),  # the UTC day of a readable listen_time (malformed lines too), else null
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("record", pa.string()),  # the raw line (undecodable bytes shown as U+FFFD)
    ]
)

# A reference CSV comes in one of two shapes, recognised by its header (DESIGN.md section 3): the
# 21-column Spotify songs / lab users shape, or a short shape. Each maps its columns onto one
# canonical set of text columns (absent ones null); `reference.py` stages them into
# bronze/<songs|users>/data.parquet and the SQL types them. Lines that could not be read carry
# `ingest_reason` and their raw text in `record`, so that one SQL output holds every rejected row.
SONG_COLUMNS = ("track_id", "track_name", "artists", "album_name", "track_genre", "duration_ms", "popularity", "release_date")
USER_COLUMNS = ("user_id", "user_name", "user_age", "user_country", "subscription_type", "created_at")
# shape name -> {canonical column: column of the file}; `duration_seconds` is converted to duration_ms
SONG_SHAPES = {
    "spotify": {
        "track_id": "track_id",
        "track_name": "track_name",
        "artists": "artists",
        "album_name": "album_name",
        "track_genre": "track_genre",
        "duration_ms": "duration_ms",
        "popularity": "popularity",
    },
    "short": {
        "track_id": "song_id",
        "track_name": "title",
        "artists": "artist",
        "track_genre": "genre",
        "duration_seconds": "duration",
        "release_date": "release_date",
    },
}
USER_SHAPES = {
    "lab": {
        "user_id": "user_id",
        "user_name": "user_name",
        "user_age": "user_age",
        "user_country": "user_country",
        "created_at": "created_at",
    },
    "short": {
        "user_id": "user_id",
        "subscription_type": "subscription_type",
        "user_country": "country",
        "created_at": "join_date",
    },
}


def bronze_reference_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [(c, pa.string()) for c in columns]
        + [("source_line", pa.int64()), ("ingest_reason", pa.string()), ("record", pa.string())]
    )


BRONZE_SONGS = bronze_reference_schema(SONG_COLUMNS)
BRONZE_USERS = bronze_reference_schema(USER_COLUMNS)

VALIDATED_SONGS = pa.schema(
    [
        ("track_id", pa.string()),
        ("track_name", pa.string()),
        ("artists", pa.string()),
        ("album_name", pa.string()),
        ("genre", pa.string()),
        ("duration_ms", pa.int64()),
        ("popularity", pa.int64()),
        ("release_date", pa.string()),
        ("source_line", pa.int64()),
    ]
)

VALIDATED_USERS = pa.schema(
    [
        ("user_id", pa.string()),
        ("user_name", pa.string()),
        ("user_age", pa.int64()),
        ("user_country", pa.string()),
        ("subscription_type", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("source_line", pa.int64()),
    ]
)

REFERENCE_REJECTS = pa.schema(
    [
        ("source_line", pa.int64()),
        ("id", pa.string()),  # track_id or user_id as written
        ("reason", pa.string()),
        ("record", pa.string()),  # raw text of a line that could not be read
    ]
)

VALIDATED_STREAMS = pa.schema(
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
)

# rows rejected by validate_streams.sql -> bad-records/validated_streams/date=D/data.parquet
STREAM_REJECTS = pa.schema(
    [
        ("date", pa.date32()),
        ("user_id", pa.string()),
        ("track_id", pa.string()),
        ("listen_time", pa.timestamp("us")),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("reason", pa.string()),
    ]
)

GENRE_DAILY_KPIS = pa.schema(
    [
        ("date", pa.date32()),
        ("genre", pa.string()),
        ("listen_count", pa.int64()),
        ("unique_listeners", pa.int64()),
        ("total_listening_time_ms", pa.int64()),
        ("avg_listening_time_per_user_ms", pa.float64()),
        ("listen_share", pa.float64()),  # listen_count / the day's validated listens
    ]
)

TOP_SONGS_PER_GENRE = pa.schema(
    [
        ("date", pa.date32()),
        ("genre", pa.string()),
        ("rank", pa.int64()),
        ("track_id", pa.string()),
        ("track_name", pa.string()),
        ("artists", pa.string()),
        ("play_count", pa.int64()),
    ]
)

TOP_GENRES_DAILY = pa.schema(
    [
        ("date", pa.date32()),
        ("rank", pa.int64()),
        ("genre", pa.string()),
        ("listen_count", pa.int64()),
        ("unique_listeners", pa.int64()),
        ("total_listening_time_ms", pa.int64()),
    ]
)

DAILY_USER_ENGAGEMENT = pa.schema(
    [
        ("date", pa.date32()),
        ("daily_active_users", pa.int64()),
        ("listens", pa.int64()),
        ("listens_per_user", pa.float64()),
        ("sessions", pa.int64()),
        ("avg_session_duration_ms", pa.float64()),
        ("completion_rate", pa.float64()),  # null when no listen's completion is known
        ("completion_known_listens", pa.int64()),
        ("peak_hour", pa.int64()),
    ]
)

ARTIST_DAILY_POPULARITY = pa.schema(
    [
        ("date", pa.date32()),
        ("artist", pa.string()),
        ("listen_count", pa.int64()),
        ("unique_listeners", pa.int64()),
        ("total_listening_time_ms", pa.int64()),
        ("rank", pa.int64()),
    ]
)

PLATFORM_USAGE_DAILY = pa.schema(
    [
        ("date", pa.date32()),
        ("dimension", pa.string()),  # device_type, hour, country, subscription_type
        ("value", pa.string()),
        ("listen_count", pa.int64()),
        ("unique_listeners", pa.int64()),
        ("total_listening_time_ms", pa.int64()),
        ("listen_share", pa.float64()),
    ]
)
PLATFORM_DIMENSIONS = ("device_type", "hour", "country", "subscription_type")

# rows of daily_metrics_items.sql: one per DailyMetrics item (dimension, dimension_value -> `dimensions`)
DAILY_METRICS_ITEMS = pa.schema(
    [
        ("metric_type", pa.string()),
        ("metric_key", pa.string()),
        ("date", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("share", pa.float64()),
        ("rank", pa.int64()),
        ("dimension", pa.string()),
        ("dimension_value", pa.string()),
    ]
)
UNKNOWN = "unknown"  # a missing device type, country, subscription type or artist in the KPIs

TOP_SONGS_N = 3
TOP_GENRES_N = 5
TOP_ARTISTS_N = 10  # top_artists items of DailyMetrics
