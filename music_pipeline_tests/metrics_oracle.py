"""Independent oracle of issue 11's tables: engagement, artist popularity, platform usage, the
genre distribution and every `DailyMetrics` item, computed from the raw files of a lake folder.

It shares no code with the package (no readers, SQL, ingest, contracts or engines): raw files are
read with `csv` / `gzip` / `json`, docs/design.md section 3's row rules and /work/notes' metric
semantics are applied here in plain Python, one listen at a time, so that a wrong join, window or
rounding in the product's SQL shows up as a difference.

What the oracle decides where the texts leave room (written down in docs/decisions.md, issue 11):
- Row order is (source_file, position in the file): a CSV record's line, a JSON line's line, a
  JSON array element's index. Only the relative order inside a file matters for any output.
- Each rejected row has one reason, the first failing rule in this order: unreadable row, listen_time,
  duration, completed, future_listen_time, before_start_date, missing ids, unknown track, unknown
  user, duplicate_listen. Duplicates (exact (user_id, track_id, listen_time), or a repeated non-blank
  `stream_id` of the day) are counted over the rows that reached validation, in (source_file,
  source_line) order, whatever else is wrong with the earlier row.
- Labels (`country`, `subscription_type`, `genre`, artist names) are trimmed; blank -> `unknown`
  (genre: the song is rejected). `device_type` is also lower-cased. Artists rank by name in code
  point order (= UTF-8 byte order, what Spark and DuckDB compare strings by): `Zed` < `abba`.
"""

from __future__ import annotations

import calendar
import collections
import csv
import datetime as dt
import gzip
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

ALIASES = {"song_id": "track_id", "timestamp": "listen_time"}
SPOTIFY_SONG_COLUMNS = (
    "id",
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "track_genre",
)
SHORT_SONG_COLUMNS = ("song_id", "title", "artist", "genre", "duration", "release_date")
LAB_USER_COLUMNS = ("user_id", "user_name", "user_age", "user_country", "created_at")
SHORT_USER_COLUMNS = ("user_id", "subscription_type", "country", "join_date")
COMPLETED = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False, "0": False, "no": False}
UNKNOWN = "unknown"
SESSION_GAP_MINUTES = 30
DEFAULT_START_DATE = dt.date(2024, 1, 1)
FUTURE_TOLERANCE = dt.timedelta(hours=24)
TTL_DAYS = 365
TOP_ARTISTS = 10
PLATFORM_DIMENSIONS = ("device_type", "hour", "country", "subscription_type")


# ----------------------------------------------------------------------------------- reference files
@dataclass(frozen=True)
class Song:
    track_id: str
    track_name: str | None
    artists: tuple[str, ...]  # credited names, each once; ("unknown",) when none
    genre: str
    duration_ms: int


@dataclass(frozen=True)
class User:
    user_id: str
    country: str  # "unknown" when null/blank
    subscription_type: str  # "unknown" when null/blank/absent


def label(value: str | None) -> str:
    """A dimension value: trimmed text, `unknown` when null or blank."""
    text = (value or "").strip()
    return text or UNKNOWN


def credited_artists(text: str | None) -> tuple[str, ...]:
    """`A; B ;A` -> ("A", "B"): split on `;`, trimmed, blanks dropped, each name once; none -> unknown."""
    names: list[str] = []
    for part in (text or "").split(";"):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    return tuple(names) or (UNKNOWN,)


