"""The lean reference (issue 25): what a data engineer writes by hand with DuckDB for the genre KPIs of a lake
folder's landed CSV, with none of the product's provenance (no source file or line, no reject reasons, no
conservation, no manifests) and no code of `music_pipeline`.

Read every `raw/streams/**/*.csv` (`user_id, track_id, listen_time`), parse the times, drop rows with a blank
id, an unknown track or user, or an exact duplicate, and write under `out`: the clean listens
(`listens/date=D/*.parquet`), `genre_daily_kpis`, `top_songs_per_genre` (top 3 per genre) and `top_genres_daily`
(top 5), each `<table>/date=D/*.parquet`. Songs: the first row of each track_id with a genre; users: the
distinct user_ids.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

SQL = """
CREATE TABLE songs AS
SELECT track_id, track_genre AS genre, track_name, artists, duration_ms
FROM (SELECT *, row_number() OVER () AS pos FROM read_csv($songs, header = true, all_varchar = true))
WHERE trim(coalesce(track_id, '')) <> '' AND trim(coalesce(track_genre, '')) <> ''
QUALIFY row_number() OVER (PARTITION BY track_id ORDER BY pos) = 1;

CREATE TABLE users AS
SELECT DISTINCT user_id FROM read_csv($users, header = true, all_varchar = true)
WHERE trim(coalesce(user_id, '')) <> '';

CREATE TABLE listens AS
SELECT DISTINCT l.user_id, l.track_id, l.listen_time, CAST(l.listen_time AS DATE) AS date, s.genre,
       CAST(s.duration_ms AS BIGINT) AS listening_time_ms
FROM read_csv($streams, header = true,
              columns = {'user_id': 'VARCHAR', 'track_id': 'VARCHAR', 'listen_time': 'TIMESTAMP'}) AS l
JOIN songs AS s ON s.track_id = l.track_id
SEMI JOIN users AS u ON u.user_id = l.user_id
WHERE l.user_id <> '' AND l.track_id <> '' AND l.listen_time IS NOT NULL;

CREATE TABLE genre_daily_kpis AS
SELECT date, genre, count(*) AS listen_count, count(DISTINCT user_id) AS unique_listeners,
       CAST(sum(listening_time_ms) AS BIGINT) AS total_listening_time_ms,
       sum(listening_time_ms) / count(DISTINCT user_id) AS avg_listening_time_per_user_ms,
       count(*) / sum(count(*)) OVER (PARTITION BY date) AS listen_share
FROM listens GROUP BY date, genre;

CREATE TABLE top_songs_per_genre AS
SELECT p.date, p.genre, p.rank, p.track_id, s.track_name, s.artists, p.play_count
FROM (SELECT date, genre, track_id, count(*) AS play_count,
             row_number() OVER (PARTITION BY date, genre ORDER BY count(*) DESC, track_id) AS rank
      FROM listens GROUP BY date, genre, track_id QUALIFY rank <= 3) AS p
JOIN songs AS s USING (track_id);

CREATE TABLE top_genres_daily AS
SELECT date, row_number() OVER (PARTITION BY date ORDER BY listen_count DESC, genre) AS rank,
       genre, listen_count, unique_listeners, total_listening_time_ms
FROM genre_daily_kpis QUALIFY rank <= 5;
"""

OUTPUTS = ("listens", "genre_daily_kpis", "top_songs_per_genre", "top_genres_daily")


def run(landed: str, out: str) -> dict:
    """Landed lake folder -> Parquet tables under `out`; seconds per phase and rows per table."""
    t0 = time.perf_counter()
    con = duckdb.connect(config={"preserve_insertion_order": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    files = {
        "songs": f"{landed}/raw/songs/songs.csv",
        "users": f"{landed}/raw/users/users.csv",
        "streams": f"{landed}/raw/streams/**/*.csv",
    }
    for statement in filter(str.strip, SQL.split(";")):
        con.execute(statement, {k: v for k, v in files.items() if f"${k}" in statement})
    t1 = time.perf_counter()
    Path(out).mkdir(parents=True, exist_ok=True)
    for table in OUTPUTS:
        con.execute(f"COPY {table} TO '{out}/{table}' (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)")
    t2 = time.perf_counter()
    rows = {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in OUTPUTS}  # type: ignore[index]
    con.close()
    return {"seconds": {"compute": t1 - t0, "write": t2 - t1, "total": t2 - t0}, "rows": rows}
