"""The DuckDB reference: a lake folder's landed CSV -> every validated, rejected and gold table, in one
script on one DuckDB connection, with no framework and nothing of `music_pipeline` (issue 15).

What it reads: `raw/songs/songs.csv` (Spotify 21-column shape), `raw/users/users.csv` (the lab shape
`user_id,user_name,user_age,user_country,created_at`) and every delivery below `raw/streams/` that is
a `.csv` file (header with `user_id`, `track_id`/`song_id`, `listen_time`/`timestamp`, and optionally
`stream_id`, `duration` seconds, `completed`, `device_type`). What it writes under `out`:
`<table>/date=D/data.parquet` for the partitioned tables (`ingest_rejects` also `date=unknown`) and
`<table>/data.parquet` for songs, users and their rejects. The rules are docs/design.md section 3 as the
product applies them; the limits of this script (CSV only, no blank lines or multi-line records inside
stream files) are in docs/decisions.md ("Benchmark references").

Speed the way a DuckDB user gets it: `read_csv` with explicit VARCHAR columns (no sniffing) and its
own reject store for malformed lines, typed columns computed once into one temporary table, duplicate
listens found by an aggregate over repeated keys instead of a window over every row, sessions by one
window pass (lag/lead) plus one over session edges only, and the gold tables from small aggregates.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import shutil
import time
from pathlib import Path

import duckdb

STREAM_ALIASES = {"song_id": "track_id", "timestamp": "listen_time"}
REQUIRED = ("user_id", "track_id", "listen_time")
OPTIONAL = ("stream_id", "duration", "completed", "device_type")
IGNORED_SUFFIXES = (".part", "._copying_", ".tmp", "~")
DATA_SUFFIXES = (".csv", ".gz", ".json", ".jsonl", ".ndjson")
SONGS_COLUMNS = ("track_id", "track_name", "artists", "album_name", "track_genre", "duration_ms", "popularity")
USERS_COLUMNS = ("user_id", "user_name", "user_age", "user_country", "created_at")
FUTURE_TOLERANCE_S = 86_400
MAX_DURATION_S = 86_400

# the accepted listen_time spellings: YYYY-MM-DD, T or a space, HH:MM:SS, a fraction of 1-9 digits, an offset
TIME_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?"
NUMBER_SHAPE = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
WS = "' \t\n\r\x0b\x0c'"  # what "trim the whitespace" trims (not only spaces)

MACROS = f"""
CREATE OR REPLACE MACRO ws_trim(s) AS trim(s, {WS});
CREATE OR REPLACE MACRO lt_base(t) AS
  CASE WHEN regexp_full_match(t, '{TIME_SHAPE}') AND substr(t, 1, 4) <> '0000'
       THEN try_strptime(substr(t, 1, 10) || ' ' || substr(t, 12, 8), '%Y-%m-%d %H:%M:%S') END;
CREATE OR REPLACE MACRO lt_fraction_us(t) AS
  coalesce(CAST(left(rpad(regexp_extract(t, '^.{{19}}\\.([0-9]+)', 1), 6, '0'), 6) AS BIGINT), 0);
CREATE OR REPLACE MACRO lt_offset_min(t) AS
  CASE WHEN regexp_matches(t, '[+-][0-9]{{2}}:?[0-9]{{2}}$') THEN
    (CASE WHEN substr(regexp_extract(t, '([+-])[0-9]{{2}}:?[0-9]{{2}}$', 1), 1, 1) = '-' THEN -1 ELSE 1 END)
    * (CAST(regexp_extract(t, '[+-]([0-9]{{2}}):?[0-9]{{2}}$', 1) AS BIGINT) * 60
       + CAST(regexp_extract(t, '[+-][0-9]{{2}}:?([0-9]{{2}})$', 1) AS BIGINT))
  ELSE 0 END;
CREATE OR REPLACE MACRO lt_offset_ok(t) AS
  NOT regexp_matches(t, '[+-][0-9]{{2}}:?[0-9]{{2}}$')
  OR (CAST(regexp_extract(t, '[+-]([0-9]{{2}}):?[0-9]{{2}}$', 1) AS BIGINT) <= 23
      AND CAST(regexp_extract(t, '[+-][0-9]{{2}}:?([0-9]{{2}})$', 1) AS BIGINT) <= 59);
CREATE OR REPLACE MACRO lt_value(t) AS
  CASE WHEN length(t) = 19 THEN lt_base(t)
       WHEN lt_offset_ok(t) THEN lt_base(t) + to_microseconds(lt_fraction_us(t)) - to_minutes(lt_offset_min(t)) END;
