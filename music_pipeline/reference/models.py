"""pandera models of songs and users."""

# pandera's annotation style: `Series[arrow(schema, column)]` is a runtime-computed dtype, not a type form
# pyright: reportInvalidTypeForm=false

import pandas as pd

from music_pipeline.core import contracts as c
from music_pipeline.quality.pandera_import import Series, pdr
from music_pipeline.quality.pandera_types import Contract, arrow, non_blank
from music_pipeline.reference.tables import SONGS, USERS


class Songs(Contract):
    """validated/songs: one row per track_id, every song with a genre and a positive duration."""

    track_id: Series[arrow(SONGS.contract, "track_id")] = non_blank()
    track_name: Series[arrow(SONGS.contract, "track_name")] = pdr.Field(nullable=True)
    artists: Series[arrow(SONGS.contract, "artists")] = pdr.Field(nullable=True)
    album_name: Series[arrow(SONGS.contract, "album_name")] = pdr.Field(nullable=True)
    genre: Series[arrow(SONGS.contract, "genre")] = non_blank()
    duration_ms: Series[arrow(SONGS.contract, "duration_ms")] = pdr.Field(gt=0, le=86_400_000)
    popularity: Series[arrow(SONGS.contract, "popularity")] = pdr.Field(nullable=True)
    release_date: Series[arrow(SONGS.contract, "release_date")] = pdr.Field(nullable=True)
    source_line: Series[arrow(SONGS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["track_id"]

    @pdr.check("genre", error="genre cannot be part of a DynamoDB key (more than GENRE_MAX_BYTES, or a '#')")
    def genre_is_a_key_part(cls, genre: pd.Series) -> pd.Series:
        return pd.Series([_is_key_part(g) for g in genre], index=genre.index, dtype=bool)


class Users(Contract):
    """validated/users: one row per user_id (created_at may be null or after a listen)."""

    user_id: Series[arrow(USERS.contract, "user_id")] = non_blank()
    user_name: Series[arrow(USERS.contract, "user_name")] = pdr.Field(nullable=True)
    user_age: Series[arrow(USERS.contract, "user_age")] = pdr.Field(nullable=True)
    user_country: Series[arrow(USERS.contract, "user_country")] = pdr.Field(nullable=True)
    subscription_type: Series[arrow(USERS.contract, "subscription_type")] = pdr.Field(nullable=True)
    created_at: Series[arrow(USERS.contract, "created_at")] = pdr.Field(nullable=True)
    source_line: Series[arrow(USERS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["user_id"]


def _is_key_part(genre) -> bool:
    """Whether a genre fits in the serving tables' keys (contracts.GENRE_MAX_BYTES); nulls are the
    nullability rule's."""
    if not isinstance(genre, str):
        return True
    return len(genre.encode()) <= c.GENRE_MAX_BYTES and c.GENRE_KEY_SEPARATOR not in genre
