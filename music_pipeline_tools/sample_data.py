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

The listens look like a music service's (_listening): each day about 30 % of the users are active (a few
nearly every day, most now and then), each in a few sessions of back-to-back listens more than 30 minutes
apart, with the evening peak of HOUR_WEIGHTS; popularity has a long tail over genres and over the tracks of
each genre, and each user leans to two favourite genres; a listen's own ``duration`` (the aliased file, the
seed shape) follows its track: most are played to the end (``completed`` true), a quarter are skipped in
their first 30 s (more on mobile, fewer on a smart speaker), some are stopped part-way.

Oddities (valid listens, kept, flagged by the WARN checks; ``GenerationSummary.oddities``): 3 listens of
the aliased file longer than their track (``listens_longer_than_track``) and, on day 4, 2 second plays of
a track 2 s after the first (``near_duplicates``).

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
    GENRE_WEIGHTS,
    GENRES,
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
ODDITY_COUNTS = {"longer_than_track": 3, "near_duplicate": 2}
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
    oddities: dict[str, int]  # valid listens the WARN checks flag: ODDITY_COUNTS, as many as the days allow
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


# ----------------------------------------------------------------- who listens to what, when, for how long
# Daily activity, device and skipping habits of the sample's users; the model is in _listening's docstring.
ACTIVITY = (1.2, 2.8)  # Beta(a, b) of each user's chance to be active on a day: mean 0.3, a few daily users
DEVICE_SHARES = [0.55, 0.25, 0.12, 0.08]  # users' main device, in DEVICE_TYPES order
EARLY_SKIP = dict(zip(DEVICE_TYPES, [0.27, 0.2, 0.2, 0.08]))  # share of listens skipped in their first 30 s
ABANDONED = 0.1  # share stopped part-way (30 s .. 90% of the track)
SESSION_GAP = 31 * 60  # seconds between sessions: more than the 30-minute session gap of the KPIs
GENRE_EXPONENT, TRACK_EXPONENT = 1.3, 0.85  # genre share ~ weight**1.3; track share in its genre ~ 1/rank**0.85


@dataclass(frozen=True)
class Listen:
    """What was played, beyond (user, track, time): seconds played (a multiple of 0.5, at most the track's
    duration), whether the source system says it completed (None: unknown) and the device."""

    played: float
    completed: bool | None
    device: str


def _track_weights(rng, genres: list[str]) -> np.ndarray:
    """Long-tail popularity: a genre's share of listens ~ its weight**GENRE_EXPONENT (GENRE_WEIGHTS), a
    track's share of its genre ~ 1/rank**TRACK_EXPONENT over a random order of the genre's tracks."""
    weight = dict(zip(GENRES, GENRE_WEIGHTS**GENRE_EXPONENT))
    p = np.zeros(len(genres))
    for genre in sorted(set(genres)):
        members = np.flatnonzero(np.array(genres) == genre)
        zipf = 1.0 / np.arange(1, len(members) + 1) ** TRACK_EXPONENT
        p[rng.permutation(members)] = weight[genre] * zipf / zipf.sum()
    return p / p.sum()


