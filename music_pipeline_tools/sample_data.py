"""Deterministic sample-data generator for the lake's raw zone.

Everything is derived from ``numpy.random.default_rng(seed)``: the same seed
always gives byte-identical files. ``generate_lake`` writes (paths relative to
the lake root, dates for the default ``start_date=2024-06-01``, day k = start + k):

* ``raw/songs/songs.csv`` - Spotify-style 21-column CSV (RFC 4180, csv module).
  Names contain commas and doubled quotes, some artists are ``A;B``. Exactly 3
  track_ids appear twice (the later row has another name and genre) and 1 song
  has an empty ``track_genre`` (its id is unique and only used by bad listens).
* ``raw/users/users.csv`` - ``user_id,user_name,user_age,user_country,created_at``;
  about half of the ``created_at`` values are later than the stream dates.
* stream files, header ``user_id,track_id,listen_time`` (``YYYY-MM-DD HH:MM:SS``, UTC)
  unless noted:

  - day 0: ``raw/streams/2024/06/01/streams_part{1,2,3}.csv`` (one day, 3 files)
  - day 1, 2: ``raw/streams/2024/06/0X/streams_part1.csv``
  - ``raw/streams/sessions/night_2024-06-02_2024-06-03.csv``: day 1 20:00 .. day 2 04:00
  - day 3: ``raw/streams/mobile_export/listens_20240604.csv`` with the alias header
    ``user_id,song_id,timestamp,duration``, ISO-8601 times with ``Z`` / offsets and
    a listening ``duration`` in seconds (``187`` or ``187.5``). Some rows are late
    day-2 UTC listens written as e.g. ``2024-06-04T00:30:00+02:00``.
  - day 4: ``raw/streams/2024/06/05/streams.csv.gz`` (gzip, mtime 0)
  - day 5: ``raw/streams/events/2024-06-06.jsonl`` (keys user_id, track_id, listen_time)
  - day 6+: alternating flat ``raw/streams/streams_2024-06-07.csv`` (even days) and
    ``raw/streams/YYYY/MM/DD/streams_part1.csv`` (odd days); about half of day 6 is in
    ``raw/streams/seed_export/streams_2024-06-07.json``, the source system's own shape: a JSON
    array (one object per line) of ``stream_id, user_id, song_id, timestamp, duration, completed,
    device_type`` with every optional column (``completed`` true/false/null, device types
    mobile/desktop/tablet/smart_speaker and a few blanks)

Bad rows (one defect each, only in the plain CSV stream files, written as raw
lines; counted in ``GenerationSummary.injected_bad_rows``):
``missing_user_id`` (empty/blank), ``missing_track_id`` (empty/blank),
``unparseable_listen_time`` (``not-a-time``, ``2024-13-45 99:00:00``, empty),
``unknown_track_id`` (random ids and the no-genre song's id), ``unknown_user_id``,
``malformed_line`` (too many / too few fields), ``bad_encoding`` (``\\xff\\xfe``
bytes inside the user_id) and ``duplicate_listen`` (exact copy of a clean day-0
line, mostly in another day-0 file). In the seed-shape JSON array (elements, not lines):
``invalid_duration`` (``1e20``, ``-5``), ``invalid_completed`` (``maybe``, ``2``),
``future_listen_time`` (in 2099: later than any landing time + 24 h) and ``before_start_date``
(1970 and 2023-12-31, before the default MUSIC_PIPELINE_START_DATE 2024-01-01). Clean listens
are globally unique on (user_id, track_id, UTC listen_time); stream ids are unique.

``write_stream_csv`` is the vectorized bulk writer for benchmarks (no bad rows).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from music_pipeline_tools.sample_reference import (
    DAY,
    SONG_COLUMNS,
    build_songs,
    random_ids,
    write_csv,
    write_users_csv,
)

STREAM_HEADER = "user_id,track_id,listen_time"
ALIAS_HEADER = "user_id,song_id,timestamp,duration"
BAD_COUNTS = {
    "missing_user_id": 4,
    "missing_track_id": 4,
    "unparseable_listen_time": 3,
    "unknown_track_id": 5,
    "unknown_user_id": 4,
    "malformed_line": 4,
    "bad_encoding": 3,
    "duplicate_listen": 4,
    "invalid_duration": 2,
    "invalid_completed": 2,
    "future_listen_time": 2,
    "before_start_date": 2,
}
SEED_BAD_KINDS = ("invalid_duration", "invalid_completed", "future_listen_time", "before_start_date")
SEED_COLUMNS = ("stream_id", "user_id", "song_id", "timestamp", "duration", "completed", "device_type")
DEVICE_TYPES = ["mobile", "desktop", "tablet", "smart_speaker"]
# Relative listen volume per UTC hour: quiet at 4am, peak in the evening.
HOUR_WEIGHTS = np.array([3, 2, 1.5, 1, 0.6, 0.8, 1.5, 3, 4, 4.5, 5, 5.5, 6, 6, 5.5, 5.5, 6, 7, 8.5, 10, 10.5, 9.5, 7.5, 5])


@dataclass(frozen=True)
class GenerationSummary:
    files: list[str]
    stream_rows: int
    injected_bad_rows: dict[str, int]
    days: list[str]


# ----------------------------------------------------------------- songs / users
def _power_law(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Probabilities ~ 1/rank**exponent over a random permutation of 0..n-1."""
    p = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(p / p.sum())