def _csv_records(path: Path) -> tuple[list[str], list[dict]]:
    """Header (trimmed, lower-cased) and records of a reference CSV; malformed records skipped."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        return header, [dict(zip(header, fields)) for fields in reader if len(fields) == len(header)]


def _seconds_to_ms(text: str | None) -> int | None:
    """Seconds text -> rounded ms; None when blank; raises ValueError when not a number in 0 .. 24 h (the range a
    listen's or a track's duration must lie in; decisions.md)."""
    if text is None or not str(text).strip():
        return None
    seconds = float(text)
    if not math.isfinite(seconds) or seconds < 0 or seconds > 86_400:
        raise ValueError(text)
    return round(seconds * 1000)


def read_songs(path: Path) -> dict[str, Song]:
    """Both shapes, told apart by the header. A row needs an id, a genre and a duration > 0; the first
    valid row of a track_id (in file order) is kept."""
    header, records = _csv_records(path)
    spotify = set(SPOTIFY_SONG_COLUMNS) <= set(header)
    if not spotify and not set(SHORT_SONG_COLUMNS) <= set(header):
        raise ValueError(f"{path}: neither songs shape: {header}")
    songs: dict[str, Song] = {}
    for r in records:
        track = (r["track_id"] if spotify else r["song_id"]).strip()
        genre = (r["track_genre"] if spotify else r["genre"]).strip()
        try:
            if spotify:
                duration = int(r["duration_ms"].strip())
            else:
                duration = _seconds_to_ms(r["duration"])
        except ValueError:
            continue
        if not track or not genre or duration is None or not 0 < duration <= 86_400_000 or track in songs:
            continue
        songs[track] = Song(
            track,
            r["track_name"] if spotify else r["title"],
            credited_artists(r["artists"] if spotify else r["artist"]),
            genre,
            duration,
        )
    return songs


def read_users(path: Path) -> dict[str, User]:
    """Both shapes, told apart by the header; the first row of a user_id is kept."""
    header, records = _csv_records(path)
    lab = set(LAB_USER_COLUMNS) <= set(header)
    if not lab and not set(SHORT_USER_COLUMNS) <= set(header):
        raise ValueError(f"{path}: neither users shape: {header}")
    users: dict[str, User] = {}
    for r in records:
        user = r["user_id"].strip()
        if user and user not in users:
            users[user] = User(user, label(r["user_country"] if lab else r["country"]), label(r.get("subscription_type")))
    return users


# ----------------------------------------------------------------------------------- landed files
def _record(obj: dict) -> dict:
    """JSON object -> text record with normalized keys (non-strings as their JSON text, null kept)."""
    return {
        ALIASES.get(k.strip().lower(), k.strip().lower()): (v if v is None or isinstance(v, str) else json.dumps(v))
        for k, v in obj.items()
    }


def landed_records(root: Path):
    """(file key, position, record | None, reject reason | None) of every file under raw/streams, by key."""
    root = Path(root)
    keys = sorted(p.relative_to(root).as_posix() for p in (root / "raw" / "streams").rglob("*") if p.is_file())
    for key in keys:
        data = (root / key).read_bytes()
        name = key.lower()
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name[:-3]
        if name.endswith((".jsonl", ".json", ".ndjson")):
            if data.lstrip().startswith(b"["):  # a JSON array: one record per element
                for position, obj in enumerate(json.loads(data.decode("utf-8")), start=1):
                    yield (
                        (key, position, _record(obj), None) if isinstance(obj, dict) else (key, position, None, "malformed_line")
                    )
                continue
            for number, raw in enumerate(data.split(b"\n"), start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    yield key, number, None, "bad_encoding"
                    continue
                except ValueError:
                    obj = None
                yield (key, number, _record(obj), None) if isinstance(obj, dict) else (key, number, None, "malformed_line")
            continue
        reader = csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline=""))
        header = [ALIASES.get(h.strip().lstrip("\ufeff").lower(), h.strip().lstrip("\ufeff").lower()) for h in next(reader)]
        for fields in reader:
            number = reader.line_num  # a record's last line: increasing, which is all the order needs
            if not fields:
                continue
            if len(fields) != len(header):
                yield key, number, None, "malformed_line"
            elif any(_undecodable(f) for f in fields):
                yield key, number, None, "bad_encoding"
            else:
                yield key, number, dict(zip(header, fields)), None


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte that was not UTF-8
        return True
    return False


def utc_time(text: str | None) -> dt.datetime | None:
    """ISO-8601 text -> naive UTC datetime (offsets applied; no offset means UTC); None when unreadable."""
    if text is None or not text.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_completed(text: str | None) -> tuple[bool | None, bool]:
    """(completed or None when unknown, valid)."""
    if text is None or not text.strip():
        return None, True
    value = COMPLETED.get(text.strip().lower())
    return value, value is not None


@dataclass
class Listen:
    date: str
    user_id: str
    track_id: str
    listen_time: dt.datetime
    listening_time_ms: int
    completed: bool | None
    device_type: str
    source_file: str
    source_line: int
    genre: str
    artists: tuple[str, ...]
    country: str
    subscription_type: str


@dataclass
class Validated:
    listens: list[Listen]
    rejects: collections.Counter = field(default_factory=collections.Counter)

    @property
    def days(self) -> list[str]:
        return sorted({x.date for x in self.listens})


def validated_listens(
    root: Path, start_date: dt.date = DEFAULT_START_DATE, landed_at: dict[str, dt.datetime] | None = None
) -> Validated:
    """The validated listens of a lake folder and its rejects by reason.

    `landed_at` maps a file key to its landing time (naive UTC); by default the file's mtime, which is
    what a folder lake reports, so call this before anything moves or touches the landed files."""
    root = Path(root)
    songs, users = read_songs(root / "raw/songs/songs.csv"), read_users(root / "raw/users/users.csv")
    rejects: collections.Counter[str] = collections.Counter()
    candidates = []  # rows that reach validation (bronze)
    for key, position, record, reason in landed_records(root):
        if reason:
            rejects[reason] += 1
            continue
        when = utc_time(record.get("listen_time"))
        if when is None:
            rejects["unparseable_listen_time"] += 1
            continue
        try:
            own_ms = _seconds_to_ms(record.get("duration"))
        except ValueError:
            rejects["invalid_duration"] += 1
            continue
        completed, ok = parse_completed(record.get("completed"))
        if not ok:
            rejects["invalid_completed"] += 1
            continue
        landed = (landed_at or {}).get(key) or dt.datetime.fromtimestamp(os.stat(root / key).st_mtime, dt.UTC).replace(
            tzinfo=None
        )
        if when > landed + FUTURE_TOLERANCE:
            rejects["future_listen_time"] += 1
            continue
        if when.date() < start_date:
            rejects["before_start_date"] += 1
            continue
        candidates.append((when.date().isoformat(), key, position, when, own_ms, completed, record))

    listens: list[Listen] = []
    seen_listens: set[tuple] = set()
    seen_streams: set[tuple] = set()
    for day, key, position, when, own_ms, completed, record in sorted(candidates, key=lambda c: c[:3]):
        user, track = (record.get("user_id") or "").strip(), (record.get("track_id") or "").strip()
        stream = (record.get("stream_id") or "").strip()
        repeated = (user, track, when) in seen_listens or (stream and (day, stream) in seen_streams)
        seen_listens.add((user, track, when))
        if stream:
            seen_streams.add((day, stream))
        if not user:
            reason = "missing_user_id"
        elif not track:
            reason = "missing_track_id"
        elif track not in songs:
            reason = "unknown_track_id"
        elif user not in users:
            reason = "unknown_user_id"
        elif repeated:
            reason = "duplicate_listen"
        else:
            reason = None
        if reason:
            rejects[reason] += 1
            continue
        song, person = songs[track], users[user]
        listens.append(
            Listen(
                date=day,
                user_id=user,
                track_id=track,
                listen_time=when,
                listening_time_ms=own_ms if own_ms is not None else song.duration_ms,
                completed=completed,
                device_type=label(record.get("device_type")).lower(),
                source_file=key,
                source_line=position,
                genre=song.genre,
                artists=song.artists,
                country=person.country,
                subscription_type=person.subscription_type,
            )
        )
    return Validated(listens, rejects)


# ----------------------------------------------------------------------------------- the tables
def _by_day(listens: list[Listen]) -> dict[str, list[Listen]]:
    days: dict[str, list[Listen]] = collections.defaultdict(list)
    for x in listens:
        days[x.date].append(x)
    return dict(sorted(days.items()))


def sessions(listens: list[Listen], gap_minutes: int = SESSION_GAP_MINUTES) -> list[dict]:
    """Sessions {date, user_id, start, listens, duration_ms}: a user's listens of one day in
    (listen_time, source_file, source_line) order, split where a gap exceeds `gap_minutes`."""
    gap = dt.timedelta(minutes=gap_minutes)
    per_user: dict[tuple, list[Listen]] = collections.defaultdict(list)
    for x in listens:
        per_user[(x.date, x.user_id)].append(x)
    out = []
    for (day, user), group in sorted(per_user.items()):
        group.sort(key=lambda x: (x.listen_time, x.source_file, x.source_line))
        runs = [[group[0]]]
        for prev, cur in zip(group, group[1:]):
            if cur.listen_time - prev.listen_time > gap:
                runs.append([])
            runs[-1].append(cur)
        for run in runs:
            first, last = run[0], run[-1]
            span_ms = (last.listen_time - first.listen_time) / dt.timedelta(milliseconds=1)
            out.append(
                {
                    "date": day,
                    "user_id": user,
                    "start": first.listen_time,
                    "listens": len(run),
                    "duration_ms": span_ms + last.listening_time_ms,
                }
            )
    return out


def daily_user_engagement(listens: list[Listen], gap_minutes: int = SESSION_GAP_MINUTES) -> list[dict]:
    out = []
    for day, group in _by_day(listens).items():
        users = {x.user_id for x in group}
        day_sessions = sessions(group, gap_minutes)
        known = [x.completed for x in group if x.completed is not None]
        hours = collections.Counter(x.listen_time.hour for x in group)
        out.append(
            {
                "date": day,
                "daily_active_users": len(users),
                "listens": len(group),
                "listens_per_user": len(group) / len(users),
                "sessions": len(day_sessions),
                "avg_session_duration_ms": sum(s["duration_ms"] for s in day_sessions) / len(day_sessions),
                "completion_rate": sum(known) / len(known) if known else None,
                "completion_known_listens": len(known),
                "peak_hour": min(hours, key=lambda h: (-hours[h], h)),
            }
        )
    return out


def _aggregate(group: list[Listen], key) -> dict[str, dict]:
    """{value: listen_count, unique_listeners, total_listening_time_ms} of listens by key(listen) -> values."""
    acc: dict[str, dict] = {}
    for x in group:
        for value in key(x):
            a = acc.setdefault(value, {"listen_count": 0, "users": set(), "total_listening_time_ms": 0})
            a["listen_count"] += 1
            a["users"].add(x.user_id)
            a["total_listening_time_ms"] += x.listening_time_ms
    return {
        v: {
            "listen_count": a["listen_count"],
            "unique_listeners": len(a["users"]),
            "total_listening_time_ms": a["total_listening_time_ms"],
        }
        for v, a in acc.items()
    }


def artist_daily_popularity(listens: list[Listen]) -> list[dict]:
    out = []
    for day, group in _by_day(listens).items():
        stats = _aggregate(group, lambda x: x.artists)
        ranked = sorted(stats.items(), key=lambda kv: (-kv[1]["listen_count"], kv[0]))
        out += [{"date": day, "artist": artist, **s, "rank": rank} for rank, (artist, s) in enumerate(ranked, start=1)]
    return out


def _dimension_value(x: Listen, dimension: str) -> str:
    if dimension == "hour":
        return f"{x.listen_time.hour:02d}"
    return getattr(x, dimension)


def platform_usage_daily(listens: list[Listen]) -> list[dict]:
    out = []
    for day, group in _by_day(listens).items():
        for dimension in PLATFORM_DIMENSIONS:
            stats = _aggregate(group, lambda x, dimension=dimension: (_dimension_value(x, dimension),))
            out += [
                {"date": day, "dimension": dimension, "value": value, **s, "listen_share": s["listen_count"] / len(group)}
                for value, s in sorted(stats.items())
            ]
    return out


def genre_daily_kpis(listens: list[Listen]) -> list[dict]:
    out = []
    for day, group in _by_day(listens).items():
        for genre, s in sorted(_aggregate(group, lambda x: (x.genre,)).items()):
            out.append(
                {
                    "date": day,
                    "genre": genre,
                    **s,
                    "avg_listening_time_per_user_ms": s["total_listening_time_ms"] / s["unique_listeners"],
                    "listen_share": s["listen_count"] / len(group),
                }
            )
    return out


# ----------------------------------------------------------------------------------- DailyMetrics
ENGAGEMENT_UNITS = {
    "daily_active_users": "count",
    "listens": "count",
    "listens_per_user": "ratio",
    "sessions": "count",
    "avg_session_duration_ms": "ms",
    "completion_rate": "ratio",
    "peak_hour": "hour",
}


def expires_at(day: str) -> int:
    """Epoch seconds of the day's midnight UTC + 365 days."""
    return calendar.timegm(dt.date.fromisoformat(day).timetuple()) + TTL_DAYS * 86400


