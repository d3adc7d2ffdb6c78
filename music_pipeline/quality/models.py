"""pandera DataFrameModels: the row-level contracts of every lake table.

Each model is derived from the Arrow schema of the same table in `music_pipeline.core.contracts`
(column names, order and exact Arrow types: frames are read with `types_mapper=pd.ArrowDtype`),
and adds what a schema cannot say: nullability, value ranges, row rules and the table's key
(`Config.unique`). `tables.py` names each table's model. The SQL row rules and these models are kept from drifting by
`SQL_RULE_COVERAGE` below, which music_pipeline_tests/test_checks.py enforces by feeding the
same bad rows through the SQL and through the checks.
"""

from typing import Annotated

import pandas as pd
import pandera.pandas as pdr
import pyarrow as pa
from pandera.typing import Series

from music_pipeline.core import contracts as c
from music_pipeline.core.contracts import Reason
from music_pipeline.ingestion.tables import RAW_STREAMS
from music_pipeline.kpis.tables import (
    ARTIST_DAILY_POPULARITY,
    DAILY_USER_ENGAGEMENT,
    GENRE_DAILY_KPIS,
    PLATFORM_USAGE_DAILY,
    TOP_GENRES_DAILY,
    TOP_SONGS_PER_GENRE,
)
from music_pipeline.reference.tables import SONGS, USERS
from music_pipeline.validation.tables import VALIDATED_STREAMS

CONTRACT_VERSION = c.CONTRACT_VERSION
AVG_RELATIVE_TOLERANCE = 1e-9


def arrow(schema: pa.Schema, column: str):
    """The pandas dtype of a contract column: its exact Arrow type."""
    return Annotated[pd.ArrowDtype, schema.field(column).type]


def _non_blank(**kwargs):
    return pdr.Field(str_length={"min_value": 1}, **kwargs)


class _Strict:
    strict = True  # no missing or extra columns
    ordered = True  # in the contract's order
    coerce = False  # types must already be right


