"""Tests for music_pipeline_tools.sample_data: real files written into tmp_path."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest

from music_pipeline_tools.sample_data import BAD_COUNTS, GenerationSummary, generate_lake, write_stream_csv
from music_pipeline_tools.sample_reference import SONG_COLUMNS, write_songs_csv, write_users_csv

START = dt.date(2024, 6, 1)
SMALL = dict(seed=7, listens_per_day=800, n_tracks=120, n_users=80)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[Path, GenerationSummary]:
    root = tmp_path_factory.mktemp("lake")
    return root, generate_lake(root, **SMALL)


def _read_songs(root: Path) -> list[list[str]]:
    with open(root / "raw/songs/songs.csv", newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _stream_files(summary: GenerationSummary) -> list[str]:
    return [f for f in summary.files if f.startswith("raw/streams/")]


def _valid_tracks(songs_csv: Path) -> set[str]:
    """track_ids whose first occurrence has a genre."""
    first: dict[str, str] = {}
    with open(songs_csv, newline="", encoding="utf-8") as fh:
        for row in list(csv.reader(fh))[1:]:
            first.setdefault(row[1], row[-1])
    return {t for t, g in first.items() if g}


def _valid_sets(root: Path) -> tuple[set[str], set[str]]:
    """(valid track_ids, user_ids)."""
    tracks = _valid_tracks(root / "raw/songs/songs.csv")
    with open(root / "raw/users/users.csv", newline="") as fh:
        users = {r["user_id"] for r in csv.DictReader(fh)}
    return tracks, users


def _parse_time(text: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def _defects(raw: bytes, tracks: set[str], users: set[str]) -> tuple[set[str], tuple | None]:
    """Every defect of one plain-CSV data line (independently), plus its listen key."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"bad_encoding"}, None
    fields = next(csv.reader([text]))
    if len(fields) != 3:
        return {"malformed_line"}, None
    user, track, when = fields
    found = set()
    if not user.strip():
        found.add("missing_user_id")
    elif user not in users:
        found.add("unknown_user_id")
    if not track.strip():
        found.add("missing_track_id")
    elif track not in tracks:
        found.add("unknown_track_id")
    ts = _parse_time(when)
    if ts is None:
        found.add("unparseable_listen_time")
    return found, (user, track, ts)


def _seed_defects(obj: dict) -> set[str]:
    """Defects of one seed-shape element that ingestion rejects (the value rules of docs/design.md section 3)."""
    found = set()
    duration = obj["duration"]
    if duration is not None and not (0 <= float(duration) <= 86_400):
        found.add("invalid_duration")
    if obj["completed"] is not None and not isinstance(obj["completed"], bool):
        found.add("invalid_completed")
    ts = _parse_time(obj["timestamp"])
    if ts.year >= 2099:
        found.add("future_listen_time")
    if ts.date() < dt.date(2024, 1, 1):
        found.add("before_start_date")
    return found


def _all_lines(root: Path, summary: GenerationSummary):
    """Yield (file, kind, data-line) for every stream file; kind in csv/alias/jsonl/seed (a JSON
    array element, as its JSON text)."""
    for rel in _stream_files(summary):
        data = (root / rel).read_bytes()
        if rel.endswith(".gz"):
            data = gzip.decompress(data)
        if rel.endswith(".json"):
            yield from ((rel, "seed", json.dumps(obj).encode()) for obj in json.loads(data))
            continue
        lines = data.rstrip(b"\n").split(b"\n")
        if rel.endswith(".jsonl"):
            yield from ((rel, "jsonl", ln) for ln in lines)
        else:
            kind = "alias" if lines[0].startswith(b"user_id,song_id") else "csv"
            yield from ((rel, kind, ln) for ln in lines[1:])


def test_determinism(tmp_path):
    a, b, c = (generate_lake(tmp_path / n, **{**SMALL, "seed": s}) for n, s in (("a", 1), ("b", 1), ("c", 2)))
    assert a == b
    for rel in a.files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    songs = "raw/songs/songs.csv"
    assert (tmp_path / "a" / songs).read_bytes() != (tmp_path / "c" / songs).read_bytes()
    stream = "raw/streams/2024/06/02/streams_part1.csv"
    assert (tmp_path / "a" / stream).read_bytes() != (tmp_path / "c" / stream).read_bytes()