def _item(metric_type: str, day: str, value, unit: str, dimensions: dict[str, str] | None = None, **extra) -> dict:
    key = day + "".join(f"#{k}={v}" for k, v in (dimensions or {}).items())
    return {
        "metric_type": metric_type,
        "metric_key": key,
        "date": day,
        "value": value,
        "dimensions": dict(dimensions or {}),
        "unit": unit,
        "expires_at": expires_at(day),
        **extra,
    }


def daily_metrics(listens: list[Listen], gap_minutes: int = SESSION_GAP_MINUTES) -> dict[tuple[str, str], dict]:
    """Every DailyMetrics item, by (metric_type, metric_key)."""
    items = []
    for row in daily_user_engagement(listens, gap_minutes):
        for metric, unit in ENGAGEMENT_UNITS.items():
            if row[metric] is not None:  # no completion_rate item on a day where no completion is known
                items.append(_item(metric, row["date"], row[metric], unit))
    for row in genre_daily_kpis(listens):
        items.append(
            _item(
                "listens_by_genre", row["date"], row["listen_count"], "count", {"genre": row["genre"]}, share=row["listen_share"]
            )
        )
    for row in platform_usage_daily(listens):
        items.append(
            _item(
                f"listens_by_{row['dimension']}",
                row["date"],
                row["listen_count"],
                "count",
                {row["dimension"]: row["value"]},
                share=row["listen_share"],
            )
        )
    for row in artist_daily_popularity(listens):
        if row["rank"] <= TOP_ARTISTS:
            items.append(
                _item("top_artists", row["date"], row["listen_count"], "count", {"artist": row["artist"]}, rank=row["rank"])
            )
    out = {(i["metric_type"], i["metric_key"]): i for i in items}
    assert len(out) == len(items), "two items with one key"
    return out


@dataclass
class Expected:
    """Everything the product must produce for a lake folder."""

    validated: Validated
    daily_user_engagement: list[dict]
    artist_daily_popularity: list[dict]
    platform_usage_daily: list[dict]
    genre_daily_kpis: list[dict]
    daily_metrics: dict[tuple[str, str], dict]


def expected(
    root: Path,
    start_date: dt.date = DEFAULT_START_DATE,
    gap_minutes: int = SESSION_GAP_MINUTES,
    landed_at: dict[str, dt.datetime] | None = None,
) -> Expected:
    v = validated_listens(root, start_date, landed_at)
    return Expected(
        v,
        daily_user_engagement(v.listens, gap_minutes),
        artist_daily_popularity(v.listens),
        platform_usage_daily(v.listens),
        genre_daily_kpis(v.listens),
        daily_metrics(v.listens, gap_minutes),
    )