class BronzeStreams(pdr.DataFrameModel):
    """bronze/streams: every readable landed row; ids may still be blank (validation rejects them)."""

    date: Series[arrow(RAW_STREAMS.contract, "date")]
    user_id: Series[arrow(RAW_STREAMS.contract, "user_id")] = pdr.Field(nullable=True)
    track_id: Series[arrow(RAW_STREAMS.contract, "track_id")] = pdr.Field(nullable=True)
    listen_time: Series[arrow(RAW_STREAMS.contract, "listen_time")]
    listen_duration_ms: Series[arrow(RAW_STREAMS.contract, "listen_duration_ms")] = pdr.Field(
        ge=0, le=c.STREAM_DURATION_MAX_SECONDS * 1000, nullable=True
    )
    stream_id: Series[arrow(RAW_STREAMS.contract, "stream_id")] = pdr.Field(nullable=True, str_length={"min_value": 1})
    completed: Series[arrow(RAW_STREAMS.contract, "completed")] = pdr.Field(nullable=True)
    device_type: Series[arrow(RAW_STREAMS.contract, "device_type")] = _non_blank()
    source_file: Series[arrow(RAW_STREAMS.contract, "source_file")] = _non_blank()
    source_line: Series[arrow(RAW_STREAMS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(_Strict):
        unique = ["source_file", "source_line"]

    @pdr.dataframe_check(error="date is not the UTC day of listen_time")
    def date_is_day_of_listen(cls, df: pd.DataFrame) -> Series[bool]:
        return _day_of(df["listen_time"]) == df["date"]


class ValidatedStreams(pdr.DataFrameModel):
    """validated/streams: typed, reference-checked, de-duplicated listens."""

    date: Series[arrow(VALIDATED_STREAMS.contract, "date")]
    user_id: Series[arrow(VALIDATED_STREAMS.contract, "user_id")] = _non_blank()
    track_id: Series[arrow(VALIDATED_STREAMS.contract, "track_id")] = _non_blank()
    listen_time: Series[arrow(VALIDATED_STREAMS.contract, "listen_time")]
    genre: Series[arrow(VALIDATED_STREAMS.contract, "genre")] = _non_blank()
    listening_time_ms: Series[arrow(VALIDATED_STREAMS.contract, "listening_time_ms")] = pdr.Field(ge=0)
    stream_id: Series[arrow(VALIDATED_STREAMS.contract, "stream_id")] = pdr.Field(nullable=True, str_length={"min_value": 1})
    completed: Series[arrow(VALIDATED_STREAMS.contract, "completed")] = pdr.Field(nullable=True)
    device_type: Series[arrow(VALIDATED_STREAMS.contract, "device_type")] = _non_blank()
    source_file: Series[arrow(VALIDATED_STREAMS.contract, "source_file")] = _non_blank()
    source_line: Series[arrow(VALIDATED_STREAMS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(_Strict):
        unique = ["user_id", "track_id", "listen_time"]  # exact duplicates are rejected

    @pdr.dataframe_check(error="date is not the UTC day of listen_time")
    def date_is_day_of_listen(cls, df: pd.DataFrame) -> Series[bool]:
        return _day_of(df["listen_time"]) == df["date"]


class Songs(pdr.DataFrameModel):
    """validated/songs: one row per track_id, every song with a genre and a positive duration."""

    track_id: Series[arrow(SONGS.contract, "track_id")] = _non_blank()
    track_name: Series[arrow(SONGS.contract, "track_name")] = pdr.Field(nullable=True)
    artists: Series[arrow(SONGS.contract, "artists")] = pdr.Field(nullable=True)
    album_name: Series[arrow(SONGS.contract, "album_name")] = pdr.Field(nullable=True)
    genre: Series[arrow(SONGS.contract, "genre")] = _non_blank()
    duration_ms: Series[arrow(SONGS.contract, "duration_ms")] = pdr.Field(gt=0, le=86_400_000)
    popularity: Series[arrow(SONGS.contract, "popularity")] = pdr.Field(nullable=True)
    release_date: Series[arrow(SONGS.contract, "release_date")] = pdr.Field(nullable=True)
    source_line: Series[arrow(SONGS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(_Strict):
        unique = ["track_id"]

    @pdr.check("genre", error="genre cannot be part of a DynamoDB key (more than GENRE_MAX_BYTES, or a '#')")
    def genre_is_a_key_part(cls, genre: pd.Series) -> pd.Series:
        return pd.Series([_is_key_part(g) for g in genre], index=genre.index, dtype=bool)


class Users(pdr.DataFrameModel):
    """validated/users: one row per user_id (created_at may be null or after a listen)."""

    user_id: Series[arrow(USERS.contract, "user_id")] = _non_blank()
    user_name: Series[arrow(USERS.contract, "user_name")] = pdr.Field(nullable=True)
    user_age: Series[arrow(USERS.contract, "user_age")] = pdr.Field(nullable=True)
    user_country: Series[arrow(USERS.contract, "user_country")] = pdr.Field(nullable=True)
    subscription_type: Series[arrow(USERS.contract, "subscription_type")] = pdr.Field(nullable=True)
    created_at: Series[arrow(USERS.contract, "created_at")] = pdr.Field(nullable=True)
    source_line: Series[arrow(USERS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(_Strict):
        unique = ["user_id"]


class GenreDailyKpis(pdr.DataFrameModel):
    """processed/genre_daily_kpis: one row per (date, genre); avg = total / unique listeners."""

    date: Series[arrow(GENRE_DAILY_KPIS.contract, "date")]
    genre: Series[arrow(GENRE_DAILY_KPIS.contract, "genre")] = _non_blank()
    listen_count: Series[arrow(GENRE_DAILY_KPIS.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(GENRE_DAILY_KPIS.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(GENRE_DAILY_KPIS.contract, "total_listening_time_ms")] = pdr.Field(ge=0)
    avg_listening_time_per_user_ms: Series[arrow(GENRE_DAILY_KPIS.contract, "avg_listening_time_per_user_ms")] = pdr.Field(ge=0)
    listen_share: Series[arrow(GENRE_DAILY_KPIS.contract, "listen_share")] = pdr.Field(gt=0, le=1)

    class Config(_Strict):
        unique = ["date", "genre"]

    @pdr.dataframe_check(error="unique_listeners > listen_count")
    def listeners_at_most_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return df["unique_listeners"] <= df["listen_count"]

    @pdr.dataframe_check(error="avg_listening_time_per_user_ms != total_listening_time_ms / unique_listeners")
    def average_is_total_per_listener(cls, df: pd.DataFrame) -> Series[bool]:
        expected = df["total_listening_time_ms"] / df["unique_listeners"]
        return (df["avg_listening_time_per_user_ms"] - expected).abs() <= AVG_RELATIVE_TOLERANCE * expected.abs().clip(lower=1)


class TopSongsPerGenre(pdr.DataFrameModel):
    """processed/top_songs_per_genre: ranks 1..n (n <= 3) per (date, genre)."""

    date: Series[arrow(TOP_SONGS_PER_GENRE.contract, "date")]
    genre: Series[arrow(TOP_SONGS_PER_GENRE.contract, "genre")] = _non_blank()
    rank: Series[arrow(TOP_SONGS_PER_GENRE.contract, "rank")] = pdr.Field(ge=1, le=c.TOP_SONGS_N)
    track_id: Series[arrow(TOP_SONGS_PER_GENRE.contract, "track_id")] = _non_blank()
    track_name: Series[arrow(TOP_SONGS_PER_GENRE.contract, "track_name")] = pdr.Field(nullable=True)
    artists: Series[arrow(TOP_SONGS_PER_GENRE.contract, "artists")] = pdr.Field(nullable=True)
    play_count: Series[arrow(TOP_SONGS_PER_GENRE.contract, "play_count")] = pdr.Field(ge=1)

    class Config(_Strict):
        unique = ["date", "genre", "rank"]


class TopGenresDaily(pdr.DataFrameModel):
    """processed/top_genres_daily: ranks 1..n (n <= 5) per date."""

    date: Series[arrow(TOP_GENRES_DAILY.contract, "date")]
    rank: Series[arrow(TOP_GENRES_DAILY.contract, "rank")] = pdr.Field(ge=1, le=c.TOP_GENRES_N)
    genre: Series[arrow(TOP_GENRES_DAILY.contract, "genre")] = _non_blank()
    listen_count: Series[arrow(TOP_GENRES_DAILY.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(TOP_GENRES_DAILY.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(TOP_GENRES_DAILY.contract, "total_listening_time_ms")] = pdr.Field(ge=0)

    class Config(_Strict):
        unique = ["date", "rank"]


class DailyUserEngagement(pdr.DataFrameModel):
    """processed/daily_user_engagement: one row per date with listens."""

    date: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "date")]
    daily_active_users: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "daily_active_users")] = pdr.Field(ge=1)
    listens: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "listens")] = pdr.Field(ge=1)
    listens_per_user: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "listens_per_user")] = pdr.Field(ge=1)
    sessions: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "sessions")] = pdr.Field(ge=1)
    avg_session_duration_ms: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "avg_session_duration_ms")] = pdr.Field(ge=0)
    completion_rate: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "completion_rate")] = pdr.Field(ge=0, le=1, nullable=True)
    completion_known_listens: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "completion_known_listens")] = pdr.Field(ge=0)
    peak_hour: Series[arrow(DAILY_USER_ENGAGEMENT.contract, "peak_hour")] = pdr.Field(ge=0, le=23)

    class Config(_Strict):
        unique = ["date"]

    @pdr.dataframe_check(error="sessions outside daily_active_users .. listens")
    def sessions_between_users_and_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["sessions"] >= df["daily_active_users"]) & (df["sessions"] <= df["listens"])

    @pdr.dataframe_check(error="completion_known_listens > listens")
    def known_at_most_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return df["completion_known_listens"] <= df["listens"]


