"""The SQL transforms on DuckDB over small hand-built lakes: KPI values computed by hand, ties in
top-N, a day spread over several files, and the songs.csv / users.csv rules."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from music_pipeline.core import layout, registry
from music_pipeline_tests.helpers import (
    land,
    read_all,
    read_day,
    rows,
    run_all_steps,
    song_row,
    stream_csv,
    validate,
    write_songs,
    write_users,
)

D1, D2 = "2024-06-01", "2024-06-02"
DAY1 = dt.date(2024, 6, 1)


def test_kpis_of_a_day_spread_over_several_files(tmp_path):
    root = tmp_path / "lake"
    write_songs(
        root,
        [
            song_row("T1", "pop", 180_000, name="One"),
            song_row("T2", "pop", 200_000, name="Two"),
            song_row("T3", "rock", 240_000),
            song_row("T4", "jazz", 300_000),
        ],
    )
    write_users(root, ["u1", "u2", "u3"])
    land(
        root,
        "raw/streams/2024/06/01/part1.csv",
        stream_csv([("u1", "T1", "2024-06-01 08:00:00"), ("u1", "T2", "2024-06-01 09:00:00")]),
    )
    land(
        root,
        "raw/streams/2024/06/01/part2.csv",
        stream_csv(
            [("u2", "T1", "2024-06-01 10:00:00"), ("u1", "T3", "2024-06-01 11:00:00"), ("u2", "T4", "2024-06-02 11:00:00")]
        ),
    )  # another day: must not count on D1
    land(root, "raw/streams/mobile/part3.csv", "user_id,song_id,timestamp,duration\nu3,T1,2024-06-01T12:00:00Z,90\n")
    run_all_steps(root, [D1, D2])

    # pop: 4 listens (3 files), users u1,u2,u3; 180000 + 200000 + 180000 + 90000 (own duration)
    # rock: 1 listen by u1, 240000.  jazz: only on D2.
    kpis = read_day(root, registry.GENRE_DAILY_KPIS.prefix, D1)
    assert rows(kpis) == [
        (DAY1, "pop", 4, 3, 650_000, 650_000 / 3, 4 / 5),
        (DAY1, "rock", 1, 1, 240_000, 240_000.0, 1 / 5),
    ]
    assert rows(read_day(root, registry.GENRE_DAILY_KPIS.prefix, D2), "genre", "listen_count", "total_listening_time_ms") == [
        ("jazz", 1, 300_000)
    ]
    top_songs = read_day(root, registry.TOP_SONGS_PER_GENRE.prefix, D1)
    assert rows(top_songs, "genre", "rank", "track_id", "track_name", "play_count") == [
        ("pop", 1, "T1", "One", 3),
        ("pop", 2, "T2", "Two", 1),
        ("rock", 1, "T3", "Song T3", 1),
    ]
    top_genres = read_day(root, registry.TOP_GENRES_DAILY.prefix, D1)
    assert rows(top_genres) == [(DAY1, 1, "pop", 4, 3, 650_000), (DAY1, 2, "rock", 1, 1, 240_000)]


@pytest.fixture
def ties_lake(tmp_path):
    root = tmp_path / "ties"
    genres = ["zeta", "theta", "gamma", "eta", "delta", "beta", "alpha"]
    songs = [song_row(f"P{i}", "pop", 100_000) for i in (5, 3, 1, 4, 2)]  # file order is not the tie-break
    songs += [song_row("R2", "rock", 100_000), song_row("R1", "rock", 100_000)]
    songs += [song_row(f"G-{g}", g, 100_000) for g in genres]
    write_songs(root, songs)
    write_users(root, ["u1", "u2", "u3"])
    listens = [
        ("u1", "P5", "10:00"),
        ("u2", "P5", "10:01"),  # P5: 2 plays
        ("u1", "P4", "10:02"),
        ("u1", "P3", "10:03"),
        ("u1", "P2", "10:04"),
        ("u1", "P1", "10:05"),
        ("u3", "R2", "11:00"),
        ("u3", "R1", "11:01"),  # rock: 2 tracks only
        ("u1", "G-zeta", "12:00"),
        ("u2", "G-zeta", "12:01"),
        ("u3", "G-zeta", "12:02"),
    ]
    listens += [("u1", f"G-{g}", f"13:0{k}") for k, g in enumerate(genres[1:])]  # six genres tied at 1
    land(root, "raw/streams/ties.csv", stream_csv([(u, t, f"2024-06-01 {hm}:00") for u, t, hm in listens]))
    return root


def test_ties_in_top_n_give_exactly_n_rows_in_a_deterministic_order(ties_lake, tmp_path):
    run_all_steps(ties_lake, [D1])
    top_songs = read_day(ties_lake, registry.TOP_SONGS_PER_GENRE.prefix, D1)
    by_genre = {
        g: [
            (r["rank"], r["track_id"], r["play_count"])
            for r in sorted(top_songs.to_pylist(), key=lambda r: r["rank"])
            if r["genre"] == g
        ]
        for g in ("pop", "rock", "zeta", "alpha")
    }
    assert by_genre["pop"] == [(1, "P5", 2), (2, "P1", 1), (3, "P2", 1)]  # 3 of 5, ties by track_id asc
    assert by_genre["rock"] == [(1, "R1", 1), (2, "R2", 1)]  # min(3, 2 tracks)
    assert by_genre["zeta"] == [(1, "G-zeta", 3)] and by_genre["alpha"] == [(1, "G-alpha", 1)]
    top_genres = read_day(ties_lake, registry.TOP_GENRES_DAILY.prefix, D1)
    # pop 6, zeta 3, rock 2, then five genres tied at 1: alpha, beta, delta, eta, gamma, theta
    assert rows(top_genres, "rank", "genre", "listen_count") == [
        (1, "pop", 6),
        (2, "zeta", 3),
        (3, "rock", 2),
        (4, "alpha", 1),
        (5, "beta", 1),
    ]

    again = tmp_path / "again"
    shutil.copytree(ties_lake / "raw", again / "raw")
    run_all_steps(again, [D1])
    for table in (registry.TOP_SONGS_PER_GENRE.prefix, registry.TOP_GENRES_DAILY.prefix, registry.GENRE_DAILY_KPIS.prefix):
        assert rows(read_day(again, table, D1)) == rows(read_day(ties_lake, table, D1))


def test_songs_csv_duplicates_and_rejects(tmp_path):
    root = tmp_path / "lake"
    songs = [
        song_row("S1", "pop", 100_000, name="First"),  # line 2: kept
        song_row("S1", "rock", 200_000, name="Second"),  # line 3: duplicate_track_id
        song_row("S2", "", 150_000),  # line 4: missing_genre (no genre)
        song_row("S2", "jazz", 150_000, name="Jazz S2"),  # line 5: kept (first row passing the rules)
        song_row("S3", "pop", "abc"),  # line 6: invalid_duration_ms
        song_row("S3", "pop", 0),  # line 7: invalid_duration_ms
        song_row("", "pop", 100_000),  # line 8: missing_track_id
        song_row("S4", "   ", 100_000),  # line 9: missing_genre (blank)
    ]
    write_songs(root, songs)
    with open(root / layout.RAW_SONGS, "a") as fh:
        fh.write("S5,too,few,fields\n")  # line 10: malformed_line
    land(
        root,
        layout.RAW_USERS,
        "user_id,user_name,user_age,user_country,created_at\n"
        "u1,Ann,30,US,2023-01-01 00:00:00\n"
        "u1,Ann again,31,GB,2023-02-01 00:00:00\n"  # duplicate_user_id
        " ,Nobody,20,US,2023-01-01 00:00:00\n"  # missing_user_id
        "u2,Bob,40,DE,2030-01-01 00:00:00\n"  # created after the listens: fine
        "u3,Cy,x,FR,not a date\n",
    )  # kept, nulls
    land(
        root,
        "raw/streams/s.csv",
        stream_csv(
            [
                ("u1", "S1", "2024-06-01 10:00:00"),
                ("u2", "S2", "2024-06-01 10:00:00"),
                ("u3", "S3", "2024-06-01 10:00:00"),
                ("u3", "S4", "2024-06-01 11:00:00"),
            ]
        ),
    )
    validate(root, [D1])

    songs_valid = read_all(root, registry.SONGS.prefix)
    assert rows(songs_valid, "track_id", "track_name", "genre", "duration_ms", "source_line") == [
        ("S1", "First", "pop", 100_000, 2),
        ("S2", "Jazz S2", "jazz", 150_000, 5),
    ]
    song_rejects = read_all(root, registry.SONG_REJECTS.prefix)
    assert rows(song_rejects, "source_line", "id", "reason") == [
        (3, "S1", "duplicate_track_id"),
        (4, "S2", "missing_genre"),
        (6, "S3", "invalid_duration_ms"),
        (7, "S3", "invalid_duration_ms"),
        (8, "", "missing_track_id"),
        (9, "S4", "missing_genre"),
        (10, None, "malformed_line"),
    ]
    assert next(r for r in song_rejects.to_pylist() if r["source_line"] == 10)["record"] == "S5,too,few,fields"

    users_valid = read_all(root, registry.USERS.prefix)
    assert rows(users_valid, "user_id", "user_name", "user_age", "created_at") == [
        ("u1", "Ann", 30, dt.datetime(2023, 1, 1)),
        ("u2", "Bob", 40, dt.datetime(2030, 1, 1)),
        ("u3", "Cy", None, None),
    ]
    assert rows(read_all(root, registry.USER_REJECTS.prefix), "source_line", "id", "reason") == [
        (3, "u1", "duplicate_user_id"),
        (4, "", "missing_user_id"),
    ]

    valid = read_day(root, registry.VALIDATED_STREAMS.prefix, D1)
    assert rows(valid, "user_id", "track_id", "genre", "listening_time_ms") == [
        ("u1", "S1", "pop", 100_000),
        ("u2", "S2", "jazz", 150_000),
    ]
    assert rows(read_day(root, registry.STREAM_REJECTS.prefix, D1), "track_id", "reason") == [
        ("S3", "unknown_track_id"),
        ("S4", "unknown_track_id"),
    ]


def test_a_requested_day_without_listens_is_published_empty(tmp_path):
    root = tmp_path / "lake"
    write_songs(root, [song_row("T1", "pop")])
    write_users(root, ["u1"])
    land(root, "raw/streams/a.csv", stream_csv([("u1", "T1", "2024-06-01 10:00:00")]))
    run_all_steps(root, [D1, D2])
    for table in (
        registry.VALIDATED_STREAMS.prefix,
        registry.GENRE_DAILY_KPIS.prefix,
        registry.TOP_SONGS_PER_GENRE.prefix,
        registry.TOP_GENRES_DAILY.prefix,
    ):
        assert read_day(root, table, D2).num_rows == 0
        assert read_day(root, table, D1).num_rows == 1


def test_the_duckdb_memory_limit_of_the_environment_bounds_the_engine(tmp_path):
    """MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT reaches DuckDB: far too small a limit fails the step with DuckDB's
    out-of-memory error (and leaves the published day untouched); a sane one gives the same KPIs."""
    import duckdb

    from music_pipeline.core.resources import resources_from_settings
    from music_pipeline.core.settings import Settings

    root = tmp_path / "lake"
    write_songs(root, [song_row("T1", "pop"), song_row("T2", "rock")])
    write_users(root, ["u1", "u2"])
    land(root, "raw/streams/d1.csv", stream_csv([("u1", "T1", "2024-06-01 08:00:00"), ("u2", "T2", "2024-06-01 09:00:00")]))

    def engine(limit: str):
        settings = Settings.from_env({"MUSIC_PIPELINE_LAKE": str(root), "MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT": limit})
        return resources_from_settings(settings)["engine"].get()

    with pytest.raises(duckdb.OutOfMemoryException, match="Out of Memory"):
        run_all_steps(root, [D1], engine("1MB"))
    assert not (root / registry.GENRE_DAILY_KPIS.prefix).exists()
    run_all_steps(root, [D1], engine("512MB"))
    assert rows(read_day(root, registry.GENRE_DAILY_KPIS.prefix, D1), "genre", "listen_count") == [("pop", 1), ("rock", 1)]
    with pytest.raises(ValueError, match="MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT='lots'"):
        engine("lots")


@pytest.mark.parametrize("days", [["2024-06-01"], ["2024-06-01", "2024-06-03"]])
def test_rows_of_a_day_not_requested_are_never_published(tmp_path, days):
    """A row of a day that was not requested stops the step before anything is published."""
    import pyarrow as pa

    from music_pipeline.engines.duckdb import DuckDBEngine
    from music_pipeline.engines.plan import Output, Transform
    from music_pipeline.lake.store import Lake

    schema = pa.schema([("date", pa.date32()), ("n", pa.int64())])
    sql = "SELECT CAST(d AS DATE) AS date, CAST(1 AS BIGINT) AS n FROM (SELECT '2024-06-01' AS d UNION ALL SELECT '2024-06-02')"
    lake = Lake(str(tmp_path))
    with pytest.raises(RuntimeError, match="2024-06-02"):
        DuckDBEngine().run(lake, Transform(inputs=[], views=[], outputs=[Output("processed/t", sql, schema)], days=days))
    assert not lake.list("processed/t")


def test_the_duckdb_form_of_trim_gives_trims_value_for_every_space_and_shape():
    """to_duckdb skips DuckDB's TRIM for strings that need none: the rewritten query gives TRIM's value for every
    string with DuckDB's trimmed spaces (U+0020, U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000) and other
    whitespace at either end, inside, alone or around other non-ASCII text, and NULL."""
    import duckdb

    from music_pipeline.engines.duckdb import to_duckdb

    spaces = [" ", "\u00a0", "\u1680", *(chr(c) for c in range(0x2000, 0x200B)), "\u202f", "\u205f", "\u3000"]
    others = ["\t", "\n", "\r", "\u200b", "\ufeff", "é", "\U0001f3b5", "x"]
    values: list[str | None] = [None, "", "u1", "u 1", "é"]
    for s in spaces + others:
        values += [s, s + s, f"{s}u1", f"u1{s}", f"{s}u1{s}", f"u{s}1", f"{s}é", f"é{s}", f"{s}\U0001f3b5{s}"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, c VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    rewritten = to_duckdb("SELECT i, TRIM(c) AS trimmed FROM t ORDER BY i")
    assert "LIKE" in rewritten  # the form under test
    assert con.sql(rewritten).fetchall() == con.sql("SELECT i, TRIM(c) AS trimmed FROM t ORDER BY i").fetchall()
    assert con.sql(rewritten).fetchall()[5:10] == [(5, ""), (6, ""), (7, "u1"), (8, "u1"), (9, "u1")]  # " ", "  ", " u1"
