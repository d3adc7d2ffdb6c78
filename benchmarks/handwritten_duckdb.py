"""The hand-written DuckDB reference: what a person would write in one script, with no framework.

Reads the same bronze slices and validated reference tables as the project's engine and writes the
same outputs (validated listens and their rejects per day, genre KPIs, top songs, top genres) under
`out`, with the same rules as music_pipeline/sql/*.sql: one connection, no sqlglot, no staging.
"""

from __future__ import annotations

import duckdb


def _files(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def run(bronze_files: list[str], songs_file: str, users_file: str, out: str, top_songs: int = 3, top_genres: int = 5) -> None:
    con = duckdb.connect(config={"preserve_insertion_order": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"""
        CREATE TEMP TABLE classified AS
        WITH listens AS (
          SELECT date, trim(user_id) AS user_id, trim(track_id) AS track_id, listen_time, listen_duration_ms,
                 source_file, source_line
          FROM read_parquet({_files(bronze_files)})
        ), numbered AS (
          SELECT *, row_number() OVER (PARTITION BY user_id, track_id, listen_time
                                       ORDER BY source_file, source_line) AS occurrence
          FROM listens
        )
        SELECT n.date, n.user_id, n.track_id, n.listen_time, s.genre,
               coalesce(n.listen_duration_ms, s.duration_ms) AS listening_time_ms, n.source_file, n.source_line,
               CASE WHEN n.user_id IS NULL OR n.user_id = '' THEN 'missing_user_id'
                    WHEN n.track_id IS NULL OR n.track_id = '' THEN 'missing_track_id'
                    WHEN s.track_id IS NULL THEN 'unknown_track_id'
                    WHEN u.user_id IS NULL THEN 'unknown_user_id'
                    WHEN n.occurrence > 1 THEN 'duplicate_listen' END AS reason
        FROM numbered n
        LEFT JOIN read_parquet('{songs_file}') s ON n.track_id = s.track_id
        LEFT JOIN read_parquet('{users_file}') u ON n.user_id = u.user_id
        """)
        con.execute(f"""COPY (SELECT date, user_id, track_id, listen_time, genre, listening_time_ms, source_file, source_line,
                                     CAST(date AS VARCHAR) AS day
                              FROM classified WHERE reason IS NULL)
                        TO '{out}/validated_streams' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (day))""")
        con.execute(f"""COPY (SELECT date, user_id, track_id, listen_time, source_file, source_line, reason,
                                     CAST(date AS VARCHAR) AS day
                              FROM classified WHERE reason IS NOT NULL)
                        TO '{out}/stream_rejects' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (day))""")
        con.execute("""
        CREATE TEMP TABLE kpis AS
        SELECT date, genre, count(*) AS listen_count, count(DISTINCT user_id) AS unique_listeners,
               sum(listening_time_ms) AS total_listening_time_ms,
               sum(listening_time_ms) / count(DISTINCT user_id) AS avg_listening_time_per_user_ms
        FROM classified WHERE reason IS NULL GROUP BY date, genre
        """)
        con.execute(f"COPY kpis TO '{out}/genre_daily_kpis.parquet' (FORMAT parquet)")
        con.execute(f"""COPY (
          SELECT p.date, p.genre, p.rank, p.track_id, s.track_name, s.artists, p.play_count
          FROM (SELECT date, genre, track_id, count(*) AS play_count,
                       row_number() OVER (PARTITION BY date, genre ORDER BY count(*) DESC, track_id) AS rank
                FROM classified WHERE reason IS NULL GROUP BY date, genre, track_id
                QUALIFY rank <= {int(top_songs)}) p
          LEFT JOIN read_parquet('{songs_file}') s ON p.track_id = s.track_id
        ) TO '{out}/top_songs_per_genre.parquet' (FORMAT parquet)""")
        con.execute(f"""COPY (
          SELECT date, row_number() OVER (PARTITION BY date ORDER BY listen_count DESC, genre) AS rank,
                 genre, listen_count, unique_listeners, total_listening_time_ms
          FROM kpis QUALIFY rank <= {int(top_genres)}
        ) TO '{out}/top_genres_daily.parquet' (FORMAT parquet)""")
    finally:
        con.close()