class ArtistDailyPopularity(pdr.DataFrameModel):
    """processed/artist_daily_popularity: one row per (date, artist), every artist ranked."""

    date: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "date")]
    artist: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "artist")] = _non_blank()
    listen_count: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "total_listening_time_ms")] = pdr.Field(ge=0)
    rank: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "rank")] = pdr.Field(ge=1)

    class Config(_Strict):
        unique = ["date", "artist"]

    @pdr.dataframe_check(error="unique_listeners > listen_count")
    def listeners_at_most_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return df["unique_listeners"] <= df["listen_count"]


class PlatformUsageDaily(pdr.DataFrameModel):
    """processed/platform_usage_daily: one row per (date, dimension, value)."""

    date: Series[arrow(PLATFORM_USAGE_DAILY.contract, "date")]
    dimension: Series[arrow(PLATFORM_USAGE_DAILY.contract, "dimension")] = pdr.Field(isin=list(c.PLATFORM_DIMENSIONS))
    value: Series[arrow(PLATFORM_USAGE_DAILY.contract, "value")] = _non_blank()
    listen_count: Series[arrow(PLATFORM_USAGE_DAILY.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(PLATFORM_USAGE_DAILY.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(PLATFORM_USAGE_DAILY.contract, "total_listening_time_ms")] = pdr.Field(ge=0)
    listen_share: Series[arrow(PLATFORM_USAGE_DAILY.contract, "listen_share")] = pdr.Field(gt=0, le=1)

    class Config(_Strict):
        unique = ["date", "dimension", "value"]


def _is_key_part(genre) -> bool:
    """Whether a genre fits in the serving tables' keys (contracts.GENRE_MAX_BYTES); nulls are the
    nullability rule's."""
    if not isinstance(genre, str):
        return True
    return len(genre.encode()) <= c.GENRE_MAX_BYTES and c.GENRE_KEY_SEPARATOR not in genre


def _day_of(timestamps: pd.Series) -> pd.Series:
    """The UTC calendar day of naive UTC timestamps, as Arrow date32 (comparable with `date`)."""
    return timestamps.astype(pd.ArrowDtype(pa.date32()))


# Which check catches a row that the SQL rejects with each reason, had it slipped into the
# validated table: `contract` (this module's field rules), `unique_keys` (Config.unique) or
# `known_references` (a validated listen's track and user exist in songs / users). A reason the
# SQL can produce that is missing here fails test_checks.py.
SQL_RULE_COVERAGE = {
    "validate_streams": {
        Reason.MISSING_USER_ID: "contract",
        Reason.MISSING_TRACK_ID: "contract",
        Reason.UNKNOWN_TRACK_ID: "contract",  # no genre / duration without a song; also known_references
        Reason.UNKNOWN_USER_ID: "known_references",
        Reason.DUPLICATE_LISTEN: "unique_keys",
    },
    "validate_songs": {
        Reason.MISSING_TRACK_ID: "contract",
        Reason.MISSING_GENRE: "contract",
        Reason.INVALID_GENRE: "contract",
        Reason.INVALID_DURATION_MS: "contract",
        Reason.DUPLICATE_TRACK_ID: "unique_keys",
    },
    "validate_users": {
        Reason.MISSING_USER_ID: "contract",
        Reason.DUPLICATE_USER_ID: "unique_keys",
    },
}