def _played(rng, duration_ms: int, device: str) -> Listen:
    """One listen's outcome: skipped early, abandoned part-way or played to the end (most)."""
    full = (duration_ms // 500) / 2  # the track's length in half seconds, never above it
    roll = rng.random()
    skip = EARLY_SKIP.get(device, 0.2)
    if roll < skip:
        played = float(rng.uniform(5, 30))
    elif roll < skip + ABANDONED:
        played = float(rng.uniform(30, 0.9 * full))
    else:
        played = full
    played = min(full, int(played * 2) / 2)
    completed = None if rng.random() < 0.1 else played == full
    return Listen(played, completed, "" if rng.random() < 0.03 else device)


def _place_sessions(rng, spans: list[int], tails: list[int]) -> list[int] | None:
    """Start second (in the day) of each session, given each session's span (first to last listen start) and
    tail (its last listen's length): starts drawn from the hour profile, sessions in order, SESSION_GAP apart,
    every listen inside the day. None when they cannot fit."""
    starts = sorted(
        int(h) * 3600 + int(s)
        for h, s in zip(
            rng.choice(24, size=len(spans), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum()), rng.integers(0, 3600, size=len(spans))
        )
    )
    for i in range(1, len(starts)):  # forward: after the previous session
        starts[i] = max(starts[i], starts[i - 1] + spans[i - 1] + tails[i - 1] + SESSION_GAP)
    starts[-1] = min(starts[-1], DAY - 1 - spans[-1])
    for i in range(len(starts) - 2, -1, -1):  # backward: the last listen starts before midnight
        starts[i] = min(starts[i], starts[i + 1] - SESSION_GAP - tails[i] - spans[i])
    return starts if starts[0] >= 0 else None


def _user_day(rng, tracks: np.ndarray, outcomes: list[Listen]) -> list[int]:
    """Listen start seconds (in the day) of one user's listens, in order: a few sessions of back-to-back
    listens (each starts when the previous one stopped, plus a few seconds, now and then a pause)."""
    n = len(tracks)
    pauses = np.where(rng.random(n) < 0.05, rng.integers(60, 600, size=n), rng.integers(1, 15, size=n))
    steps = [int(np.ceil(o.played)) + int(g) for o, g in zip(outcomes, pauses)]  # start to next start
    sessions = 1 + int(rng.binomial(min(n - 1, 4), 0.4))
    while True:
        cuts = np.sort(rng.choice(np.arange(1, n), size=sessions - 1, replace=False)) if sessions > 1 else []
        bounds = [0, *map(int, cuts), n]
        spans = [sum(steps[a : b - 1]) for a, b in zip(bounds, bounds[1:])]
        tails = [steps[b - 1] for b in bounds[1:]]
        starts = _place_sessions(rng, spans, tails)
        if starts is not None:
            break
        if sessions == 1:  # more listening than a day holds (a huge listens_per_day): spread evenly
            return np.linspace(0, DAY - 1, n).astype(int).tolist()
        sessions -= 1
    out = []
    for start, a, b in zip(starts, bounds, bounds[1:]):
        out.extend(start + int(x) for x in np.cumsum([0, *steps[a : b - 1]]))
    return out


def _listening(rng, n_users: int, durations: list[int], genres: list[str], days: int, per_day: int):
    """`per_day` listens a day: (N, 3) array of (user, track, second since the start) grouped by day, in a
    random order inside each day, and each listen's Listen.

    Each user has a chance to be active on a day (Beta ACTIVITY: ~30 % of users a day, a few nearly daily),
    an appetite (log-normal: the day's listens are shared among the active users by it), two favourite genres
    (half of their listens; the rest follow everyone's long-tail popularity, _track_weights) and a main device
    (85 % of their listens). A user's day is a few sessions of back-to-back listens; a listen is skipped in its
    first 30 s (more on mobile, fewer on a smart speaker), abandoned part-way or played to its end."""
    activity = rng.beta(*ACTIVITY, size=n_users)
    appetite = rng.lognormal(0.0, 0.6, size=n_users)
    device = rng.choice(DEVICE_TYPES, size=n_users, p=DEVICE_SHARES)
    popular = _track_weights(rng, genres)
    names = sorted(set(genres))
    in_genre = {g: np.where(np.array(genres) == g, popular, 0.0) for g in names}
    genre_share = np.array([in_genre[g].sum() for g in names])
    taste = []
    for _ in range(n_users):
        first, second = rng.choice(len(names), size=2, replace=False, p=genre_share)
        favourite = 0.35 * in_genre[names[first]] / genre_share[first] + 0.15 * in_genre[names[second]] / genre_share[second]
        taste.append(0.5 * popular + favourite)
    rows, outcomes = [], []
    for day in range(days):
        active = np.flatnonzero(rng.random(n_users) < activity)
        if len(active) == 0:
            active = np.array([int(np.argmax(activity))])
        counts = rng.multinomial(per_day, appetite[active] / appetite[active].sum())
        day_rows, day_outcomes = [], []
        for user, n in zip(active.tolist(), counts.tolist()):
            if n == 0:
                continue
            tracks = rng.choice(len(durations), size=n, p=taste[user])
            devices = np.where(rng.random(n) < 0.85, device[user], rng.choice(DEVICE_TYPES, size=n, p=DEVICE_SHARES))
            played = [_played(rng, durations[t], str(d)) for t, d in zip(tracks, devices)]
            secs = _user_day(rng, tracks, played)
            day_rows.extend((user, int(t), day * DAY + s) for t, s in zip(tracks, secs))
            day_outcomes.extend(played)
        order = rng.permutation(per_day)  # the spare listens (the day's last ones) fall on random users
        rows.extend(day_rows[i] for i in order)
        outcomes.extend(day_outcomes[i] for i in order)
    return np.array(rows, dtype=np.int64), outcomes


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


def _seconds(played: float) -> int | float:
    """Seconds as the sources write them: `187` or `187.5`."""
    return int(played) if played.is_integer() else played


def _bad_seed_element(kind: str, i: int, user: str, track: str, ts: str, listen: Listen) -> bytes:
    """One seed-shape element with exactly one defect of `kind`."""
    duration, completed, device = _seconds(listen.played), listen.completed, listen.device
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
            _seed_element(
                f"st-{_fmt(start, s)[:10]}-{i:05d}",
                uids[u],
                tids[t],
                _fmt(start, s, 0),
                _seconds(x.played),
                x.completed,
                x.device,
            )
            for i, (u, t, s, _, x) in enumerate(rows)
        ]
    if fmt == "jsonl":
        return [
            json.dumps({"user_id": uids[u], "track_id": tids[t], "listen_time": _fmt(start, s)}).encode()
            for u, t, s, _, _ in rows
        ]
    if fmt != "alias":
        lines = [f"{uids[u]},{tids[t]},{_fmt(start, s)}".encode() for u, t, s, _, _ in rows]
        return [STREAM_HEADER.encode(), *lines]
    lines = [ALIAS_HEADER.encode()]
    for u, t, s, prev_day, x in rows:
        offset = int(rng.choice([120, 180])) if prev_day else int(rng.choice([0, 0, 120, -300, 330]))
        lines.append(f"{uids[u]},{tids[t]},{_fmt(start, s, offset)},{_seconds(x.played)}".encode())
    return lines


