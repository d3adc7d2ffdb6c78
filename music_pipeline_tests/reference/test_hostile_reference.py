"""Hostile reference files (issue 26, item 5 c, d, f): a genre that cannot be part of a DynamoDB key (too
long, or holding the `#` of TopSongsPerGenre's `genre#rank`) is rejected at validation and the day
publishes; a songs file missing a required column names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from boto3.dynamodb.conditions import Key

from music_pipeline.core import layout, registry
from music_pipeline.core.contracts import Reason
from music_pipeline.ingestion.csv_reader import UnreadableFile
from music_pipeline.lake.store import Lake
from music_pipeline.reference import staging
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import (
    gold_items,
    land,
    read_day,
    rows,
    run_all_steps,
    song_row,
    stream_csv,
    write_songs,
    write_users,
)

D1 = "2024-06-01"
LONG_GENRE = "x" * 10_000  # DynamoDB: a sort key value is at most 1024 bytes


def build_lake(root: Path, genres: dict[str, str]) -> Lake:
    """A validated day with gold: songs T<n> of the given genres, plus a pop and a rock song; one listen of each."""
    songs = {"T1": "pop", "T2": "pop", **genres, "T5": "rock"}
    write_songs(root, [song_row(track, genre) for track, genre in songs.items()])
    write_users(root, ["u1", "u2", "u3"])
    listens = [(f"u{i % 3 + 1}", track, f"{D1} 1{i}:00:00") for i, track in enumerate(songs)]
    land(root, "raw/streams/day.csv", stream_csv(listens + [("u3", "T4", f"{D1} 20:00:00")]))
    return run_all_steps(root, [D1])


@pytest.fixture
def lake(tmp_path) -> Lake:
    return build_lake(tmp_path / "lake", {"T3": LONG_GENRE, "T4": "pop#rock", "T6": "é" * 501})  # T6: 1002 bytes


def test_a_genre_that_cannot_be_a_key_part_is_rejected_and_the_day_publishes(lake, mocked_aws):
    song_rejects = lake.read_parquet([registry.SONGS.rejects.file_key])
    assert rows(song_rejects, "id", "reason") == [
        ("T3", Reason.INVALID_GENRE),
        ("T4", Reason.INVALID_GENRE),
        ("T6", Reason.INVALID_GENRE),
    ]
    stream_rejects = read_day(lake, registry.STREAM_REJECTS.prefix, D1)
    assert sorted(rows(stream_rejects, "track_id", "reason")) == [
        ("T3", Reason.UNKNOWN_TRACK_ID),
        ("T4", Reason.UNKNOWN_TRACK_ID),
        ("T4", Reason.UNKNOWN_TRACK_ID),
        ("T6", Reason.UNKNOWN_TRACK_ID),
    ]
    tables = ServingTables(prefix="t_")
    tables.ensure()
    for serving in serving_tables.SERVINGS:  # a BatchWriteItem ValidationException before issue 26
        tables.replace_day(serving.table, D1, gold_items(lake, D1, serving))
    kpis = tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, D1)
    assert sorted(i["genre"] for i in kpis) == ["pop", "rock"]


def test_a_genre_prefix_query_returns_that_genre_only(tmp_path, mocked_aws):
    lake = build_lake(tmp_path / "lake", {"T4": "pop#rock"})
    tables = ServingTables(prefix="t_")
    tables.ensure()
    top_songs = serving_tables.TOP_SONGS_PER_GENRE_SERVING
    tables.replace_day(top_songs.table, D1, gold_items(lake, D1, top_songs))
    items = tables.table(top_songs.table).query(
        KeyConditionExpression=Key("date").eq(D1) & Key("genre_rank").begins_with("pop#")  # design.md section 6
    )["Items"]
    assert sorted((i["genre"], i["track_id"]) for i in items) == [("pop", "T1"), ("pop", "T2")]


@pytest.mark.parametrize(
    "header, missing",
    [
        ("song_id,title,artist,duration,release_date", "short: missing genre"),
        ("track_id,artists,album_name,track_name,popularity,duration_ms", "spotify: missing track_genre"),
    ],
)
def test_a_songs_file_missing_a_required_column_names_it(tmp_path, header, missing):
    lake = Lake(str(tmp_path / "lake"))
    land(lake, layout.RAW_SONGS, header + "\n")
    with pytest.raises(UnreadableFile, match=missing):
        staging.stage(lake, registry.SONGS)