def test_songs_csv_shape_and_quirks(lake):
    root, _ = lake
    rows = _read_songs(root)
    assert rows[0] == list(SONG_COLUMNS) and len(SONG_COLUMNS) == 21
    body = rows[1:]
    assert all(len(r) == 21 for r in body)
    assert [int(r[0]) for r in body] == list(range(len(body)))
    counts = collections.Counter(r[1] for r in body)
    dups = [t for t, n in counts.items() if n > 1]
    assert len(dups) == 3 and all(counts[t] == 2 for t in dups)
    for t in dups:
        first, later = [r for r in body if r[1] == t]
        assert first[-1] and later[-1] and first[-1] != later[-1] and first[4] != later[4]
    assert sum(1 for r in body if r[-1] == "") == 1
    assert all(len(r[1]) == 22 and r[1].isalnum() for r in body)
    assert all(90_000 <= int(r[6]) <= 420_000 for r in body)
    assert 12 <= len({r[-1] for r in body if r[-1]}) <= 15
    assert '""' in (root / "raw/songs/songs.csv").read_text()
    assert any('"' in f for r in body for f in r[2:5]) and any("," in r[4] for r in body)
    assert any(";" in r[2] for r in body)


def test_write_songs_returns_first_occurrence_ids_with_genre(tmp_path):
    valid = write_songs_csv(tmp_path / "s.csv", seed=3, n_tracks=50)
    assert set(valid) == _valid_tracks(tmp_path / "s.csv")
    assert len(valid) == len(set(valid)) == 49