def _sample(rng, n, day, p_user, p_track):
    """n listens on day offset `day`: (user idx, track idx, seconds since start)."""
    users = rng.choice(len(p_user), size=n, p=p_user)
    tracks = rng.choice(len(p_track), size=n, p=p_track)
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    secs = day * DAY + hours * 3600 + rng.integers(0, 3600, size=n)
    return users, tracks, secs


def _fmt(start: dt.datetime, secs: int, iso_offset_min: int | None = None) -> str:
    t = start + dt.timedelta(seconds=int(secs))
    if iso_offset_min is None:
        return t.strftime("%Y-%m-%d %H:%M:%S")
    if iso_offset_min == 0:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    tz = dt.timezone(dt.timedelta(minutes=iso_offset_min))
    return t.replace(tzinfo=dt.UTC).astimezone(tz).isoformat()


def write_stream_csv(
    path: str | Path,
    *,
    seed: int,
    start_date: dt.date,
    days: int,
    listens_per_day: int,
    track_ids: list[str],
    user_ids: list[str],
    with_duration: bool = False,
    chunk_rows: int = 1_000_000,
) -> int:
    """Bulk, vectorized, clean stream CSV (pyarrow writer, ~1M-row chunks). Returns rows written."""
    rng = np.random.default_rng([seed, 3])
    p_user, p_track = _power_law(rng, len(user_ids), 0.9), _power_law(rng, len(track_ids), 1.1)
    users_arr, tracks_arr = pa.array(user_ids), pa.array(track_ids)
    epoch0 = int(dt.datetime.combine(start_date, dt.time(), dt.UTC).timestamp())
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as fh:
        fh.write(((STREAM_HEADER + ",duration") if with_duration else STREAM_HEADER).encode() + b"\n")
        for day in range(days):
            for lo in range(0, listens_per_day, chunk_rows):
                n = min(chunk_rows, listens_per_day - lo)
                u, t, s = _sample(rng, n, day, p_user, p_track)
                cols = {
                    "user_id": users_arr.take(u),
                    "track_id": tracks_arr.take(t),
                    "listen_time": pa.array(epoch0 + s, pa.timestamp("s")),
                }
                if with_duration:
                    cols["duration"] = pa.array(rng.integers(20, 400, size=n))
                pacsv.write_csv(pa.table(cols), fh, opts)
                written += n
    return written


# ----------------------------------------------------------------- lake layout
def _route(k: int, sec: int, roll: float, dates: list[dt.date]) -> tuple[str, str]:
    """(relative path, format) of the file holding a listen on day k at second `sec` of that day."""
    days, d = len(dates), dates[k]
    folder = f"raw/streams/{d:%Y/%m/%d}"
    if days >= 4 and k == 2 and sec >= 22 * 3600 and roll < 0.35:
        return f"raw/streams/mobile_export/listens_{dates[3]:%Y%m%d}.csv", "alias"
    if days >= 3 and ((k == 1 and sec >= 20 * 3600) or (k == 2 and sec < 4 * 3600)):
        return f"raw/streams/sessions/night_{dates[1]}_{dates[2]}.csv", "csv"
    if k == 0:
        return f"{folder}/streams_part{1 if roll < 0.4 else 2 if roll < 0.75 else 3}.csv", "csv"
    special = {
        3: (f"raw/streams/mobile_export/listens_{d:%Y%m%d}.csv", "alias"),
        4: (f"{folder}/streams.csv.gz", "gzip"),
        5: (f"raw/streams/events/{d}.jsonl", "jsonl"),
    }
    if k in special:
        return special[k]
    if k == 6 and roll < 0.5:
        return f"raw/streams/seed_export/streams_{d}.json", "seed"
    if k >= 6 and k % 2 == 0:
        return f"raw/streams/streams_{d}.csv", "csv"
    return f"{folder}/streams_part1.csv", "csv"


