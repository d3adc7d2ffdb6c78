"""Every table of the lake and of DynamoDB, declared once (the registry).

A `LakeTable` says where a table lives, its Arrow contract and pandera model, how it is computed
(a SQL file over named input tables), its asset group and description, its key and the checks
beyond the generic ones, its serving table and the Glue job that runs it. Assets, asset checks,
engine steps, serving assets, the Glue jobs, `deploy` and the checks' dispatch are all derived from
these declarations, so a new KPI is one SQL file, one entry here and its contract and model.

Light on purpose: no pandera, no duckdb, no Dagster. Checks are named here and implemented in
`quality/` (found by name, see `quality/registry.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from music_pipeline import contracts as c
from music_pipeline import layout

# How a table's files are laid out under its prefix.
DAY_FILE = "day_file"  # <prefix>/date=D/data.parquet
DAY_SLICES = "day_slices"  # <prefix>/date=D/file=<source file id>.parquet (one slice per landed file)
SINGLE_FILE = "single_file"  # <prefix>/data.parquet (unpartitioned)


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str


@dataclass(frozen=True)
class DynamoTable:
    """A DynamoDB table: name (before the optional prefix), key, secondary indexes, TTL attribute."""

    name: str
    pk: str
    sk: str | None = None
    sk_type: str = "S"
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None  # items expire (DynamoDB TTL) at this epoch-seconds attribute
    stream: bool = False  # a DynamoDB stream (audit trail of the KPI tables)


@dataclass(frozen=True)
class Serving:
    """How lake tables' days become the items of a DynamoDB table (one serving asset per table).

    Items are the rows of `items_sql` (a SQL file run in-process by DuckDB over the day's files of the
    `sources`), or the single source's rows as they are, each passed through `to_item` (computed
    attributes). Null attributes are left out; KPI tables also get their TTL attribute.
    """

    asset: str
    table: DynamoTable
    sources: tuple[str, ...]
    items_sql: str | None = None
    to_item: Callable[[dict], dict] | None = None
    items_contract: pa.Schema | None = None  # the columns of `items_sql` (default: the source's contract)


@dataclass(frozen=True)
class CheckSpec:
    """An asset check beyond the generic ones: its name (implemented under that name in `quality/`),
    whether a failure blocks the assets downstream, its severity and what it asserts."""

    name: str
    description: str
    blocking: bool = True
    severity: str = "ERROR"


@dataclass(frozen=True)
class LakeTable:
    name: str  # the asset's name, and the SQL view name other steps read it by (unless `view` is set)
    prefix: str  # lake key prefix
    contract: pa.Schema
    layout: str = DAY_FILE
    model: str | None = None  # pandera DataFrameModel in quality/models.py
    key: tuple[str, ...] = ()  # no two rows share it (unique_keys check)
    group: str | None = None  # asset group; None: written by another table's step, not an asset
    description: str = ""
    sql: str | None = None  # sql/<name>.sql, run by the engines
    inputs: tuple[str, ...] = ()  # tables the SQL reads, by name
    rejects: LakeTable | None = None  # rows the SQL classifies with a reason go here
    source_csv: str | None = None  # reference data: the raw CSV staged into `bronze`
    bronze: LakeTable | None = None
    checks: tuple[CheckSpec, ...] = ()
    serving: Serving | None = None
    glue_job: str | None = None  # which Glue job runs the step (engine `glue`)
    view: str | None = None
    # the day's figures plotted per partition in the UI: (metadata name, "max" | "first", column)
    headline: tuple[tuple[str, str, str], ...] = ()

    @property
    def partitioned(self) -> bool:
        return self.layout != SINGLE_FILE

    @property
    def view_name(self) -> str:
        return self.view or self.name

    @property
    def engine_backed(self) -> bool:
        return self.sql is not None

    def day_key(self, day: str, name: str = "data.parquet") -> str:
        return f"{self.prefix}/date={day}/{name}"

    @property
    def file_key(self) -> str:
        return f"{self.prefix}/data.parquet"


def genre_rank(row: dict) -> str:
    """TopSongsPerGenre sort key: `<genre>#<rank zero-padded>`, e.g. `pop#001`."""
    return f"{row['genre']}#{row['rank']:03d}"


def metric_item(row: dict) -> dict:
    """A row of daily_metrics_items.sql -> a DailyMetrics item: the (dimension, dimension_value) columns
    become the `dimensions` map ({} for none), and counts and hours are integers."""
    item = {k: v for k, v in row.items() if k not in ("dimension", "dimension_value")}
    item["dimensions"] = {row["dimension"]: row["dimension_value"]} if row.get("dimension") else {}
    if row["unit"] in ("count", "hour"):
        item["value"] = int(row["value"])
    return item


def _conserved(what: str) -> CheckSpec:
    return CheckSpec("rows_conserved", what)


def _matches_gold() -> CheckSpec:
    return CheckSpec("matches_gold", "The day's DynamoDB items equal the items the day's gold rows make.", blocking=False)


# ------------------------------------------------------------------------------------------ rejects
INGEST_REJECTS = LakeTable("ingest_rejects", "bad-records/raw_streams", c.INGEST_REJECTS, layout=DAY_SLICES)
STREAM_REJECTS = LakeTable("stream_rejects", "bad-records/validated_streams", c.STREAM_REJECTS)
SONG_REJECTS = LakeTable("song_rejects", "bad-records/songs", c.REFERENCE_REJECTS, layout=SINGLE_FILE)
USER_REJECTS = LakeTable("user_rejects", "bad-records/users", c.REFERENCE_REJECTS, layout=SINGLE_FILE)
BRONZE_SONGS = LakeTable("bronze_songs", "bronze/songs", c.BRONZE_SONGS, layout=SINGLE_FILE)
BRONZE_USERS = LakeTable("bronze_users", "bronze/users", c.BRONZE_USERS, layout=SINGLE_FILE)

# ------------------------------------------------------------------------------------------ reference
SONGS = LakeTable(
    "songs",
    "validated/songs",
    c.VALIDATED_SONGS,
    layout=SINGLE_FILE,
    model="Songs",
    key=("track_id",),
    group="reference",
    sql="validate_songs",
    inputs=("bronze_songs",),
    rejects=SONG_REJECTS,
    source_csv=layout.RAW_SONGS,
    bronze=BRONZE_SONGS,
    glue_job="validation",
    checks=(_conserved("Rows of songs.csv = validated songs + rejected songs."),),
    description="Validated songs.csv (either shape, recognised by its header): one row per track_id (the first "
    "valid row in file order wins); rows without genre, id or valid duration go to bad-records/songs with their reason.",
)
USERS = LakeTable(
    "users",
    "validated/users",
    c.VALIDATED_USERS,
    layout=SINGLE_FILE,
    model="Users",
    key=("user_id",),
    group="reference",
    sql="validate_users",
    inputs=("bronze_users",),
    rejects=USER_REJECTS,
    source_csv=layout.RAW_USERS,
    bronze=BRONZE_USERS,
    glue_job="validation",
    checks=(_conserved("Rows of users.csv = validated users + rejected users."),),
    description="Validated users.csv (either shape): one row per user_id (the first in file order wins).",
)

# ------------------------------------------------------------------------------------------ streams
RAW_STREAMS = LakeTable(
    "raw_streams",
    "bronze/streams",
    c.BRONZE_STREAMS,
    layout=DAY_SLICES,
    model="BronzeStreams",
    key=("source_file", "source_line"),
    group="ingestion",
    view="bronze_streams",
    rejects=INGEST_REJECTS,
    checks=(
        _conserved(
            "For every landed file with rows in the day: its manifest's rows of the day = its bronze "
            "slice rows, its rejects = its bad-records rows, and rows read = bronze rows + rejects over "
            "all days."
        ),
    ),
    description="Bronze slices of the day: every landed file under raw/streams is read once per content "
    "(pyarrow, RFC 4180), split by the UTC day of listen_time; unreadable lines go to bad-records/raw_streams.",
)
VALIDATED_STREAMS = LakeTable(
    "validated_streams",
    "validated/streams",
    c.VALIDATED_STREAMS,
    model="ValidatedStreams",
    key=("user_id", "track_id", "listen_time"),
    group="validation",
    sql="validate_streams",
    inputs=("raw_streams", "songs", "users"),
    rejects=STREAM_REJECTS,
    glue_job="validation",
    checks=(
        _conserved("Bronze rows of the day = validated + rejected listens (per day and per file)."),
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
            "listens_longer_than_track",
            "WARN when a listen's own duration is longer than its track.",
            blocking=False,
            severity="WARN",
        ),
    ),
    description="Typed, de-duplicated, reference-checked listens of the day (validate_streams.sql); every other "
    "bronze row is in bad-records/validated_streams with its reason.",
)

# ------------------------------------------------------------------------------------------ gold
GENRE_DAILY_KPIS = LakeTable(
    "genre_daily_kpis",
    "processed/genre_daily_kpis",
    c.GENRE_DAILY_KPIS,
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
    serving=Serving(
        "dynamodb_daily_genre_kpis",
        DynamoTable(
            "DailyGenreKPIs",
            pk="date",
            sk="genre",
            indexes=(Index("genre-date-index", "genre", "date"),),
            ttl_attribute="expires_at",
            stream=True,
        ),
        sources=("genre_daily_kpis",),
    ),
    description="Per (date, genre): listen_count, unique_listeners, total_listening_time_ms, "
    "avg_listening_time_per_user_ms = total / unique_listeners, listen_share = listen_count / the day's listens.",
)
TOP_SONGS_PER_GENRE = LakeTable(
    "top_songs_per_genre",
    "processed/top_songs_per_genre",
    c.TOP_SONGS_PER_GENRE,
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
    serving=Serving(
        "dynamodb_top_songs_per_genre",
        DynamoTable("TopSongsPerGenre", pk="date", sk="genre_rank", ttl_attribute="expires_at", stream=True),
        sources=("top_songs_per_genre",),
        to_item=lambda row: {**row, "genre_rank": genre_rank(row)},
    ),
    description="Exactly min(3, tracks) songs per (date, genre), by play count desc then track_id asc.",
)
TOP_GENRES_DAILY = LakeTable(
    "top_genres_daily",
    "processed/top_genres_daily",
    c.TOP_GENRES_DAILY,
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
    serving=Serving(
        "dynamodb_top_genres_daily",
        DynamoTable("TopGenresDaily", pk="date", sk="rank", sk_type="N", ttl_attribute="expires_at", stream=True),
        sources=("top_genres_daily",),
    ),
    description="Exactly min(5, genres) genres per date, by listen_count desc then genre asc.",
)
DAILY_USER_ENGAGEMENT = LakeTable(
    "daily_user_engagement",
    "processed/daily_user_engagement",
    c.DAILY_USER_ENGAGEMENT,
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
ARTIST_DAILY_POPULARITY = LakeTable(
    "artist_daily_popularity",
    "processed/artist_daily_popularity",
    c.ARTIST_DAILY_POPULARITY,
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
PLATFORM_USAGE_DAILY = LakeTable(
    "platform_usage_daily",
    "processed/platform_usage_daily",
    c.PLATFORM_USAGE_DAILY,
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

# The generic metrics table: items of several gold tables (daily_metrics_items.sql).
DAILY_METRICS = Serving(
    "dynamodb_daily_metrics",
    DynamoTable(
        "DailyMetrics",
        pk="metric_type",
        sk="metric_key",
        indexes=(Index("date-index", "date", "metric_key"),),
        ttl_attribute="expires_at",
        stream=True,
    ),
    sources=("daily_user_engagement", "platform_usage_daily", "artist_daily_popularity", "genre_daily_kpis"),
    items_sql="daily_metrics_items",
    to_item=lambda row: metric_item(row),
    items_contract=c.DAILY_METRICS_ITEMS,
)

# The ledger of landed files: a DynamoDB table with no lake table behind it.
PROCESSED_STREAMS = DynamoTable("ProcessedStreams", pk="file_key")

ASSETS: tuple[LakeTable, ...] = (
    SONGS,
    USERS,
    RAW_STREAMS,
    VALIDATED_STREAMS,
    GENRE_DAILY_KPIS,
    TOP_SONGS_PER_GENRE,
    TOP_GENRES_DAILY,
    DAILY_USER_ENGAGEMENT,
    ARTIST_DAILY_POPULARITY,
    PLATFORM_USAGE_DAILY,
)
_ALL = {t.name: t for a in ASSETS for t in (a, a.rejects, a.bronze) if t is not None}
SERVINGS: tuple[Serving, ...] = (*(t.serving for t in ASSETS if t.serving is not None), DAILY_METRICS)
DYNAMO_TABLES: tuple[DynamoTable, ...] = (*(s.table for s in SERVINGS), PROCESSED_STREAMS)
SERVING_ASSETS: tuple[str, ...] = tuple(s.asset for s in SERVINGS)


def table(name: str) -> LakeTable:
    """A table by its name (an asset, a rejects table or a reference bronze table)."""
    try:
        return _ALL[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(sorted(_ALL))}") from None


def steps() -> dict[str, LakeTable]:
    """The engine-backed steps of the graph by name (what `--step` of the Glue job accepts)."""
    return {t.name: t for t in ASSETS if t.engine_backed}


def glue_jobs() -> dict[str, tuple[str, ...]]:
    """Glue job suffix -> the steps it runs (both jobs run the same script)."""
    jobs: dict[str, list[str]] = {}
    for t in ASSETS:
        if t.glue_job:
            jobs.setdefault(t.glue_job, []).append(t.name)
    return {job: tuple(names) for job, names in jobs.items()}


def serving(asset: str) -> Serving:
    """The `Serving` declaration of the DynamoDB asset `asset`."""
    for s in SERVINGS:
        if s.asset == asset:
            return s
    raise ValueError(f"unknown serving asset {asset!r}; expected one of {', '.join(SERVING_ASSETS)}")


def expires_at(day: str, retention_days: int) -> int:
    """DynamoDB TTL of a KPI item: epoch seconds of the day's midnight UTC + the retention."""
    midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)
    return int((midnight + dt.timedelta(days=retention_days)).timestamp())


@dataclass(frozen=True)
class Params:
    """Values the SQL files take as `$name` (constants of the contracts, settings)."""

    session_gap_minutes: int = 30
    values: dict = field(
        default_factory=lambda: {"top_songs_n": c.TOP_SONGS_N, "top_genres_n": c.TOP_GENRES_N, "top_artists_n": c.TOP_ARTISTS_N}
    )

    def as_dict(self) -> dict:
        return {**self.values, "session_gap_minutes": self.session_gap_minutes}