def test_users_half_created_after_streams(tmp_path):
    ids = write_users_csv(tmp_path / "u.csv", seed=5, n_users=200)
    with open(tmp_path / "u.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["user_id"] for r in rows] == ids and ids[42] == "u00042"
    later = sum(dt.datetime.strptime(r["created_at"], "%Y-%m-%d %H:%M:%S").date() > START for r in rows)
    assert 0.35 < later / len(rows) < 0.65


def test_summary_and_layout(lake):
    root, summary = lake
    assert summary.days == [(START + dt.timedelta(days=k)).isoformat() for k in range(7)]
    assert set(summary.injected_bad_rows) == set(BAD_COUNTS)
    assert all(n > 0 for n in summary.injected_bad_rows.values())
    assert all((root / f).is_file() for f in summary.files)
    found = {str(p.relative_to(root)) for p in (root / "raw/streams").rglob("*") if p.is_file()}
    assert found == set(_stream_files(summary))
    day0 = [f for f in found if f.startswith("raw/streams/2024/06/01/")]
    assert len(day0) == 3
    assert any(f.endswith(".csv.gz") for f in found) and any(f.endswith(".jsonl") for f in found)
    assert any(f.endswith(".json") for f in found)  # the seed shape: a JSON array
    assert any(f.count("/") == 2 for f in found)  # some flat-ish names next to date folders
    assert summary.stream_rows == sum(1 for _ in _all_lines(root, summary))


def test_bad_rows_are_present_and_unambiguous(lake):
    root, summary = lake
    tracks, users = _valid_sets(root)
    no_genre = next(r[1] for r in _read_songs(root)[1:] if r[-1] == "")
    counts: collections.Counter[str] = collections.Counter()
    keys: dict[tuple, list[str]] = collections.defaultdict(list)
    raw_all = b"".join((root / f).read_bytes() for f in _stream_files(summary) if f.endswith(".csv"))
    assert b"\xff\xfe" in raw_all and no_genre.encode() in raw_all
    for rel, kind, line in _all_lines(root, summary):
        if kind == "csv":
            defects, key = _defects(line, tracks, users)
            assert len(defects) <= 1, (rel, line)
            counts.update(defects)
            if defects:
                continue
        elif kind == "alias":
            user, track, when, duration = line.decode().split(",")
            float(duration)
            key = (user, track, _parse_time(when))
        elif kind == "seed":
            obj = json.loads(line)
            assert list(obj) == ["stream_id", "user_id", "song_id", "timestamp", "duration", "completed", "device_type"]
            assert obj["device_type"] in ("mobile", "desktop", "tablet", "smart_speaker", "")
            defects = _seed_defects(obj)
            assert len(defects) <= 1, (rel, line)
            counts.update(defects)
            if defects:
                continue
            key = (obj["user_id"], obj["song_id"], _parse_time(obj["timestamp"]))
        else:
            obj = json.loads(line)
            key = (obj["user_id"], obj["track_id"], _parse_time(obj["listen_time"]))
        assert key[0] in users and key[1] in tracks and key[2] is not None, (rel, line)
        assert START <= key[2].date() < START + dt.timedelta(days=7)
        keys[key].append(rel)
    counts["duplicate_listen"] = sum(len(v) - 1 for v in keys.values())
    assert dict(counts) == summary.injected_bad_rows
    dup_files = [v for v in keys.values() if len(v) > 1]
    assert any(len(set(v)) > 1 for v in dup_files)  # a duplicate in another file of the same day


def test_spanning_file_covers_two_days(lake):
    root, summary = lake
    span = next(f for f in summary.files if "night_" in f)
    with open(root / span, newline="", errors="replace") as fh:
        times = [_parse_time(r[2]) for r in csv.reader(fh) if len(r) == 3][1:]
    times = [t for t in times if t]
    assert {t.date() for t in times} == {START + dt.timedelta(days=1), START + dt.timedelta(days=2)}
    assert all(t.hour >= 20 or t.hour < 4 for t in times)


def test_alias_file_has_offsets_and_durations(lake):
    root, summary = lake
    alias = [f for f in summary.files if (root / f).read_bytes().startswith(b"user_id,song_id,timestamp")]
    assert len(alias) == 1
    rows = list(csv.DictReader(io.StringIO((root / alias[0]).read_text())))
    assert list(rows[0]) == ["user_id", "song_id", "timestamp", "duration"]
    stamps = [r["timestamp"] for r in rows]
    assert any(s.endswith("Z") for s in stamps) and any(s.endswith("+02:00") for s in stamps)
    shifted = [s for s in stamps if dt.datetime.fromisoformat(s).date() != _parse_time(s).date()]
    assert any(_parse_time(s).date() < dt.datetime.fromisoformat(s).date() for s in shifted)
    durations = [r["duration"] for r in rows]
    assert any("." in d for d in durations) and any(d.isdigit() for d in durations)


def test_skew(lake):
    root, summary = lake
    rows = [ln.decode().split(",") for rel, kind, ln in _all_lines(root, summary) if kind == "csv" and b"\xff" not in ln]
    times = [ts for r in rows if len(r) == 3 and (ts := _parse_time(r[2]))]
    hours = collections.Counter(t.hour for t in times)
    assert hours[20] > 4 * hours[4]
    plays = collections.Counter(r[1] for r in rows if len(r) == 3).most_common()
    total = sum(n for _, n in plays)
    # a long tail: the top track well above the median one, the top tenth holding about a third
    assert plays[0][1] > 5 * plays[len(plays) // 2][1]
    assert sum(n for _, n in plays[: len(plays) // 10]) > 0.25 * total
    # ... but no hit holding its genre, no genre holding the service
    genre = _first_genres(root / "raw/songs/songs.csv")
    by_genre: dict[str, list[int]] = collections.defaultdict(list)
    for track, n in plays:
        if genre.get(track):
            by_genre[genre[track]].append(n)
    assert max(sum(v) for v in by_genre.values()) < 0.3 * total
    assert all(max(v) < 0.4 * sum(v) for v in by_genre.values() if len(v) >= 10)


def _first_genres(songs_csv: Path) -> dict[str, str]:
    """track_id -> the genre of its first songs.csv row (the one the pipeline keeps)."""
    first: dict[str, str] = {}
    with open(songs_csv, newline="", encoding="utf-8") as fh:
        for row in list(csv.reader(fh))[1:]:
            first.setdefault(row[1], row[-1])
    return first


def _clean_listens(root: Path, summary: GenerationSummary) -> list[tuple]:
    """(user, track, UTC time, own duration seconds or None, completed or None) of every clean listen."""
    tracks, users = _valid_sets(root)
    out = []
    for _, kind, line in _all_lines(root, summary):
        if kind == "csv":
            defects, key = _defects(line, tracks, users)
            if not defects:
                out.append((*key, None, None))
        elif kind == "alias":
            user, track, when, duration = line.decode().split(",")
            out.append((user, track, _parse_time(when), float(duration), None))
        elif kind == "seed":
            obj = json.loads(line)
            if not _seed_defects(obj):
                out.append((obj["user_id"], obj["song_id"], _parse_time(obj["timestamp"]), obj["duration"], obj["completed"]))
        else:
            obj = json.loads(line)
            out.append((obj["user_id"], obj["track_id"], _parse_time(obj["listen_time"]), None, None))
    return list({row[:3]: row for row in out}.values())  # the 4 duplicate_listen copies counted once


def test_a_fraction_of_the_users_listen_each_day_in_a_few_sessions(lake):
    root, summary = lake
    by_day: dict[dt.date, dict[str, list[dt.datetime]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for user, _, when, _, _ in _clean_listens(root, summary):
        by_day[when.date()][user].append(when)
    assert len(by_day) == 7
    for users in by_day.values():
        assert 0.15 * SMALL["n_users"] <= len(users) <= 0.45 * SMALL["n_users"]
        sessions = [1 + sum(b - a > dt.timedelta(minutes=30) for a, b in zip(t, t[1:])) for t in map(sorted, users.values())]
        assert 1.5 <= sum(sessions) / len(sessions) <= 4


def test_own_durations_follow_the_track_with_early_skips(lake):
    root, summary = lake
    track_ms = {}
    with open(root / "raw/songs/songs.csv", newline="", encoding="utf-8") as fh:
        for row in list(csv.reader(fh))[1:]:
            track_ms.setdefault(row[1], int(row[6]))
    own = [(t, d, done) for _, t, _, d, done in _clean_listens(root, summary) if d is not None]
    longer = [(t, d) for t, d, _ in own if d * 1000 > track_ms[t]]
    assert len(longer) == summary.oddities["longer_than_track"] == 3  # the deliberate ones, in the aliased file
    whole = [d * 1000 > track_ms[t] - 1000 for t, d, _ in own]  # played to the end (durations in half seconds)
    skipped = [d < 30 for _, d, _ in own]
    assert 0.5 < sum(whole) / len(own) < 0.8 and 0.1 < sum(skipped) / len(own) < 0.4
    flagged = [(done, w) for (_, _, done), w in zip(own, whole) if done is not None]
    assert flagged and all(done == w for done, w in flagged)  # `completed` says whether it played to the end


def test_a_few_double_taps_are_near_duplicates(lake):
    root, summary = lake
    times: dict[tuple, list[dt.datetime]] = collections.defaultdict(list)
    for user, track, when, _, _ in _clean_listens(root, summary):
        times[(user, track)].append(when)
    near = [b - a for t in times.values() for a, b in zip(sorted(t), sorted(t)[1:]) if b - a <= dt.timedelta(seconds=5)]
    assert near == [dt.timedelta(seconds=2)] * summary.oddities["near_duplicate"] and len(near) == 2


@pytest.mark.parametrize("with_duration", [False, True])
def test_write_stream_csv(tmp_path, with_duration):
    tracks = write_songs_csv(tmp_path / "s.csv", seed=1, n_tracks=60)
    users = write_users_csv(tmp_path / "u.csv", seed=1, n_users=40)
    out = tmp_path / "bulk" / "streams.csv"
    n = write_stream_csv(
        out,
        seed=9,
        start_date=START,
        days=3,
        listens_per_day=2500,
        track_ids=tracks,
        user_ids=users,
        with_duration=with_duration,
        chunk_rows=1000,
    )
    assert n == 7500
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["user_id", "track_id", "listen_time"] + (["duration"] if with_duration else [])
    assert len(rows) - 1 == n
    dates = collections.Counter(dt.datetime.strptime(r[2], "%Y-%m-%d %H:%M:%S").date() for r in rows[1:])
    assert dates == {START + dt.timedelta(days=k): 2500 for k in range(3)}
    assert {r[0] for r in rows[1:]} <= set(users) and {r[1] for r in rows[1:]} <= set(tracks)
    again = tmp_path / "again.csv"
    write_stream_csv(
        again,
        seed=9,
        start_date=START,
        days=3,
        listens_per_day=2500,
        track_ids=tracks,
        user_ids=users,
        with_duration=with_duration,
        chunk_rows=1000,
    )
    assert again.read_bytes() == out.read_bytes()


def test_seed_shape_file_has_every_optional_column_and_unknowns(lake):
    root, summary = lake
    seed = [f for f in _stream_files(summary) if f.endswith(".json")]
    assert len(seed) == 1 and (root / seed[0]).read_bytes().startswith(b"[\n{")
    elements = json.loads((root / seed[0]).read_bytes())
    assert {e["completed"] for e in elements} >= {True, False, None}
    assert {e["device_type"] for e in elements} >= {"mobile", "desktop", "tablet", "smart_speaker", ""}
    assert len({e["stream_id"] for e in elements}) == len(elements)
    assert any(isinstance(e["duration"], float) for e in elements) and any(isinstance(e["duration"], int) for e in elements)