def _bad_line(kind: str, i: int, user: str, track: str, ts: str, rng, orphan: str, n_users: int) -> bytes:
    """One raw CSV line with exactly one defect of `kind` (i picks the variant)."""
    blank = ("", "   ")[i % 2]
    if kind == "missing_user_id":
        return f"{blank},{track},{ts}".encode()
    if kind == "missing_track_id":
        return f"{user},{blank},{ts}".encode()
    if kind == "unparseable_listen_time":
        return f"{user},{track},{('not-a-time', '2024-13-45 99:00:00', '')[i % 3]}".encode()
    if kind == "unknown_track_id":
        return f"{user},{orphan if i < 2 else random_ids(rng, 1)[0]},{ts}".encode()
    if kind == "unknown_user_id":
        return f"u{n_users + 1000 + i:05d},{track},{ts}".encode()
    if kind == "malformed_line":
        return (f"{user},{track},{ts},web" if i % 2 else f"{user},{track}").encode()
    if kind == "bad_encoding":
        return user[:3].encode() + b"\xff\xfe" + f"{user[3:]},{track},{ts}".encode()
    raise ValueError(kind)


def _seed_element(stream_id: str, user: str, track: str, when: str, duration, completed, device: str) -> bytes:
    values = (stream_id, user, track, when, duration, completed, device)
    return json.dumps(dict(zip(SEED_COLUMNS, values))).encode()


def _seed_values(rng) -> tuple:
    """(duration seconds, completed, device_type) of a clean seed-shape listen."""
    duration = int(rng.integers(30, 400)) + (0.5 if rng.random() < 0.3 else 0)
    roll = rng.random()
    completed = None if roll < 0.1 else bool(roll < 0.7)
    device = "" if rng.random() < 0.03 else str(rng.choice(DEVICE_TYPES, p=[0.5, 0.25, 0.15, 0.1]))
    return duration, completed, device


def _bad_seed_element(kind: str, i: int, user: str, track: str, ts: str, rng) -> bytes:
    """One seed-shape element with exactly one defect of `kind`."""
    duration, completed, device = _seed_values(rng)
    if kind == "invalid_duration":
        duration = (1e20, -5)[i % 2]
    elif kind == "invalid_completed":
        completed = ("maybe", "2")[i % 2]
    elif kind == "future_listen_time":
        ts = "2099" + ts[4:]
    elif kind == "before_start_date":
        ts = ("1970-01-01T00:00:00Z", "2023-12-31T23:59:59Z")[i % 2]
    else:
        raise ValueError(kind)
    return _seed_element(f"st-bad-{kind}-{i}", user, track, ts, duration, completed, device)


def _render(fmt: str, rows: list[tuple], start: dt.datetime, uids, tids, rng) -> list[bytes]:
    """Clean lines (header included, except jsonl) for one file, rows sorted by time; for the
    seed shape, the array's elements."""
    if fmt == "seed":
        return [
            _seed_element(f"st-{_fmt(start, s)[:10]}-{i:05d}", uids[u], tids[t], _fmt(start, s, 0), *_seed_values(rng))
            for i, (u, t, s, _) in enumerate(rows)
        ]
    if fmt == "jsonl":
        return [
            json.dumps({"user_id": uids[u], "track_id": tids[t], "listen_time": _fmt(start, s)}).encode() for u, t, s, _ in rows
        ]
    if fmt != "alias":
        lines = [f"{uids[u]},{tids[t]},{_fmt(start, s)}".encode() for u, t, s, _ in rows]
        return [STREAM_HEADER.encode(), *lines]
    lines = [ALIAS_HEADER.encode()]
    for u, t, s, prev_day in rows:
        offset = int(rng.choice([120, 180])) if prev_day else int(rng.choice([0, 0, 120, -300, 330]))
        dur = int(rng.integers(30, 400)) + (0.5 if rng.random() < 0.4 else 0)
        lines.append(f"{uids[u]},{tids[t]},{_fmt(start, s, offset)},{dur}".encode())
    return lines


