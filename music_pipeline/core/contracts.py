"""What every domain shares about the data: the landed stream file's columns and rules, the reject
reasons, and the contracts' constants. Each table's own Arrow contract is declared with the table, in its
domain's `tables.py`. Timestamps are naive and mean UTC (docs/design.md section 3); `date` is the UTC day
of `listen_time` and is stored inside every partitioned file as well as in its `date=D` folder name.
"""

from __future__ import annotations

CONTRACT_VERSION = "2"  # 2: optional listen columns, reference shapes, engagement/artist/platform tables

# Column aliases normalized at ingestion (docs/design.md section 3): the one place where a landed
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
    INVALID_GENRE = "invalid_genre"  # cannot be part of a DynamoDB key: see GENRE_MAX_BYTES
    INVALID_DURATION_MS = "invalid_duration_ms"
    DUPLICATE_TRACK_ID = "duplicate_track_id"
    DUPLICATE_USER_ID = "duplicate_user_id"


# The scorecard's dimension of each listen reject reason (quality/scorecard.py, docs/operating.md): a
# rejected row counts against exactly one of completeness, validity, consistency and uniqueness.
REASON_DIMENSION = {
    Reason.MISSING_USER_ID: "completeness",
    Reason.MISSING_TRACK_ID: "completeness",
    Reason.MALFORMED_LINE: "validity",
    Reason.BAD_ENCODING: "validity",
    Reason.UNPARSEABLE_LISTEN_TIME: "validity",
    Reason.INVALID_DURATION: "validity",
    Reason.INVALID_COMPLETED: "validity",
    Reason.FUTURE_LISTEN_TIME: "validity",
    Reason.BEFORE_START_DATE: "validity",
    Reason.UNKNOWN_TRACK_ID: "consistency",
    Reason.UNKNOWN_USER_ID: "consistency",
    Reason.DUPLICATE_LISTEN: "uniqueness",
}
QUALITY_DIMENSIONS = ("completeness", "validity", "consistency", "uniqueness")
# A genre is part of DynamoDB keys: DailyGenreKPIs' sort key (and its index's partition key),
# TopSongsPerGenre's `genre#rank`, DailyMetrics' `<date>#genre=<genre>` (17 bytes + the genre). A sort key
# value holds at most 1024 bytes, so a genre holds at most 1000 bytes of UTF-8 and no `#`, the separator
# of `genre#rank` (a `pop#rock` would answer `begins_with(genre_rank, "pop#")`). Else the song is
# `invalid_genre` (validate_songs.sql, the Songs model).
GENRE_MAX_BYTES = 1000
GENRE_KEY_SEPARATOR = "#"

PLATFORM_DIMENSIONS = ("device_type", "hour", "country", "subscription_type")
UNKNOWN = "unknown"  # a missing device type, country, subscription type or artist in the KPIs

TOP_SONGS_N = 3
TOP_GENRES_N = 5
TOP_ARTISTS_N = 10  # top_artists items of DailyMetrics
