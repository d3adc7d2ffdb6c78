"""Column contracts of every lake table: the one source of truth for names, types and reasons.

Engines write these schemas, ingestion produces them, checks validate against them. Timestamps
are naive and mean UTC (DESIGN.md section 3); `date` is the UTC day of `listen_time` and is stored
inside every partitioned file as well as in its `date=D` folder name.
"""
from __future__ import annotations

import pyarrow as pa

CONTRACT_VERSION = "1"

# Column aliases normalized at ingestion (DESIGN.md section 3): the one place where a landed
# file's names and units meet the bronze contract (ingest.type_stream_batch applies the units).
STREAM_COLUMN_ALIASES = {"song_id": "track_id", "timestamp": "listen_time"}
STREAM_REQUIRED_COLUMNS = ("user_id", "track_id", "listen_time")
STREAM_DURATION_COLUMN = "duration"  # optional, seconds -> bronze listen_duration_ms
STREAM_OPTIONAL_COLUMNS = ("stream_id", STREAM_DURATION_COLUMN, "completed", "device_type")
STREAM_DURATION_MAX_SECONDS = 86_400  # 0 <= duration <= 24 h, else invalid_duration
STREAM_COMPLETED_TRUE = ("true", "1", "yes", "t")  # any case, surrounding blanks ignored
STREAM_COMPLETED_FALSE = ("false", "0", "no", "f")
STREAM_UNKNOWN_DEVICE = "unknown"  # device_type when blank or absent
STREAM_FUTURE_TOLERANCE_SECONDS = 86_400  # a listen later than its file's landing time + 24 h is future

SONGS_CSV_COLUMNS = (
    "id", "track_id", "artists", "album_name", "track_name", "popularity", "duration_ms",
    "explicit", "danceability", "energy", "key", "loudness", "mode", "speechiness",
    "acousticness", "instrumentalness", "liveness", "valence", "tempo", "time_signature",
    "track_genre",
)
SONGS_REQUIRED_COLUMNS = ("track_id", "artists", "album_name", "track_name", "popularity",
                          "duration_ms", "track_genre")
USERS_REQUIRED_COLUMNS = ("user_id", "user_name", "user_age", "user_country", "created_at")


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
BRONZE_STREAMS = pa.schema([
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
])

# rows rejected while reading a landed file -> bad-records/raw_streams/date=D|unknown/file=<id>.parquet
INGEST_REJECTS = pa.schema([
    ("date", pa.date32()),  # the UTC day of a readable listen_time (malformed lines too), else null
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("detail", pa.string()),
    ("record", pa.string()),  # the raw line (undecodable bytes shown as U+FFFD)
])

# a reference CSV read as text -> bronze/<songs|users>/data.parquet (typed by SQL). Lines that
# could not be read carry `ingest_reason` and their raw text in `record`, so that one SQL
# output holds every rejected row of the dataset.
def bronze_reference_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in columns]
                     + [("source_line", pa.int64()), ("ingest_reason", pa.string()), ("record", pa.string())])


VALIDATED_SONGS = pa.schema([
    ("track_id", pa.string()),
    ("track_name", pa.string()),
    ("artists", pa.string()),
    ("album_name", pa.string()),
    ("genre", pa.string()),
    ("duration_ms", pa.int64()),
    ("popularity", pa.int64()),
    ("source_line", pa.int64()),
])

VALIDATED_USERS = pa.schema([
    ("user_id", pa.string()),
    ("user_name", pa.string()),
    ("user_age", pa.int64()),
    ("user_country", pa.string()),
    ("created_at", pa.timestamp("us")),
    ("source_line", pa.int64()),
])

REFERENCE_REJECTS = pa.schema([
    ("source_line", pa.int64()),
    ("id", pa.string()),  # track_id or user_id as written
    ("reason", pa.string()),
    ("record", pa.string()),  # raw text of a line that could not be read
])

VALIDATED_STREAMS = pa.schema([
    ("date", pa.date32()),
    ("user_id", pa.string()),
    ("track_id", pa.string()),
    ("listen_time", pa.timestamp("us")),
    ("genre", pa.string()),
    ("listening_time_ms", pa.int64()),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
])

# rows rejected by validate_streams.sql -> bad-records/validated_streams/date=D/data.parquet
STREAM_REJECTS = pa.schema([
    ("date", pa.date32()),
    ("user_id", pa.string()),
    ("track_id", pa.string()),
    ("listen_time", pa.timestamp("us")),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
])

GENRE_DAILY_KPIS = pa.schema([
    ("date", pa.date32()),
    ("genre", pa.string()),
    ("listen_count", pa.int64()),
    ("unique_listeners", pa.int64()),
    ("total_listening_time_ms", pa.int64()),
    ("avg_listening_time_per_user_ms", pa.float64()),
])

TOP_SONGS_PER_GENRE = pa.schema([
    ("date", pa.date32()),
    ("genre", pa.string()),
    ("rank", pa.int64()),
    ("track_id", pa.string()),
    ("track_name", pa.string()),
    ("artists", pa.string()),
    ("play_count", pa.int64()),
])

TOP_GENRES_DAILY = pa.schema([
    ("date", pa.date32()),
    ("rank", pa.int64()),
    ("genre", pa.string()),
    ("listen_count", pa.int64()),
    ("unique_listeners", pa.int64()),
    ("total_listening_time_ms", pa.int64()),
])

TOP_SONGS_N = 3
TOP_GENRES_N = 5
