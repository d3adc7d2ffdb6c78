"""The Polars reference: a lake folder's landed CSV -> every validated, rejected and gold table, in one script
with Polars expressions, no framework and nothing of `music_pipeline` or of the DuckDB reference (issue 15).

Same inputs, outputs and rules as the DuckDB reference (see its docstring and docs/decisions.md, "Benchmark
references"), reached another way: each file is read as raw lines (`scan_csv` with one column, lossy UTF-8,
so line numbers are the file's own and a bad byte is visible as U+FFFD), lines without a quote are split by
expressions (`split_exact`), the few lines with quotes go through Python's csv module; typed columns, the
ingestion rules, validation (duplicates by a `group_by` over repeated keys), sessions (one sort, shifts and a
cumulative sum) and every gold table are lazy Polars, collected once per table.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import shutil
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

ALIASES = {"song_id": "track_id", "timestamp": "listen_time"}
REQUIRED = ("user_id", "track_id", "listen_time")
OPTIONAL = ("stream_id", "duration", "completed", "device_type")
SKIPPED_SUFFIXES = (".part", "._copying_", ".tmp", "~")
FOLDER_SUFFIXES = (".csv", ".gz", ".json", ".jsonl", ".ndjson")
SONG_FIELDS = ("track_id", "track_name", "artists", "album_name", "track_genre", "duration_ms", "popularity")
USER_FIELDS = ("user_id", "user_name", "user_age", "user_country", "created_at")
DAY_US = 86_400 * 1_000_000
TIME_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
OFFSET_RE = r"([+-])([0-9]{2}):?([0-9]{2})$"
NUMBER_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
TRUE, FALSE = ["true", "1", "yes", "t"], ["false", "0", "no", "f"]

S, N, F, B, D, T = pl.String, pl.Int64, pl.Float64, pl.Boolean, pl.Date, pl.Datetime("us")  # N: integers
COLUMNS = {
    "songs": {"track_id": S, "track_name": S, "artists": S, "album_name": S, "genre": S, "duration_ms": N,
              "popularity": N, "release_date": S, "source_line": N},
    "users": {"user_id": S, "user_name": S, "user_age": N, "user_country": S, "subscription_type": S,
              "created_at": T, "source_line": N},
    "song_rejects": {"source_line": N, "id": S, "reason": S, "record": S},
    "user_rejects": {"source_line": N, "id": S, "reason": S, "record": S},
    "ingest_rejects": {"date": D, "source_file": S, "source_line": N, "reason": S, "detail": S, "record": S},
    "validated_streams": {"date": D, "user_id": S, "track_id": S, "listen_time": T, "genre": S, "listening_time_ms": N,
                          "stream_id": S, "completed": B, "device_type": S, "source_file": S, "source_line": N},
    "stream_rejects": {"date": D, "user_id": S, "track_id": S, "listen_time": T, "source_file": S, "source_line": N,
                       "reason": S},
    "genre_daily_kpis": {"date": D, "genre": S, "listen_count": N, "unique_listeners": N, "total_listening_time_ms": N,
                         "avg_listening_time_per_user_ms": F, "listen_share": F},
    "top_songs_per_genre": {"date": D, "genre": S, "rank": N, "track_id": S, "track_name": S, "artists": S,
                            "play_count": N},
    "top_genres_daily": {"date": D, "rank": N, "genre": S, "listen_count": N, "unique_listeners": N,
                         "total_listening_time_ms": N},
    "daily_user_engagement": {"date": D, "daily_active_users": N, "listens": N, "listens_per_user": F, "sessions": N,
                              "avg_session_duration_ms": F, "completion_rate": F, "completion_known_listens": N,
                              "peak_hour": N},
    "artist_daily_popularity": {"date": D, "artist": S, "listen_count": N, "unique_listeners": N,
                                "total_listening_time_ms": N, "rank": N},
    "platform_usage_daily": {"date": D, "dimension": S, "value": S, "listen_count": N, "unique_listeners": N,
                             "total_listening_time_ms": N, "listen_share": F},
}  # fmt: skip


# ------------------------------------------------------------------------------------------ reading
def _header_of(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline().removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").decode("utf-8")
    return [n.strip().strip("\ufeff").lower() for n in next(csv.reader([first]), [])]


def _records(path: Path, header: list[str]) -> tuple[pl.DataFrame, list[dict]]:
    """(rows: the header's text columns + source_line, unreadable lines as reject dicts). A line is a record;
    blank lines are none; a line with the wrong field count is malformed, one with invalid UTF-8 bad_encoding."""
    width = len(header)
    lines = (
        pl.scan_csv(path, has_header=False, separator="\x1f", quote_char=None, schema={"line": S}, encoding="utf8-lossy")
        .with_row_index("source_line", offset=1)
        .with_columns(pl.col("source_line").cast(N))
        .filter((pl.col("source_line") > 1) & (pl.col("line").str.strip_chars(" \t").str.len_bytes() > 0))
        .with_columns(pl.col("line").str.strip_suffix("\r"))
    )
    lines = lines.with_columns(
        quoted=pl.col("line").str.contains('"', literal=True),
        fields=pl.col("line").str.count_matches(",", literal=True) + 1,
        lossy=pl.col("line").str.contains("\ufffd", literal=True),
    )
    # one scan (a common subplan): the split plain lines, and the few others (quoted, malformed)
    plain, others = pl.collect_all(
        [
            lines.filter(~pl.col("quoted") & (pl.col("fields") == width))
            .select("source_line", "lossy", pl.col("line").str.split_exact(",", width - 1).alias("f"))
            .unnest("f"),
            lines.filter(pl.col("quoted") | (pl.col("fields") != width)).select(
                "source_line", "line", "fields", "quoted", "lossy"
            ),
        ]
    )
    good = plain.rename({f"field_{i}": name for i, name in enumerate(header)})
    unread = [
        {"source_line": n, "line": text, "fields": k}
        for n, text, k in others.filter(~pl.col("quoted")).select("source_line", "line", "fields").iter_rows()
    ]
    lines = others
    quoted_rows = []
    for n, text, lossy in lines.filter(pl.col("quoted")).select("source_line", "line", "lossy").iter_rows():
        values = next(csv.reader([text]), [])
        if len(values) != width:
            unread.append({"source_line": n, "line": text, "fields": len(values)})
        else:
            quoted_rows.append({"source_line": n, "lossy": lossy, **dict(zip(header, values))})
    if quoted_rows:
        good = pl.concat([good, pl.DataFrame(quoted_rows, schema=good.schema)])
    rejects = [
        {"source_line": r["source_line"], "reason": "malformed_line", "detail": f"expected {width} fields, found {r['fields']}",
         "record": r["line"], "values": next(csv.reader([r["line"]]), [])}
        for r in unread
    ]  # fmt: skip
    lossy = good.filter(pl.col("lossy"))
    for row in lossy.iter_rows(named=True):
        values = [row[name] for name in header]
        rejects.append(
            {"source_line": row["source_line"], "reason": "bad_encoding", "detail": "the line is not valid UTF-8",
             "record": ",".join(values), "values": values}
        )  # fmt: skip
    good = good.filter(~pl.col("lossy")) if lossy.height else good
    return good.drop("lossy"), rejects


def _listen_time(text: pl.Expr) -> pl.Expr:
    """Accepted ISO-8601 spellings -> naive UTC datetime[us]; null otherwise (the base part only: fraction and
    offset are added by `_exact_times`)."""
    t = text.str.strip_chars()
    base = (t.str.slice(0, 10) + " " + t.str.slice(11, 8)).str.strptime(T, "%Y-%m-%d %H:%M:%S", strict=False)
    ok = t.str.contains(TIME_RE) & (t.str.slice(17, 2) <= "59") & (t.str.slice(0, 4) != "0000")
    return pl.when(ok).then(base)


def _exact_times(frame: pl.LazyFrame) -> pl.LazyFrame:
    """`listen_time` of rows whose text is longer than the plain 19 characters: + fraction - offset."""
    t = pl.col("listen_time_text").str.strip_chars()
    long = frame.filter(t.str.len_chars() != 19)
    fraction = t.str.extract(r"^.{19}\.([0-9]+)", 1).str.pad_end(6, "0").str.slice(0, 6).cast(N).fill_null(0)
    sign = pl.when(t.str.extract(OFFSET_RE, 1) == "-").then(-1).otherwise(1)
    hours, minutes = t.str.extract(OFFSET_RE, 2).cast(N), t.str.extract(OFFSET_RE, 3).cast(N)
    offset_ok = hours.is_null() | ((hours <= 23) & (minutes <= 59))
    shifted = (
        pl.col("listen_time")
        + pl.duration(microseconds=fraction)
        - pl.duration(minutes=(sign * (hours * 60 + minutes)).fill_null(0))
    )
    long = long.with_columns(listen_time=pl.when(offset_ok).then(shifted))
    return pl.concat([frame.filter(t.str.len_chars() == 19), long])


def _stream_file(path: Path, key: str, header: list[str], start: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    """One landed CSV -> (its typed rows with their ingestion reason (null = bronze), the rows with a reason and
    their text as written, its unreadable lines)."""
    good, unread = _records(path, header)
    limit = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    col = {c: pl.col(c) if c in header else pl.lit(None, S) for c in (*REQUIRED, *OPTIONAL)}
    duration = col["duration"].str.strip_chars()
    seconds = duration.cast(F, strict=False)
    duration_given = duration.str.len_bytes() > 0
    duration_ok = duration.str.contains(NUMBER_RE) & seconds.is_between(0, 86_400)
    completed = col["completed"].str.strip_chars().str.to_lowercase()
    device = col["device_type"].str.strip_chars().str.to_lowercase()
    stream_id = col["stream_id"].str.strip_chars()
    typed = good.lazy().select(
        user_id=col["user_id"],
        track_id=col["track_id"],
        listen_time=_listen_time(col["listen_time"]),
        listen_time_text=col["listen_time"],  # for `_exact_times`, dropped after
        listen_duration_ms=pl.when(duration_given & duration_ok).then((seconds * 1000).round(0).cast(N)),
        duration_bad=(duration_given & ~duration_ok).fill_null(False),
        stream_id=pl.when(stream_id != "").then(stream_id),
        completed=pl.when(completed.is_in(TRUE)).then(True).when(completed.is_in(FALSE)).then(False),
        completed_bad=((completed != "") & ~completed.is_in(TRUE + FALSE)).fill_null(False),
        device_type=pl.when(device != "").then(device).otherwise(pl.lit("unknown")),
        source_file=pl.lit(key),
        source_line=pl.col("source_line"),
    )
    typed = _exact_times(typed).drop("listen_time_text")
    lt = pl.col("listen_time")
    typed = typed.with_columns(
        ingest_reason=pl.when(lt.is_null())
        .then(pl.lit("unparseable_listen_time"))
        .when(lt > limit)
        .then(pl.lit("future_listen_time"))
        .when(lt < start)
        .then(pl.lit("before_start_date"))
        .when(pl.col("duration_bad"))
        .then(pl.lit("invalid_duration"))
        .when(pl.col("completed_bad"))
        .then(pl.lit("invalid_completed"))
    ).drop("duration_bad", "completed_bad")
    typed = typed.collect()
    bad = typed.filter(pl.col("ingest_reason").is_not_null()).select("source_line", "ingest_reason", parsed="listen_time")
    bad = bad.join(good, on="source_line").select(  # the few rejected rows: their text as written
        "source_line",
        "ingest_reason",
        listen_time="parsed",
        listen_time_text=col["listen_time"],
        duration_text=col["duration"],
        completed_text=col["completed"],
        record=pl.concat_str([pl.col(c).fill_null("") for c in header], separator=","),
    )
    return typed, bad, unread


def _files(landed: Path) -> list[tuple[str, Path]]:
    base = landed / "raw" / "streams"
    keys = []
    for folder, _, names in os.walk(base):
        for name in names:
            path = Path(folder) / name
            parts = path.relative_to(base).parts
            if any(p.startswith((".", "_")) for p in parts) or name.lower().endswith(SKIPPED_SUFFIXES):
                continue
            if any(p.lower().endswith(FOLDER_SUFFIXES) for p in parts[:-1]):
                continue
            keys.append(("raw/streams/" + "/".join(parts), path))
    keys.sort(key=lambda k: k[0].encode())
    return keys


# ------------------------------------------------------------------------------------------ writing
def _arrow(frame: pl.DataFrame, table: str) -> pa.Table:
    columns = COLUMNS[table]
    data = frame.select([pl.col(c).cast(t) for c, t in columns.items()]).to_arrow()
    return data.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type)
                                          or pa.types.is_string_view(f.type) else f.type) for f in data.schema]))  # fmt: skip


def _write(frame: pl.DataFrame, out: Path, table: str) -> int:
    target = out / table
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(_arrow(frame, table), target / "data.parquet", compression="snappy")
    return frame.height


def _write_days(frame: pl.DataFrame, out: Path, table: str) -> dict[str, int]:
    rows = {}
    for (day,), part in frame.partition_by("date", as_dict=True, maintain_order=False).items():
        name = day.isoformat() if day is not None else "unknown"
        target = out / table / f"date={name}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(_arrow(part, table), target / "data.parquet", compression="snappy")
        rows[name] = part.height
    return rows


# ------------------------------------------------------------------------------------------ reference data
def _reference(path: Path, fields: tuple[str, ...], what: str) -> tuple[pl.DataFrame, list[dict]]:
    header = _header_of(path)
    missing = [f for f in fields if f not in header]
    if missing:
        raise ValueError(f"{path}: this script reads the {what} shape {fields} only; missing {missing}")
    rows, unread = _records(path, header)
    return rows.with_columns(pl.col(c).fill_null("") for c in header), unread


def _first_valid(frame: pl.DataFrame, key: str, duplicate: str) -> pl.DataFrame:
    """reason: the row rule's failure, else `duplicate` for every valid row after the first of its key."""
    first = frame.filter(pl.col("failure").is_null()).group_by(key).agg(first_line=pl.col("source_line").min())
    return frame.join(first, on=key, how="left").with_columns(
        reason=pl.coalesce(
            pl.col("failure"),
            pl.when(pl.col("failure").is_null() & (pl.col("source_line") > pl.col("first_line"))).then(pl.lit(duplicate)),
        )
    )


def _unread_rejects(unread: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"source_line": r["source_line"], "id": None, "reason": r["reason"], "record": r["record"]} for r in unread],
        schema=COLUMNS["song_rejects"],
    )


