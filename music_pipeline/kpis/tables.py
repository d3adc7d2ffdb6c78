"""The KPI domain's tables: the gold tables of the day, each computed by `sql/<name>.sql` from the
validated listens (and the reference tables). Adding one: a SQL file in `sql/`, an entry here, its pandera
model in `models.py`, and its tests."""

import pyarrow as pa

from music_pipeline.core.specs import CheckSpec, GoldTable

GENRE_DAILY_KPIS = GoldTable(
    name="genre_daily_kpis",
    prefix="processed/genre_daily_kpis",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("genre", pa.string()),
            ("listen_count", pa.int64()),
            ("unique_listeners", pa.int64()),
            ("total_listening_time_ms", pa.int64()),
            ("avg_listening_time_per_user_ms", pa.float64()),
            ("listen_share", pa.float64()),  # listen_count / the day's validated listens
        ]
    ),
    model="GenreDailyKpis",
    key=("date", "genre"),
    group="kpis",
    sql="genre_daily_kpis",
    inputs=("validated_streams",),
    glue_job="kpis",
    headline=(("top_genre_share", "max", "listen_share"),),
    checks=(
        CheckSpec(
            "matches_validated_streams",
            "Per genre, listen_count, unique_listeners and total listening "
            "time equal the validated listens; sum of listen_count = validated "
            "rows; listen_share sums to 1.",
        ),
    ),
    description="Per (date, genre): listen_count, unique_listeners, total_listening_time_ms, "
    "avg_listening_time_per_user_ms = total / unique_listeners, listen_share = listen_count / the day's listens.",
)

TOP_SONGS_PER_GENRE = GoldTable(
    name="top_songs_per_genre",
    prefix="processed/top_songs_per_genre",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("genre", pa.string()),
            ("rank", pa.int64()),
            ("track_id", pa.string()),
            ("track_name", pa.string()),
            ("artists", pa.string()),
            ("play_count", pa.int64()),
        ]
    ),
    model="TopSongsPerGenre",
    key=("date", "genre", "rank"),
    group="kpis",
    sql="top_songs_per_genre",
    inputs=("validated_streams", "songs"),
    glue_job="kpis",
    checks=(
        CheckSpec(
            "top_n_ranks",
            "Per genre exactly min(3, tracks) rows, ranks 1..n, ordered by play_count desc "
            "then track_id asc, play counts equal to validated listens.",
        ),
    ),
    description="Exactly min(3, tracks) songs per (date, genre), by play count desc then track_id asc.",
)

TOP_GENRES_DAILY = GoldTable(
    name="top_genres_daily",
    prefix="processed/top_genres_daily",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("rank", pa.int64()),
            ("genre", pa.string()),
            ("listen_count", pa.int64()),
            ("unique_listeners", pa.int64()),
            ("total_listening_time_ms", pa.int64()),
        ]
    ),
    model="TopGenresDaily",
    key=("date", "rank"),
    group="kpis",
    sql="top_genres_daily",
    inputs=("genre_daily_kpis",),
    glue_job="kpis",
    checks=(
        CheckSpec(
            "top_n_ranks",
            "Exactly min(5, genres) rows, ranks 1..n, ordered by listen_count desc then "
            "genre asc, equal to the genre KPIs, no genre left out with more listens.",
        ),
    ),
    description="Exactly min(5, genres) genres per date, by listen_count desc then genre asc.",
)

DAILY_USER_ENGAGEMENT = GoldTable(
    name="daily_user_engagement",
    prefix="processed/daily_user_engagement",
    contract=pa.schema(
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
    ),
    model="DailyUserEngagement",
    key=("date",),
    group="kpis",
    sql="daily_user_engagement",
    inputs=("validated_streams",),
    glue_job="kpis",
    headline=tuple(
        (name, "first", name)
        for name in ("daily_active_users", "listens", "sessions", "avg_session_duration_ms", "completion_rate")
    ),
    checks=(
        CheckSpec(
            "matches_validated_streams",
            "daily_active_users = distinct users and listens = rows of "
            "validated_streams; DAU <= sessions <= listens; completion counts "
            "and peak hour equal to the validated listens.",
        ),
    ),
    description="Per date: daily_active_users, listens, listens_per_user, sessions (gap > "
    "MUSIC_PIPELINE_SESSION_GAP_MINUTES, never across midnight), avg_session_duration_ms, completion_rate, "
    "completion_known_listens, peak_hour.",
)

ARTIST_DAILY_POPULARITY = GoldTable(
    name="artist_daily_popularity",
    prefix="processed/artist_daily_popularity",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("artist", pa.string()),
            ("listen_count", pa.int64()),
            ("unique_listeners", pa.int64()),
            ("total_listening_time_ms", pa.int64()),
            ("rank", pa.int64()),
        ]
    ),
    model="ArtistDailyPopularity",
    key=("date", "artist"),
    group="kpis",
    sql="artist_daily_popularity",
    inputs=("validated_streams", "songs"),
    glue_job="kpis",
    checks=(
        CheckSpec(
            "artist_ranks",
            "Ranks 1..n without gaps by listen_count desc then artist asc; every "
            "credited artist of the day present with its listens.",
        ),
    ),
    description="Per (date, artist): listen_count, unique_listeners, total_listening_time_ms and rank; every "
    "artist credited on a song (`;`-separated) is credited the whole listen.",
)

PLATFORM_USAGE_DAILY = GoldTable(
    name="platform_usage_daily",
    prefix="processed/platform_usage_daily",
    contract=pa.schema(
        [
            ("date", pa.date32()),
            ("dimension", pa.string()),  # device_type, hour, country, subscription_type
            ("value", pa.string()),
            ("listen_count", pa.int64()),
            ("unique_listeners", pa.int64()),
            ("total_listening_time_ms", pa.int64()),
            ("listen_share", pa.float64()),
        ]
    ),
    model="PlatformUsageDaily",
    key=("date", "dimension", "value"),
    group="kpis",
    sql="platform_usage_daily",
    inputs=("validated_streams", "users"),
    glue_job="kpis",
    checks=(
        CheckSpec(
            "dimensions_sum_to_listens",
            "For each dimension (device_type, hour, country, "
            "subscription_type) listen_count sums to the day's validated "
            "listens and listen_share to 1.",
        ),
    ),
    description="Per (date, dimension, value) for device_type, hour (00-23 UTC), country and subscription_type: "
    "listen_count, unique_listeners, total_listening_time_ms, listen_share.",
)

GOLD_TABLES: tuple[GoldTable, ...] = (
    GENRE_DAILY_KPIS,
    TOP_SONGS_PER_GENRE,
    TOP_GENRES_DAILY,
    DAILY_USER_ENGAGEMENT,
    ARTIST_DAILY_POPULARITY,
    PLATFORM_USAGE_DAILY,
)