def _route_listens(rng, listens: np.ndarray, n_clean: int, dates: list[dt.date]):
    """Drop repeated listens, route each to its file.

    Returns ({path: (format, [(u, t, secs, is_previous_utc_day)])}, [(path, (u, t, secs))],
    [(path, (u, t, secs))]) where the last two lists hold spare listens (in plain CSV files, in
    the seed-shape file) used as bases for bad rows.
    """
    _, first = np.unique(listens, axis=0, return_index=True)  # clean listens globally unique
    keep = np.zeros(len(listens), bool)
    keep[first] = True
    per_day = len(listens) // len(dates)
    is_spare = np.tile(np.arange(per_day) >= n_clean, len(dates))
    files: dict[str, tuple[str, list]] = {}
    spares: list[tuple[str, tuple]] = []
    seed_spares: list[tuple[str, tuple]] = []
    for (u, t, s), ok, spare, roll in zip(listens.tolist(), keep, is_spare, rng.random(len(listens))):
        if not ok:
            continue
        key, fmt = _route(s // DAY, s % DAY, roll, dates)
        files.setdefault(key, (fmt, []))
        if not spare:
            files[key][1].append((u, t, s, s // DAY == 2 and fmt == "alias"))
        elif fmt == "csv":
            spares.append((key, (u, t, s)))
        elif fmt == "seed":
            seed_spares.append((key, (u, t, s)))
    return files, spares, seed_spares


def _inject_bad_rows(rng, files, spares, seed_spares, start, uids, tids, orphan) -> tuple[dict, dict[str, int]]:
    """Bad raw lines (elements, in the seed-shape file) per file path, and how many of each kind were made."""
    extra: dict[str, list[bytes]] = {k: [] for k in files}
    kinds = [k for k, n in BAD_COUNTS.items() if k != "duplicate_listen" and k not in SEED_BAD_KINDS for _ in range(n)]
    if len(spares) < len(kinds):  # day 0 always routes to plain CSV, so this cannot happen
        raise RuntimeError("not enough spare listens for the bad rows")
    injected = dict.fromkeys(BAD_COUNTS, 0)
    for kind, j in zip(kinds, rng.permutation(len(spares))):
        key, (u, t, s) = spares[j]
        line = _bad_line(kind, injected[kind], uids[u], tids[t], _fmt(start, s), rng, orphan, len(uids))
        extra[key].append(line)
        injected[kind] += 1
    seed_kinds = [k for k in SEED_BAD_KINDS for _ in range(BAD_COUNTS[k])]
    for kind, j in zip(seed_kinds, rng.permutation(len(seed_spares))):  # none when there is no day 6
        key, (u, t, s) = seed_spares[j]
        extra[key].append(_bad_seed_element(kind, injected[kind], uids[u], tids[t], _fmt(start, s, 0), rng))
        injected[kind] += 1
    day0 = [f"raw/streams/{start:%Y/%m/%d}/streams_part{p}.csv" for p in (1, 2, 3)]
    originals = [rng.choice(len(files[f][1]), 2, replace=False).tolist() for f in day0]
    for src, dst in ((0, 1), (0, 2), (1, 1), (2, 0)):  # mostly into another file of the same day
        u, t, s, _ = files[day0[src]][1][originals[src].pop()]
        extra[day0[dst]].append(f"{uids[u]},{tids[t]},{_fmt(start, s)}".encode())
        injected["duplicate_listen"] += 1
    return extra, injected


def generate_lake(
    lake_root: str | Path,
    *,
    seed: int = 42,
    start_date: dt.date = dt.date(2024, 6, 1),
    days: int = 7,
    listens_per_day: int = 3000,
    n_tracks: int = 400,
    n_users: int = 250,
) -> GenerationSummary:
    """Write songs, users and a mixed bag of stream files (with bad rows) under lake_root."""
    if days < 1 or listens_per_day < 50 or n_users < 5:
        raise ValueError("need days >= 1, listens_per_day >= 50 and n_users >= 5")
    root = Path(lake_root)
    song_rows, tids, orphan = build_songs(seed, n_tracks)
    write_csv(root / "raw/songs/songs.csv", SONG_COLUMNS, song_rows)
    uids = write_users_csv(root / "raw/users/users.csv", seed=seed, n_users=n_users, start_date=start_date)
    rng = np.random.default_rng([seed, 4])
    p_user, p_track = _power_law(rng, n_users, 0.9), _power_law(rng, len(tids), 1.1)
    per_day = listens_per_day + sum(BAD_COUNTS.values())  # spare listens become bad-row bases
    parts = [_sample(rng, per_day, k, p_user, p_track) for k in range(days)]
    listens = np.stack([np.concatenate(c) for c in zip(*parts)], axis=1)
    dates = [start_date + dt.timedelta(days=k) for k in range(days)]
    start = dt.datetime.combine(start_date, dt.time())
    files, spares, seed_spares = _route_listens(rng, listens, listens_per_day, dates)
    extra, injected = _inject_bad_rows(rng, files, spares, seed_spares, start, uids, tids, orphan)

    stream_rows = 0
    for key in sorted(files):
        fmt, rows = files[key]
        lines = _render(fmt, sorted(rows, key=lambda r: r[2]), start, uids, tids, rng)
        for line in extra[key]:
            lines.insert(int(rng.integers(1, len(lines) + 1)), line)
        if fmt == "seed":  # a JSON array, one element per line
            data = b"[\n" + b",\n".join(lines) + b"\n]\n"
            stream_rows += len(lines)
        else:
            data = b"\n".join(lines) + b"\n"
            stream_rows += len(lines) - (fmt != "jsonl")
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(gzip.compress(data, mtime=0) if fmt == "gzip" else data)
    return GenerationSummary(
        files=["raw/songs/songs.csv", "raw/users/users.csv", *sorted(files)],
        stream_rows=stream_rows,
        injected_bad_rows=injected,
        days=[d.isoformat() for d in dates],
    )