def _songs(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw, unread = _reference(path, SONG_FIELDS, "Spotify songs")
    typed = raw.select(
        track_id=pl.when(pl.col("track_id").str.strip_chars(" ") != "").then(pl.col("track_id").str.strip_chars(" ")),
        id=pl.col("track_id").str.strip_chars(" "),
        track_name="track_name",
        artists="artists",
        album_name="album_name",
        genre=pl.when(pl.col("track_genre").str.strip_chars(" ") != "").then(pl.col("track_genre").str.strip_chars(" ")),
        duration_ms=pl.col("duration_ms").str.strip_chars(" ").cast(N, strict=False),
        popularity=pl.col("popularity").str.strip_chars(" ").cast(N, strict=False),
        release_date=pl.lit(None, S),
        source_line="source_line",
    )
    d = pl.col("duration_ms")
    typed = typed.with_columns(
        failure=pl.when(pl.col("track_id").is_null())
        .then(pl.lit("missing_track_id"))
        .when(pl.col("genre").is_null())
        .then(pl.lit("missing_genre"))
        .when(d.is_null() | (d <= 0) | (d > 86_400_000))
        .then(pl.lit("invalid_duration_ms"))
    )
    classified = _first_valid(typed, "track_id", "duplicate_track_id")
    rejects = pl.concat(
        [classified.filter(pl.col("reason").is_not_null()).select("source_line", "id", "reason", record=pl.lit(None, S)),
         _unread_rejects(unread)]
    )  # fmt: skip
    return classified.filter(pl.col("reason").is_null()), rejects


def _users(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw, unread = _reference(path, USER_FIELDS, "lab users")
    age = pl.col("user_age").str.strip_chars(" ").cast(N, strict=False)
    created = pl.col("created_at").str.strip_chars(" ")
    typed = raw.select(
        user_id=pl.when(pl.col("user_id").str.strip_chars(" ") != "").then(pl.col("user_id").str.strip_chars(" ")),
        id=pl.col("user_id").str.strip_chars(" "),
        user_name="user_name",
        user_age=pl.when(age.is_between(0, 150)).then(age),
        user_country=pl.when(pl.col("user_country").str.strip_chars(" ") != "").then(pl.col("user_country").str.strip_chars(" ")),
        subscription_type=pl.lit(None, S),
        created_at=pl.coalesce(
            created.str.strptime(T, "%Y-%m-%d %H:%M:%S%.f", strict=False),
            created.str.strptime(T, "%Y-%m-%dT%H:%M:%S%.f", strict=False),
            created.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(T),
        ),
        source_line="source_line",
        failure=pl.when(pl.col("user_id").str.strip_chars(" ") == "").then(pl.lit("missing_user_id")),
    )
    classified = _first_valid(typed, "user_id", "duplicate_user_id")
    rejects = pl.concat(
        [classified.filter(pl.col("reason").is_not_null()).select("source_line", "id", "reason", record=pl.lit(None, S)),
         _unread_rejects(unread)]
    )  # fmt: skip
    return classified.filter(pl.col("reason").is_null()), rejects


# ------------------------------------------------------------------------------------------ the script
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
    """Every table of the lake folder `landed` under `out`; same result shape as the DuckDB reference's `run`."""
    landed_path, out_path = Path(landed), Path(out)
    shutil.rmtree(out_path, ignore_errors=True)
    out_path.mkdir(parents=True)
    seconds: dict[str, float] = {}
    rows: dict[str, int] = {}
    day_rows: dict[str, dict[str, int]] = {}

    t0 = time.perf_counter()
    songs, song_rejects = _songs(landed_path / "raw/songs/songs.csv")
    users, user_rejects = _users(landed_path / "raw/users/users.csv")
    rows["songs"] = _write(songs, out_path, "songs")
    rows["song_rejects"] = _write(song_rejects, out_path, "song_rejects")
    rows["users"] = _write(users, out_path, "users")
    rows["user_rejects"] = _write(user_rejects, out_path, "user_rejects")
    seconds["reference"] = time.perf_counter() - t0

    # ingestion
    t0 = time.perf_counter()
    start = dt.datetime.fromisoformat(start_date)
    files = {"ingested": 0, "duplicate": 0, "failed": {}}
    contents: set[str] = set()
    frames, reject_rows = [], []
    for index, (key, path) in enumerate(_files(landed_path)):
        if not key.lower().endswith(".csv"):
            raise NotImplementedError(f"{key}: this reference reads .csv deliveries only")
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if digest in contents:
            files["duplicate"] += 1
            continue
        contents.add(digest)
        try:
            header = [ALIASES.get(n, n) for n in _header_of(path)]
        except (UnicodeDecodeError, csv.Error) as exc:
            files["failed"][key] = str(exc)
            continue
        if len(set(header)) != len(header) or not set(REQUIRED) <= set(header):
            files["failed"][key] = f"header {header}"
            continue
        files["ingested"] += 1
        typed, bad, unread = _stream_file(path, key, header, start)
        typed = typed.filter(pl.col("ingest_reason").is_null()) if bad.height else typed
        # (source_file, source_line) order as one integer: file index << 40 | line
        frames.append(typed.with_columns(ord=pl.col("source_line") + (index << 40)))
        landed_at = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
        for r in bad.iter_rows(named=True):
            reason, text = r["ingest_reason"], r["listen_time_text"]
            detail = {
                "unparseable_listen_time": f"listen_time {text!r}",
                "future_listen_time": f"listen_time {text!r} is later than the file's landing time {landed_at} + 24 h",
                "before_start_date": f"listen_time {text!r} is before the start date {start_date}",
                "invalid_duration": f"duration {r['duration_text']!r}",
                "invalid_completed": f"completed {r['completed_text']!r}",
            }[reason]
            day = r["listen_time"].date() if r["listen_time"] is not None else None
            reject_rows.append({"date": day, "source_file": key, "source_line": r["source_line"], "reason": reason,
                                "detail": detail, "record": r["record"]})  # fmt: skip
        where = header.index("listen_time")
        hints = [r["values"][where] if where < len(r["values"]) else None for r in unread]
        hint_days = pl.DataFrame({"listen_time_text": hints}, schema={"listen_time_text": S}).lazy()
        hint_days = _exact_times(hint_days.with_columns(listen_time=_listen_time(pl.col("listen_time_text"))))
        for r, hint in zip(unread, hints):  # a malformed line counts in the day of its readable listen_time
            found = hint_days.filter(pl.col("listen_time_text").eq_missing(hint)).select("listen_time").collect()
            when = found.item(0, 0) if found.height else None
            reject_rows.append({"date": when.date() if when else None, "source_file": key, "source_line": r["source_line"],
                                "reason": r["reason"], "detail": r["detail"], "record": r["record"]})  # fmt: skip
    bronze_columns = ["user_id", "track_id", "listen_time", "listen_duration_ms", "stream_id", "completed", "device_type",
                      "source_file", "source_line", "ord"]  # fmt: skip
    if frames:
        bronze = pl.concat([f.select(bronze_columns) for f in frames], rechunk=False)
    else:
        bronze = pl.DataFrame(schema={"user_id": S, "track_id": S, "listen_time": T, "listen_duration_ms": N, "stream_id": S,
                                      "completed": B, "device_type": S, "source_file": S, "source_line": N,
                                      "ord": N})  # fmt: skip
    del frames
    ingest_rejects = pl.DataFrame(reject_rows, schema=COLUMNS["ingest_rejects"])
    seconds["ingest"] = time.perf_counter() - t0

    # validation
    t0 = time.perf_counter()
    listens = bronze.lazy().with_columns(
        date=pl.col("listen_time").dt.date(),
        user_id=pl.col("user_id").str.strip_chars(" "),
        track_id=pl.col("track_id").str.strip_chars(" "),
    )
    keys = ["user_id", "track_id", "listen_time"]
    # keys seen more than once (a count per key, the cheapest aggregate), then the first of each in file order
    repeated_keys = listens.group_by(keys).agg(n=pl.len()).filter(pl.col("n") > 1).select(keys)
    repeated = listens.join(repeated_keys, on=keys, how="semi").group_by(keys).agg(first=pl.col("ord").min())
    ids = listens.filter(pl.col("stream_id").is_not_null())
    repeated_ids = ids.group_by("date", "stream_id").agg(n=pl.len()).filter(pl.col("n") > 1).select("date", "stream_id")
    repeated_ids = (
        ids.join(repeated_ids, on=["date", "stream_id"], how="semi")
        .group_by("date", "stream_id")
        .agg(stream_first=pl.col("ord").min())
    )
    later = lambda first: pl.col(first).is_not_null() & (pl.col(first) != pl.col("ord"))  # noqa: E731
    classified = (
        listens.join(
            songs.lazy().select("track_id", "genre", song_ms="duration_ms", known_track=pl.lit(True)), on="track_id", how="left"
        )
        .join(users.lazy().select("user_id", known_user=pl.lit(True)), on="user_id", how="left")
        .join(repeated, on=keys, how="left", nulls_equal=True)
        .join(repeated_ids, on=["date", "stream_id"], how="left")
        .with_columns(
            listening_time_ms=pl.coalesce("listen_duration_ms", "song_ms"),
            reason=pl.when(pl.col("user_id").is_null() | (pl.col("user_id") == ""))
            .then(pl.lit("missing_user_id"))
            .when(pl.col("track_id").is_null() | (pl.col("track_id") == ""))
            .then(pl.lit("missing_track_id"))
            .when(pl.col("known_track").is_null())
            .then(pl.lit("unknown_track_id"))
            .when(pl.col("known_user").is_null())
            .then(pl.lit("unknown_user_id"))
            .when(later("first") | later("stream_first"))
            .then(pl.lit("duplicate_listen")),
        )
        .collect()
    )
    validated = classified.filter(pl.col("reason").is_null()).select(*COLUMNS["validated_streams"], "ord")
    stream_rejects = classified.filter(pl.col("reason").is_not_null())
    del classified, bronze
    seconds["validate"] = time.perf_counter() - t0

    # gold
    t0 = time.perf_counter()
    v = validated.lazy()
    kpis = v.group_by("date", "genre").agg(
        listen_count=pl.len().cast(N),
        unique_listeners=pl.col("user_id").n_unique().cast(N),
        total_listening_time_ms=pl.col("listening_time_ms").sum(),
    )
    kpis = kpis.with_columns(
        avg_listening_time_per_user_ms=pl.col("total_listening_time_ms") / pl.col("unique_listeners"),
        listen_share=pl.col("listen_count") / pl.col("listen_count").sum().over("date"),
    ).collect()
    ranked = lambda frame, by, order, desc: frame.sort([*by, *order], descending=[False] * len(by) + desc).with_columns(  # noqa: E731
        rank=(pl.int_range(pl.len()).over(by) + 1).cast(N)
    )
    top_songs = (
        ranked(
            v.group_by("date", "genre", "track_id").agg(play_count=pl.len().cast(N)),
            ["date", "genre"],
            ["play_count", "track_id"],
            [True, False],
        )
        .filter(pl.col("rank") <= top_songs_n)
        .join(songs.lazy().select("track_id", "track_name", "artists"), on="track_id", how="left")
        .collect()
    )
    top_genres = (
        ranked(kpis.lazy(), ["date"], ["listen_count", "genre"], [True, False]).filter(pl.col("rank") <= top_genres_n).collect()
    )

    gap_us = int(session_gap_minutes) * 60 * 1_000_000
    ordered = v.select("date", "user_id", "listen_time", "listening_time_ms", "ord").sort("date", "user_id", "listen_time", "ord")
    same = lambda k: (pl.col("date") == pl.col("date").shift(k)) & (pl.col("user_id") == pl.col("user_id").shift(k))  # noqa: E731
    us = pl.col("listen_time").dt.epoch("us")
    sessions = (
        ordered.with_columns(opens=(~same(1)).fill_null(True) | ((us - us.shift(1)) > gap_us).fill_null(True))
        .with_columns(session=pl.col("opens").cum_sum())
        .group_by("session")
        .agg(date=pl.col("date").first(), started=us.first(), last=us.last(), last_ms=pl.col("listening_time_ms").last())
        .group_by("date")
        .agg(
            sessions=pl.len().cast(N),
            avg_session_duration_ms=(((pl.col("last") - pl.col("started")) // 1000) + pl.col("last_ms")).sum().cast(F) / pl.len(),
        )
    )
    peak = (
        v.group_by("date", hour=pl.col("listen_time").dt.hour().cast(N))
        .agg(n=pl.len())
        .sort(["date", "n", "hour"], descending=[False, True, False])
        .group_by("date")
        .agg(peak_hour=pl.col("hour").first())
    )
    totals = v.group_by("date").agg(
        daily_active_users=pl.col("user_id").n_unique().cast(N),
        listens=pl.len().cast(N),
        completed_listens=(pl.col("completed") == True).sum().cast(N),  # noqa: E712
        completion_known_listens=pl.col("completed").is_not_null().sum().cast(N),
    )
    engagement = (
        totals.join(sessions, on="date")
        .join(peak, on="date")
        .with_columns(
            listens_per_user=pl.col("listens") / pl.col("daily_active_users"),
            completion_rate=pl.when(pl.col("completion_known_listens") > 0).then(
                pl.col("completed_listens") / pl.col("completion_known_listens")
            ),
        )
        .collect()
    )

    credits = (
        songs.lazy()
        .select("track_id", artist=pl.col("artists").str.split(";"))
        .explode("artist")
        .with_columns(pl.col("artist").str.strip_chars(" "))
        .filter(pl.col("artist") != "")
        .unique()
    )
    credited = (
        songs.lazy()
        .select("track_id")
        .join(credits, on="track_id", how="left")
        .with_columns(pl.col("artist").fill_null("unknown"))
    )
    plays = v.group_by("date", "track_id", "user_id").agg(n=pl.len().cast(N), ms=pl.col("listening_time_ms").sum())
    artists = ranked(
        plays.join(credited, on="track_id")
        .group_by("date", "artist")
        .agg(
            listen_count=pl.col("n").sum(),
            unique_listeners=pl.col("user_id").n_unique().cast(N),
            total_listening_time_ms=pl.col("ms").sum(),
        ),
        ["date"],
        ["listen_count", "artist"],
        [True, False],
    ).collect()

    with_user = v.join(
        users.lazy().select("user_id", "user_country", "subscription_type"), on="user_id", how="left"
    ).with_columns(
        hour=pl.col("listen_time").dt.hour().cast(S).str.zfill(2),
        country=pl.col("user_country").fill_null("unknown"),
        subscription_type=pl.col("subscription_type").fill_null("unknown"),
    )
    per_dimension = [
        with_user.group_by("date", value=pl.col(dim)).agg(
            dimension=pl.lit(dim), listen_count=pl.len().cast(N), unique_listeners=pl.col("user_id").n_unique().cast(N),
            total_listening_time_ms=pl.col("listening_time_ms").sum(),
        )
        for dim in ("device_type", "hour", "country", "subscription_type")
    ]  # fmt: skip
    platform = (
        pl.concat(per_dimension)
        .with_columns(listen_share=pl.col("listen_count") / pl.col("listen_count").sum().over("date", "dimension"))
        .collect()
    )
    gold = {
        "genre_daily_kpis": kpis,
        "top_songs_per_genre": top_songs,
        "top_genres_daily": top_genres,
        "daily_user_engagement": engagement,
        "artist_daily_popularity": artists,
        "platform_usage_daily": platform,
    }
    seconds["gold"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    day_rows["validated_streams"] = _write_days(validated, out_path, "validated_streams")
    day_rows["stream_rejects"] = _write_days(stream_rejects, out_path, "stream_rejects")
    day_rows["ingest_rejects"] = _write_days(ingest_rejects, out_path, "ingest_rejects")
    for name, frame in gold.items():
        day_rows[name] = _write_days(frame, out_path, name)
    seconds["write"] = time.perf_counter() - t0
    rows.update({name: sum(per_day.values()) for name, per_day in day_rows.items()})
    seconds["total"] = sum(seconds.values())
    return {"rows": rows, "seconds": seconds, "files": files, "days": sorted({d for r in day_rows.values() for d in r})}
