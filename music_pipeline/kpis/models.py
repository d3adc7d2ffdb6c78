"""pandera models of the gold tables."""

# pandera's annotation style: `Series[arrow(schema, column)]` is a runtime-computed dtype, not a type form
# pyright: reportInvalidTypeForm=false

import pandas as pd

from music_pipeline.core import contracts as c
from music_pipeline.kpis.tables import (
    ARTIST_DAILY_POPULARITY,
    DAILY_USER_ENGAGEMENT,
    GENRE_DAILY_KPIS,
    PLATFORM_USAGE_DAILY,
    TOP_GENRES_DAILY,
    TOP_SONGS_PER_GENRE,
)
from music_pipeline.quality.pandera_import import Series, pdr
from music_pipeline.quality.pandera_types import AVG_RELATIVE_TOLERANCE, Contract, arrow, non_blank


class GenreDailyKpis(Contract):
    """processed/genre_daily_kpis: one row per (date, genre); avg = total / unique listeners."""

    date: Series[arrow(GENRE_DAILY_KPIS.contract, "date")]
    genre: Series[arrow(GENRE_DAILY_KPIS.contract, "genre")] = non_blank()
    listen_count: Series[arrow(GENRE_DAILY_KPIS.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(GENRE_DAILY_KPIS.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(GENRE_DAILY_KPIS.contract, "total_listening_time_ms")] = pdr.Field(ge=0)
    avg_listening_time_per_user_ms: Series[arrow(GENRE_DAILY_KPIS.contract, "avg_listening_time_per_user_ms")] = pdr.Field(ge=0)
    listen_share: Series[arrow(GENRE_DAILY_KPIS.contract, "listen_share")] = pdr.Field(gt=0, le=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date", "genre"]

    @pdr.dataframe_check(error="unique_listeners > listen_count")
    def listeners_at_most_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return df["unique_listeners"] <= df["listen_count"]

    @pdr.dataframe_check(error="avg_listening_time_per_user_ms != total_listening_time_ms / unique_listeners")
    def average_is_total_per_listener(cls, df: pd.DataFrame) -> Series[bool]:
        expected = df["total_listening_time_ms"] / df["unique_listeners"]
        return (df["avg_listening_time_per_user_ms"] - expected).abs() <= AVG_RELATIVE_TOLERANCE * expected.abs().clip(lower=1)


class TopSongsPerGenre(Contract):
    """processed/top_songs_per_genre: ranks 1..n (n <= 3) per (date, genre)."""

    date: Series[arrow(TOP_SONGS_PER_GENRE.contract, "date")]
    genre: Series[arrow(TOP_SONGS_PER_GENRE.contract, "genre")] = non_blank()
    rank: Series[arrow(TOP_SONGS_PER_GENRE.contract, "rank")] = pdr.Field(ge=1, le=c.TOP_SONGS_N)
    track_id: Series[arrow(TOP_SONGS_PER_GENRE.contract, "track_id")] = non_blank()
    track_name: Series[arrow(TOP_SONGS_PER_GENRE.contract, "track_name")] = pdr.Field(nullable=True)
    artists: Series[arrow(TOP_SONGS_PER_GENRE.contract, "artists")] = pdr.Field(nullable=True)
    play_count: Series[arrow(TOP_SONGS_PER_GENRE.contract, "play_count")] = pdr.Field(ge=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date", "genre", "rank"]


class TopGenresDaily(Contract):
    """processed/top_genres_daily: ranks 1..n (n <= 5) per date."""

    date: Series[arrow(TOP_GENRES_DAILY.contract, "date")]
    rank: Series[arrow(TOP_GENRES_DAILY.contract, "rank")] = pdr.Field(ge=1, le=c.TOP_GENRES_N)
    genre: Series[arrow(TOP_GENRES_DAILY.contract, "genre")] = non_blank()
    listen_count: Series[arrow(TOP_GENRES_DAILY.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(TOP_GENRES_DAILY.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(TOP_GENRES_DAILY.contract, "total_listening_time_ms")] = pdr.Field(ge=0)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date", "rank"]


class DailyUserEngagement(Contract):
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

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date"]

    @pdr.dataframe_check(error="sessions outside daily_active_users .. listens")
    def sessions_between_users_and_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["sessions"] >= df["daily_active_users"]) & (df["sessions"] <= df["listens"])

    @pdr.dataframe_check(error="completion_known_listens > listens")
    def known_at_most_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return df["completion_known_listens"] <= df["listens"]


class ArtistDailyPopularity(Contract):
    """processed/artist_daily_popularity: one row per (date, artist), every artist ranked."""

    date: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "date")]
    artist: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "artist")] = non_blank()
    listen_count: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "total_listening_time_ms")] = pdr.Field(ge=0)
    rank: Series[arrow(ARTIST_DAILY_POPULARITY.contract, "rank")] = pdr.Field(ge=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date", "artist"]

    @pdr.dataframe_check(error="unique_listeners > listen_count")
    def listeners_at_most_listens(cls, df: pd.DataFrame) -> Series[bool]:
        return df["unique_listeners"] <= df["listen_count"]


class PlatformUsageDaily(Contract):
    """processed/platform_usage_daily: one row per (date, dimension, value)."""

    date: Series[arrow(PLATFORM_USAGE_DAILY.contract, "date")]
    dimension: Series[arrow(PLATFORM_USAGE_DAILY.contract, "dimension")] = pdr.Field(isin=list(c.PLATFORM_DIMENSIONS))
    value: Series[arrow(PLATFORM_USAGE_DAILY.contract, "value")] = non_blank()
    listen_count: Series[arrow(PLATFORM_USAGE_DAILY.contract, "listen_count")] = pdr.Field(ge=1)
    unique_listeners: Series[arrow(PLATFORM_USAGE_DAILY.contract, "unique_listeners")] = pdr.Field(ge=1)
    total_listening_time_ms: Series[arrow(PLATFORM_USAGE_DAILY.contract, "total_listening_time_ms")] = pdr.Field(ge=0)
    listen_share: Series[arrow(PLATFORM_USAGE_DAILY.contract, "listen_share")] = pdr.Field(gt=0, le=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date", "dimension", "value"]