CREATE OR REPLACE MACRO listen_time_of(s) AS
  CASE WHEN lt_value(ws_trim(s)) BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999'
       THEN lt_value(ws_trim(s)) END;
CREATE OR REPLACE MACRO duration_present(s) AS coalesce(length(ws_trim(s)) > 0, false);
CREATE OR REPLACE MACRO duration_ok(s) AS
  regexp_full_match(ws_trim(s), '{NUMBER_SHAPE}') AND TRY_CAST(ws_trim(s) AS DOUBLE) BETWEEN 0 AND {MAX_DURATION_S};
CREATE OR REPLACE MACRO completed_of(s) AS
  CASE WHEN lower(ws_trim(s)) IN ('true', '1', 'yes', 't') THEN true
       WHEN lower(ws_trim(s)) IN ('false', '0', 'no', 'f') THEN false END;
CREATE OR REPLACE MACRO completed_bad(s) AS
  coalesce(ws_trim(s) <> '', false) AND completed_of(s) IS NULL;
"""


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline().removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").decode("utf-8")
    return [n.strip().strip("\ufeff").lower() for n in next(csv.reader([first]), [])]


def _deliveries(landed: Path) -> list[tuple[str, Path]]:
    """(key, path) of every finished delivery under raw/streams, in key (byte) order."""
    base = landed / "raw/streams"
    found = []
    for root, _, files in os.walk(base):
        for name in files:
            path = Path(root, name)
            rel = path.relative_to(base).as_posix()
            parts = rel.split("/")
            if any(p.startswith((".", "_")) for p in parts) or name.lower().endswith(IGNORED_SUFFIXES):
                continue
            if any(folder.lower().endswith(DATA_SUFFIXES) for folder in parts[:-1]):
                continue
            found.append((f"raw/streams/{rel}", path))
    return sorted(found, key=lambda kp: kp[0].encode())


def _scan(path: Path, names: list[str], scan: str) -> str:
    """SQL of a CSV scan with text columns `names` and `rn`, the row's position among the rows read; the lines
    DuckDB could not read go to the reject tables `<scan>_errors` (see `_gaps`)."""
    columns = "{" + ", ".join(f"{_q(n)}: 'VARCHAR'" for n in names) + "}"
    return f"""
        SELECT *, row_number() OVER () AS rn
        FROM read_csv({_q(str(path))}, header = true, auto_detect = false, columns = {columns}, delim = ',',
                      quote = '"', escape = '"', store_rejects = true, rejects_table = '{scan}_errors',
                      rejects_scan = '{scan}_scans', null_padding = false)"""


def _gaps(con: duckdb.DuckDBPyConnection, scan: str) -> list[tuple[int, int]]:
    """(rows read before the n-th rejected line, n) of a scan that ran: the read row at position rn is on line
    rn + 1 (the header is line 1) + the rejected lines before it."""
    return con.execute(f"""
        SELECT line - 2 - (row_number() OVER (ORDER BY line) - 1), row_number() OVER (ORDER BY line)
        FROM (SELECT DISTINCT line FROM {scan}_errors) ORDER BY line""").fetchall()


def _numbered(source: str, gaps: str | None, by: str | None = None) -> str:
    """`source` with `source_line` instead of `rn` (ASOF join on the gaps table when lines were rejected)."""
    if gaps is None:
        return f"SELECT * EXCLUDE (rn), rn + 1 AS source_line FROM {source}"
    same = f"r.{by} = g.{by} AND " if by else ""
    return f"""SELECT r.* EXCLUDE (rn), r.rn + 1 + coalesce(g.n, 0) AS source_line
               FROM {source} AS r ASOF LEFT JOIN {gaps} AS g ON {same}r.rn > g.rows_before"""


def _rejected_lines(con: duckdb.DuckDBPyConnection, path: Path, scan: str, width: int, time_index: int | None) -> list[dict]:
    """The lines of a scan DuckDB rejected, as the product reports them: wrong field count first, then invalid
    UTF-8; the record is the line as written (invalid bytes shown as U+FFFD)."""
    rows = con.execute(
        f"SELECT line, min(line_byte_position), list(error_type) FROM {scan}_errors GROUP BY line ORDER BY line"
    ).fetchall()
    if not rows:
        return []
    out = []
    with open(path, "rb") as fh:  # read around each rejected line only (a landed file may be large)
        for line, position, errors in rows:
            base = max(position - 4096, 0)
            fh.seek(base)
            data = fh.read(4096 + (1 << 20))
            start = data.rfind(b"\n", 0, position - base) + 1  # DuckDB's position may point just past the line's start
            end = data.find(b"\n", start)
            raw = data[start : end if end >= 0 else len(data)].rstrip(b"\r")
            out.append((line, errors, raw))
    found = []
    for line, errors, raw in out:
        text = raw.decode("utf-8", "replace")
        fields = next(csv.reader([text]), [])
        hint = fields[time_index] if time_index is not None and time_index < len(fields) else None
        if len(fields) != width or not any("ENCODING" in e for e in errors):
            reason, detail = "malformed_line", f"expected {width} fields, found {len(fields)}"
        else:
            reason, detail = "bad_encoding", "the line is not valid UTF-8"
        found.append({"source_line": int(line), "reason": reason, "detail": detail, "record": text, "hint": hint})
    return found


def _write_days(con: duckdb.DuckDBPyConnection, query: str, target: Path, table: str | None = None) -> dict[str, int]:
    """The rows of `query` (or of the table `table`) to target/date=D/data.parquet, one COPY per day (`unknown`
    for a null date): a filtered COPY per day is faster than one COPY ... PARTITION_BY (2.5x on a 1M-row day)."""
    if table is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _day_rows AS {query}")
    source = table or "_day_rows"
    counts = con.execute(f"SELECT CAST(date AS VARCHAR), count(*) FROM {source} GROUP BY ALL ORDER BY ALL").fetchall()
    rows = {}
    for day, n in counts:
        dest = target / f"date={day or 'unknown'}"
        dest.mkdir(parents=True, exist_ok=True)
        where = "date IS NULL" if day is None else f"date = DATE {_q(day)}"
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE {where}) TO {_q(str(dest / 'data.parquet'))} (FORMAT parquet, COMPRESSION snappy)"
        )
        rows[day or "unknown"] = n
    if table is None:
        con.execute("DROP TABLE _day_rows")
    return rows


def _write_file(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({query}) TO {_q(str(target / 'data.parquet'))} (FORMAT parquet, COMPRESSION snappy)")
    return con.execute(f"SELECT count(*) FROM read_parquet({_q(str(target / 'data.parquet'))})").fetchone()[0]


def _reference_table(con, path: Path, wanted: tuple[str, ...], name: str) -> None:
    """A reference CSV -> TEMP TABLE `name` of its text columns + source_line, + `name`_unread (lines that
    could not be read: source_line, reason, record)."""
    header = _header(path)
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(f"{path}: this script reads the {name} shape {wanted} only; missing {missing}")
    scan = f"scan_{name}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {scan} AS {_scan(path, header, scan)}")
    gaps = _gaps(con, scan)
    if gaps:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {scan}_gaps (rows_before BIGINT, n BIGINT)")
        con.executemany(f"INSERT INTO {scan}_gaps VALUES (?, ?)", gaps)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {_numbered(scan, f'{scan}_gaps' if gaps else None)}")
    unread = _rejected_lines(con, path, scan, len(header), None)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_unread (source_line BIGINT, reason VARCHAR, record VARCHAR)")
    if unread:
        con.executemany(
            f"INSERT INTO {name}_unread VALUES (?, ?, ?)", [(r["source_line"], r["reason"], r["record"]) for r in unread]
        )


def run(
    landed: str,
    out: str,
    *,
    start_date: str,
    session_gap_minutes: int = 30,
    top_songs_n: int = 3,
    top_genres_n: int = 5,
    top_artists_n: int = 10,
) -> dict:
    """Every table of the lake folder `landed` under `out`. Returns {"rows": {table: rows}, "seconds": {phase: s},
    "files": {"ingested": n, "duplicate": n, "failed": {key: reason}}, "days"}. `top_artists_n` shapes only DynamoDB
    items (no lake table), it is accepted for the common interface."""
    landed_path, out_path = Path(landed), Path(out)
    shutil.rmtree(out_path, ignore_errors=True)
    out_path.mkdir(parents=True)
    seconds: dict[str, float] = {}
    rows: dict[str, int] = {}
    start_us = int(dt.datetime.combine(dt.date.fromisoformat(start_date), dt.time(), dt.UTC).timestamp()) * 1_000_000
    con = duckdb.connect(config={"preserve_insertion_order": True})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        for statement in MACROS.split(";\n"):
            if statement.strip():
                con.execute(statement)

        # ---------------------------------------------------------------- reference data
        t0 = time.perf_counter()
        _reference_table(con, landed_path / "raw/songs/songs.csv", SONGS_COLUMNS, "songs_csv")
        con.execute("""
            CREATE TEMP TABLE songs_classified AS
            WITH typed AS (
              SELECT NULLIF(trim(track_id), '') AS track_id, trim(track_id) AS id, coalesce(track_name, '') AS track_name,
                     coalesce(artists, '') AS artists, coalesce(album_name, '') AS album_name,
                     NULLIF(trim(coalesce(track_genre, '')), '') AS genre, TRY_CAST(trim(duration_ms) AS BIGINT) AS duration_ms,
                     TRY_CAST(trim(popularity) AS BIGINT) AS popularity, CAST(NULL AS VARCHAR) AS release_date, source_line
              FROM songs_csv
            ), checked AS (
              SELECT *, CASE WHEN track_id IS NULL THEN 'missing_track_id' WHEN genre IS NULL THEN 'missing_genre'
                             WHEN duration_ms IS NULL OR duration_ms <= 0 OR duration_ms > 86400000 THEN 'invalid_duration_ms'
                        END AS failure
              FROM typed
            ), firsts AS (
              SELECT track_id, min(source_line) AS first_line FROM checked WHERE failure IS NULL GROUP BY track_id
            )
            SELECT c.*, coalesce(c.failure, CASE WHEN c.source_line > f.first_line THEN 'duplicate_track_id' END) AS reason
            FROM checked AS c LEFT JOIN firsts AS f ON c.track_id = f.track_id AND c.failure IS NULL
        """)
        con.execute("""CREATE TEMP TABLE songs AS
            SELECT track_id, track_name, artists, album_name, genre, duration_ms, popularity, release_date, source_line
            FROM songs_classified WHERE reason IS NULL""")
        rows["songs"] = _write_file(con, "SELECT * FROM songs", out_path / "songs")
        rows["song_rejects"] = _write_file(
            con,
            """SELECT source_line, id, reason, CAST(NULL AS VARCHAR) AS record FROM songs_classified WHERE reason IS NOT NULL
               UNION ALL SELECT source_line, CAST(NULL AS VARCHAR), reason, record FROM songs_csv_unread""",
            out_path / "song_rejects",
        )
        _reference_table(con, landed_path / "raw/users/users.csv", USERS_COLUMNS, "users_csv")
        con.execute("""
            CREATE TEMP TABLE users_classified AS
            WITH typed AS (
              SELECT NULLIF(trim(user_id), '') AS user_id, trim(user_id) AS id, coalesce(user_name, '') AS user_name,
                     CASE WHEN TRY_CAST(trim(user_age) AS BIGINT) BETWEEN 0 AND 150 THEN TRY_CAST(trim(user_age) AS BIGINT)
                     END AS user_age,
                     NULLIF(trim(coalesce(user_country, '')), '') AS user_country, CAST(NULL AS VARCHAR) AS subscription_type,
                     TRY_CAST(trim(created_at) AS TIMESTAMP) AS created_at, source_line
              FROM users_csv
            ), checked AS (
              SELECT *, CASE WHEN user_id IS NULL THEN 'missing_user_id' END AS failure FROM typed
            ), firsts AS (
              SELECT user_id, min(source_line) AS first_line FROM checked WHERE failure IS NULL GROUP BY user_id
            )
            SELECT c.*, coalesce(c.failure, CASE WHEN c.source_line > f.first_line THEN 'duplicate_user_id' END) AS reason
            FROM checked AS c LEFT JOIN firsts AS f ON c.user_id = f.user_id AND c.failure IS NULL
        """)
        con.execute("""CREATE TEMP TABLE users AS
            SELECT user_id, user_name, user_age, user_country, subscription_type, created_at, source_line
            FROM users_classified WHERE reason IS NULL""")
        rows["users"] = _write_file(con, "SELECT * FROM users", out_path / "users")
        rows["user_rejects"] = _write_file(
            con,
            """SELECT source_line, id, reason, CAST(NULL AS VARCHAR) AS record FROM users_classified WHERE reason IS NOT NULL
               UNION ALL SELECT source_line, CAST(NULL AS VARCHAR), reason, record FROM users_csv_unread""",
            out_path / "user_rejects",
        )
        seconds["reference"] = time.perf_counter() - t0

        # ---------------------------------------------------------------- ingestion: landed CSV -> typed listens
        t0 = time.perf_counter()
        files = {"ingested": 0, "duplicate": 0, "failed": {}}
        seen_content: set[str] = set()
        scans, scanned, unread = [], [], []
        for k, (key, path) in enumerate(_deliveries(landed_path)):
            if not key.lower().endswith(".csv"):
                raise NotImplementedError(f"{key}: this reference reads .csv deliveries only")
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(8 << 20):
                    digest.update(chunk)
            if digest.hexdigest() in seen_content:  # the same content under another key changes nothing
                files["duplicate"] += 1
                continue
            seen_content.add(digest.hexdigest())
            try:
                header = [STREAM_ALIASES.get(n, n) for n in _header(path)]
            except (UnicodeDecodeError, csv.Error) as exc:
                files["failed"][key] = str(exc)
                continue
            if len(set(header)) != len(header) or any(c not in header for c in REQUIRED):
                files["failed"][key] = f"header {header}"
                continue
            files["ingested"] += 1
            scan = f"scan_{k}"
            landed_limit_us = int((path.stat().st_mtime + FUTURE_TOLERANCE_S) * 1_000_000)
            raw = {c: f"raw_{i}" for i, c in enumerate(header)}
            text = {c: f"coalesce({_q_ident(c)}, '')" if c in header else "CAST(NULL AS VARCHAR)" for c in (*REQUIRED, *OPTIONAL)}
            kept = {c: f"coalesce({raw[c]}, '')" if c in header else "CAST(NULL AS VARCHAR)" for c in (*REQUIRED, *OPTIONAL)}
            record = "concat_ws(',', " + ", ".join(f"coalesce({raw[c]}, '')" for c in header) + ")"
            duration, completed = text["duration"], text["completed"]
            has_duration, has_completed = "duration" in header, "completed" in header
            duration_ms = (
                f"CASE WHEN duration_present({duration}) AND duration_ok({duration}) "
                f"THEN CAST(round_even(CAST(ws_trim({duration}) AS DOUBLE) * 1000, 0) AS BIGINT) END"
                if has_duration
                else "CAST(NULL AS BIGINT)"
            )
            duration_bad = (
                f"duration_present({duration}) AND NOT coalesce(duration_ok({duration}), false)" if has_duration else "false"
            )
            select = _scan(path, header, scan)
            scans.append(f"""
              SELECT * EXCLUDE ({", ".join(raw.values())}),
                     CASE WHEN ingest_reason = 'invalid_duration' THEN {kept["duration"]}
                          WHEN ingest_reason = 'invalid_completed' THEN {kept["completed"]}
                          WHEN ingest_reason IS NOT NULL THEN {kept["listen_time"]} END AS reject_value,
                     CASE WHEN ingest_reason IS NOT NULL THEN {record} END AS record
              FROM (
                SELECT *, CASE WHEN listen_time IS NULL THEN 'unparseable_listen_time'
                               WHEN epoch_us(listen_time) > {landed_limit_us} THEN 'future_listen_time'
                               WHEN epoch_us(listen_time) < {start_us} THEN 'before_start_date'
                               WHEN duration_bad THEN 'invalid_duration'
                               WHEN completed_bad THEN 'invalid_completed' END AS ingest_reason
                FROM (
                  SELECT {text["user_id"]} AS user_id, {text["track_id"]} AS track_id,
                         listen_time_of({text["listen_time"]}) AS listen_time, {duration_ms} AS listen_duration_ms,
                         {duration_bad} AS duration_bad, NULLIF(ws_trim({text["stream_id"]}), '') AS stream_id,
                         {f"completed_of({completed})" if has_completed else "CAST(NULL AS BOOLEAN)"} AS completed,
                         {f"completed_bad({completed})" if has_completed else "false"} AS completed_bad,
                         coalesce(NULLIF(lower(ws_trim({text["device_type"]})), ''), 'unknown') AS device_type,
                         {_q(key)} AS source_file, {k} AS file_index, rn,
                         {", ".join(f"{_q_ident(c)} AS {raw[c]}" for c in header)}
                  FROM ({select})
                )
              )""")
            scanned.append((scan, key, path, header.index("listen_time"), len(header)))
        if scans:
            con.execute("CREATE TEMP TABLE landed_rows AS " + " UNION ALL ".join(scans))
            gaps = []
            for scan, key, path, time_index, width in scanned:
                gaps += [(key, *g) for g in _gaps(con, scan)]
                for r in _rejected_lines(con, path, scan, width, time_index):
                    unread.append((r["hint"], key, r["source_line"], r["reason"], r["detail"], r["record"]))
            if gaps:
                con.execute("CREATE TEMP TABLE line_gaps (source_file VARCHAR, rows_before BIGINT, n BIGINT)")
                con.executemany("INSERT INTO line_gaps VALUES (?, ?, ?)", gaps)
            con.execute(f"CREATE TEMP VIEW landed AS {_numbered('landed_rows', 'line_gaps' if gaps else None, 'source_file')}")
        else:
            con.execute("""CREATE TEMP TABLE landed_rows (user_id VARCHAR, track_id VARCHAR, listen_time TIMESTAMP,
                listen_duration_ms BIGINT, duration_bad BOOLEAN, stream_id VARCHAR, completed BOOLEAN, completed_bad BOOLEAN,
                device_type VARCHAR, source_file VARCHAR, file_index BIGINT, source_line BIGINT, ingest_reason VARCHAR,
                reject_value VARCHAR, record VARCHAR)""")
            con.execute("CREATE TEMP VIEW landed AS SELECT * FROM landed_rows")
        # rows rejected while reading (few): the detail is the value as written (Python's repr)
        landing_times = {key: path.stat().st_mtime for key, path in _deliveries(landed_path)}
        typed_rejects = con.execute("""SELECT CAST(listen_time AS DATE), source_file, source_line, ingest_reason,
            reject_value, record FROM landed WHERE ingest_reason IS NOT NULL""").fetchall()
        reject_rows = []
        for day, key, line, reason, value, record in typed_rejects:
            lt_text = duration_text = completed_text = value
            if reason == "unparseable_listen_time":
                detail = f"listen_time {lt_text!r}"
            elif reason == "future_listen_time":
                landed_at = dt.datetime.fromtimestamp(landing_times[key], dt.UTC).isoformat(timespec="seconds")
                detail = f"listen_time {lt_text!r} is later than the file's landing time {landed_at} + 24 h"
            elif reason == "before_start_date":
                detail = f"listen_time {lt_text!r} is before the start date {start_date}"
            elif reason == "invalid_duration":
                detail = f"duration {duration_text!r}"
            else:
                detail = f"completed {completed_text!r}"
            reject_rows.append((day, key, line, reason, detail, record))
        con.execute("""CREATE TEMP TABLE ingest_rejects (date DATE, source_file VARCHAR, source_line BIGINT, reason VARCHAR,
                       detail VARCHAR, record VARCHAR)""")
        if reject_rows:
            con.executemany("INSERT INTO ingest_rejects VALUES (?, ?, ?, ?, ?, ?)", reject_rows)
        if unread:  # a malformed line counts in the day of its readable listen_time
            con.executemany(
                "INSERT INTO ingest_rejects SELECT CAST(listen_time_of(?) AS DATE), ?, ?, ?, ?, ?",
                [(hint, *rest) for hint, *rest in unread],
            )
        con.execute("SET preserve_insertion_order = false")  # rows are numbered: no order is needed from here on
        seconds["ingest"] = time.perf_counter() - t0

        # ---------------------------------------------------------------- validation
        t0 = time.perf_counter()
        con.execute("""
            CREATE TEMP TABLE classified AS
            WITH listens AS (
              SELECT CAST(listen_time AS DATE) AS date, trim(user_id) AS user_id, trim(track_id) AS track_id, listen_time,
                     listen_duration_ms, stream_id, completed, device_type, source_file, source_line,
                     file_index * 1099511627776 + source_line AS ord  -- (source_file, source_line) order in one integer
              FROM landed WHERE ingest_reason IS NULL
            ), repeated_keys AS (  -- keys seen more than once (a count per key: the cheapest aggregate)
              SELECT user_id, track_id, listen_time FROM listens GROUP BY ALL HAVING count(*) > 1
            ), repeated AS (  -- of those, the first in (source_file, source_line) order is kept
              SELECT user_id, track_id, listen_time, min(ord) AS first
              FROM listens SEMI JOIN repeated_keys USING (user_id, track_id, listen_time) GROUP BY ALL
            ), repeated_ids AS (
              SELECT date, stream_id FROM listens WHERE stream_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1
            ), repeated_streams AS (
              SELECT date, stream_id, min(ord) AS first
              FROM listens SEMI JOIN repeated_ids USING (date, stream_id) GROUP BY ALL
            )
            SELECT l.date, l.user_id, l.track_id, l.listen_time, s.genre,
                   coalesce(l.listen_duration_ms, s.duration_ms) AS listening_time_ms, l.stream_id, l.completed, l.device_type,
                   l.source_file, l.source_line, l.ord,
                   CASE WHEN l.user_id = '' THEN 'missing_user_id'
                        WHEN l.track_id = '' THEN 'missing_track_id'
                        WHEN s.track_id IS NULL THEN 'unknown_track_id'
                        WHEN u.user_id IS NULL THEN 'unknown_user_id'
                        WHEN r.first IS NOT NULL AND r.first <> l.ord THEN 'duplicate_listen'
                        WHEN rs.first IS NOT NULL AND rs.first <> l.ord THEN 'duplicate_listen'
                   END AS reason
            FROM listens AS l
            LEFT JOIN songs AS s ON l.track_id = s.track_id
            LEFT JOIN users AS u ON l.user_id = u.user_id
            LEFT JOIN repeated AS r ON l.user_id = r.user_id AND l.track_id = r.track_id AND l.listen_time = r.listen_time
            LEFT JOIN repeated_streams AS rs ON l.date = rs.date AND l.stream_id = rs.stream_id
        """)
        con.execute("CREATE TEMP VIEW validated AS SELECT * EXCLUDE (reason) FROM classified WHERE reason IS NULL")
        con.execute("CREATE TEMP VIEW validated_streams AS SELECT * EXCLUDE (ord) FROM validated")
        seconds["validate"] = time.perf_counter() - t0

        # ---------------------------------------------------------------- gold
        t0 = time.perf_counter()
        gap = int(session_gap_minutes)
        con.execute("""
            CREATE TEMP TABLE genre_kpis AS
            SELECT date, genre, count(*) AS listen_count, count(DISTINCT user_id) AS unique_listeners,
                   CAST(sum(listening_time_ms) AS BIGINT) AS total_listening_time_ms,
                   sum(listening_time_ms) / count(DISTINCT user_id) AS avg_listening_time_per_user_ms
            FROM validated GROUP BY date, genre""")
        gold = {
            "genre_daily_kpis": """
                SELECT date, genre, listen_count, unique_listeners, total_listening_time_ms, avg_listening_time_per_user_ms,
                       listen_count / sum(listen_count) OVER (PARTITION BY date) AS listen_share
                FROM genre_kpis""",
            "top_songs_per_genre": f"""
                SELECT p.date, p.genre, p.rank, p.track_id, s.track_name, s.artists, p.play_count
                FROM (SELECT date, genre, track_id, count(*) AS play_count,
                             row_number() OVER (PARTITION BY date, genre ORDER BY count(*) DESC, track_id) AS rank
                      FROM validated GROUP BY date, genre, track_id QUALIFY rank <= {int(top_songs_n)}) AS p
                LEFT JOIN songs AS s ON p.track_id = s.track_id""",
            "top_genres_daily": f"""
                SELECT date, row_number() OVER (PARTITION BY date ORDER BY listen_count DESC, genre) AS rank, genre,
                       listen_count, unique_listeners, total_listening_time_ms
                FROM genre_kpis QUALIFY rank <= {int(top_genres_n)}""",
            "daily_user_engagement": f"""
                WITH ordered AS (
                  SELECT date, user_id, listen_time, listening_time_ms, ord,
                         lag(listen_time) OVER w AS previous, lead(listen_time) OVER w AS next
                  FROM validated
                  WINDOW w AS (PARTITION BY date, user_id ORDER BY listen_time, ord)
                ), edges AS (  -- the first and last listen of every session (gap > {gap} minutes starts one)
                  SELECT *, previous IS NULL OR listen_time > previous + INTERVAL {gap} MINUTE AS opens,
                         next IS NULL OR next > listen_time + INTERVAL {gap} MINUTE AS closes
                  FROM ordered
                  WHERE previous IS NULL OR listen_time > previous + INTERVAL {gap} MINUTE
                     OR next IS NULL OR next > listen_time + INTERVAL {gap} MINUTE
                ), sessions AS (
                  SELECT date, listen_time, listening_time_ms, closes,
                         CASE WHEN opens THEN listen_time
                              ELSE lag(listen_time) OVER (PARTITION BY date, user_id ORDER BY listen_time, ord)
                         END AS started
                  FROM edges
                ), per_day AS (
                  SELECT date, count(*) AS sessions,
                         CAST(sum((epoch_us(listen_time) - epoch_us(started)) // 1000 + listening_time_ms) AS DOUBLE)
                           / count(*) AS avg_session_duration_ms
                  FROM sessions WHERE closes GROUP BY date
                ), hours AS (
                  SELECT date, hour(listen_time) AS hour, count(*) AS listens FROM validated GROUP BY ALL
                ), peak AS (
                  SELECT date, first(hour ORDER BY listens DESC, hour) AS peak_hour FROM hours GROUP BY date
                ), totals AS (
                  SELECT date, count(DISTINCT user_id) AS daily_active_users, count(*) AS listens,
                         count(*) FILTER (WHERE completed) AS completed_listens, count(completed) AS completion_known_listens
                  FROM validated GROUP BY date
                )
                SELECT t.date, t.daily_active_users, t.listens, t.listens / t.daily_active_users AS listens_per_user,
                       s.sessions, s.avg_session_duration_ms,
                       CASE WHEN t.completion_known_listens > 0 THEN t.completed_listens / t.completion_known_listens
                       END AS completion_rate,
                       t.completion_known_listens, CAST(p.peak_hour AS BIGINT) AS peak_hour
                FROM totals AS t JOIN per_day AS s USING (date) JOIN peak AS p USING (date)""",
            "artist_daily_popularity": """
                WITH credits AS (  -- each artist credited on a song once; a song with none credits 'unknown'
                  SELECT DISTINCT track_id, trim(credit) AS artist
                  FROM (SELECT track_id, unnest(string_split(artists, ';')) AS credit FROM songs)
                  WHERE trim(credit) <> ''
                ), credited AS (
                  SELECT s.track_id, coalesce(c.artist, 'unknown') AS artist
                  FROM songs AS s LEFT JOIN credits AS c ON s.track_id = c.track_id
                ), plays AS (
                  SELECT date, track_id, user_id, count(*) AS listens, sum(listening_time_ms) AS ms
                  FROM validated GROUP BY ALL
                ), totals AS (
                  SELECT p.date, c.artist, sum(p.listens) AS listen_count, count(DISTINCT p.user_id) AS unique_listeners,
                         sum(p.ms) AS total_listening_time_ms
                  FROM plays AS p JOIN credited AS c ON p.track_id = c.track_id GROUP BY ALL
                )
                SELECT date, artist, CAST(listen_count AS BIGINT) AS listen_count, unique_listeners,
                       CAST(total_listening_time_ms AS BIGINT) AS total_listening_time_ms,
                       row_number() OVER (PARTITION BY date ORDER BY listen_count DESC, artist) AS rank
                FROM totals""",
            "platform_usage_daily": """
                WITH listens AS (
                  SELECT v.date, v.user_id, v.listening_time_ms, v.device_type,
                         lpad(CAST(hour(v.listen_time) AS VARCHAR), 2, '0') AS hour,
                         coalesce(u.user_country, 'unknown') AS country, coalesce(u.subscription_type, 'unknown') AS subscription_type
                  FROM validated AS v LEFT JOIN users AS u ON v.user_id = u.user_id
                ), grouped AS (
                  SELECT date, device_type, hour, country, subscription_type,
                         GROUPING(device_type, hour, country, subscription_type) AS g,
                         count(*) AS listen_count, count(DISTINCT user_id) AS unique_listeners,
                         CAST(sum(listening_time_ms) AS BIGINT) AS total_listening_time_ms
                  FROM listens
                  GROUP BY GROUPING SETS ((date, device_type), (date, hour), (date, country), (date, subscription_type))
                ), named AS (
                  SELECT date,
                         CASE g WHEN 7 THEN 'device_type' WHEN 11 THEN 'hour' WHEN 13 THEN 'country' ELSE 'subscription_type' END
                           AS dimension,
                         CASE g WHEN 7 THEN device_type WHEN 11 THEN hour WHEN 13 THEN country ELSE subscription_type END AS value,
                         listen_count, unique_listeners, total_listening_time_ms
                  FROM grouped
                )
                SELECT date, dimension, value, listen_count, unique_listeners, total_listening_time_ms,
                       listen_count / sum(listen_count) OVER (PARTITION BY date, dimension) AS listen_share
                FROM named""",
        }
        gold_rows, gold_seconds = {}, {}
        for name, query in gold.items():
            g0 = time.perf_counter()
            gold_rows[name] = _write_days(con, query, out_path / name)
            gold_seconds[name] = time.perf_counter() - g0
        seconds["gold"] = time.perf_counter() - t0

        # ---------------------------------------------------------------- validated, rejects
        t0 = time.perf_counter()
        day_rows = {
            "validated_streams": _write_days(con, "", out_path / "validated_streams", table="validated_streams"),
            "stream_rejects": _write_days(
                con,
                """SELECT date, user_id, track_id, listen_time, source_file, source_line, reason
                   FROM classified WHERE reason IS NOT NULL""",
                out_path / "stream_rejects",
            ),
            "ingest_rejects": _write_days(con, "SELECT * FROM ingest_rejects", out_path / "ingest_rejects"),
            **gold_rows,
        }
        seconds["write"] = time.perf_counter() - t0
        rows.update({name: sum(per_day.values()) for name, per_day in day_rows.items()})
    finally:
        con.close()
    seconds["total"] = sum(seconds.values())
    return {
        "rows": rows,
        "seconds": seconds,
        "gold_seconds": gold_seconds,
        "files": files,
        "days": sorted({d for r in day_rows.values() for d in r}),
    }


def _q_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