def _route_listens(rng, listens: np.ndarray, played: list[Listen], n_clean: int, dates: list[dt.date]):
    """Drop repeated listens, route each to its file.

    Returns ({path: (format, [(u, t, secs, is_previous_utc_day, Listen)])}, [(path, (u, t, secs))],
    [(path, (u, t, secs, Listen))]) where the last two lists hold spare listens (in plain CSV files, in
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
    for (u, t, s), x, ok, spare, roll in zip(listens.tolist(), played, keep, is_spare, rng.random(len(listens))):
        if not ok:
            continue
        key, fmt = _route(s // DAY, s % DAY, roll, dates)
        files.setdefault(key, (fmt, []))
        if not spare:
            files[key][1].append((u, t, s, s // DAY == 2 and fmt == "alias", x))
        elif fmt == "csv":
            spares.append((key, (u, t, s)))
        elif fmt == "seed":
            seed_spares.append((key, (u, t, s, x)))
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
        key, (u, t, s, x) = seed_spares[j]
        extra[key].append(_bad_seed_element(kind, injected[kind], uids[u], tids[t], _fmt(start, s, 0), x))
        injected[kind] += 1
    day0 = [f"raw/streams/{start:%Y/%m/%d}/streams_part{p}.csv" for p in (1, 2, 3)]
    originals = [rng.choice(len(files[f][1]), 2, replace=False).tolist() for f in day0]
    for src, dst in ((0, 1), (0, 2), (1, 1), (2, 0)):  # mostly into another file of the same day
        u, t, s, _, _ = files[day0[src]][1][originals[src].pop()]
        extra[day0[dst]].append(f"{uids[u]},{tids[t]},{_fmt(start, s)}".encode())
        injected["duplicate_listen"] += 1
    return extra, injected


def _add_oddities(rng, files, extra, dates, start, uids, tids, durations) -> dict[str, int]:
    """Valid but odd listens, for the WARN checks: in the own-duration file, listens longer than their track (a
    player counting a replay); in day 4's file, a second play of the same track 2 s after a listen (a double tap).
    Returns how many of each were made."""
    made = dict.fromkeys(ODDITY_COUNTS, 0)
    if len(dates) > 3:
        rows = files[f"raw/streams/mobile_export/listens_{dates[3]:%Y%m%d}.csv"][1]
        for j in rng.choice(len(rows), ODDITY_COUNTS["longer_than_track"], replace=False).tolist():
            u, t, s, prev_day, x = rows[j]
            over = (durations[t] // 500) / 2 + int(rng.integers(2, 40))
            rows[j] = (u, t, s, prev_day, Listen(over, x.completed, x.device))
            made["longer_than_track"] += 1
    if len(dates) > 4:
        key = f"raw/streams/{dates[4]:%Y/%m/%d}/streams.csv.gz"
        rows = files[key][1]
        for j in rng.choice(len(rows), ODDITY_COUNTS["near_duplicate"], replace=False).tolist():
            u, t, s, _, _ = rows[j]
            extra[key].append(f"{uids[u]},{tids[t]},{_fmt(start, s + 2)}".encode())
            made["near_duplicate"] += 1
    return made


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
    kept = {}  # track_id -> its first songs.csv row, the one the pipeline keeps
    for row in song_rows:
        kept.setdefault(row[1], row)
    durations = [int(kept[t][SONG_COLUMNS.index("duration_ms")]) for t in tids]
    genres = [str(kept[t][SONG_COLUMNS.index("track_genre")]) for t in tids]
    per_day = listens_per_day + sum(BAD_COUNTS.values())  # spare listens become bad-row bases
    listens, played = _listening(rng, n_users, durations, genres, days, per_day)
    dates = [start_date + dt.timedelta(days=k) for k in range(days)]
    start = dt.datetime.combine(start_date, dt.time())
    files, spares, seed_spares = _route_listens(rng, listens, played, listens_per_day, dates)
    extra, injected = _inject_bad_rows(rng, files, spares, seed_spares, start, uids, tids, orphan)
    oddities = _add_oddities(rng, files, extra, dates, start, uids, tids, durations)

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
        oddities=oddities,
        days=[d.isoformat() for d in dates],
    )
