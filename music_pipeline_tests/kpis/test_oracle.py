"""Oracle: the default sample lake through the whole Dagster graph (DynamoDB over moto) must publish
exactly what an independent computation of docs/design.md's rules gives from the raw files.

The oracle reads the raw files with plain `csv` / `json` / `gzip` (JSON arrays whole, with
`json.loads`), applies the row rules itself (the landing time of a file is its modification time) and
computes the KPIs with pandas. It shares no code with the package (no ingest, no SQL, no readers).
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from music_pipeline.core import specs
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import materialize_days, read_all
from music_pipeline_tools.sample_data import generate_lake

ALIASES = {"song_id": "track_id", "timestamp": "listen_time"}


# ----------------------------------------------------------------------------------- raw files
def read_songs(path: Path) -> dict[str, dict]:
    """First row per track_id among rows with an id, a genre and a positive integer duration."""
    kept: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        for fields in reader:
            if len(fields) != len(header):
                continue
            row = dict(zip(header, fields))
            track, genre = row["track_id"].strip(), row["track_genre"].strip()
            try:
                duration = int(row["duration_ms"].strip())
            except ValueError:
                continue
            if track and genre and duration > 0 and track not in kept:
                kept[track] = {
                    "genre": genre,
                    "duration_ms": duration,
                    "track_name": row["track_name"],
                    "artists": row["artists"],
                }
    return kept


def read_users(path: Path) -> set[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["user_id"].strip() for r in csv.DictReader(fh) if r["user_id"].strip()}


def landed_records(root: Path):
    """(file key, line number, record dict | None, reject reason | None) of every stream file."""
    base = root / "raw" / "streams"
    keys = sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file())
    for key in keys:
        data = (root / key).read_bytes()
        name = key.lower()
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name[:-3]
        if name.endswith(".json") and data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):  # a JSON array
            for number, obj in enumerate(json.loads(data.decode("utf-8-sig")), start=1):
                if not isinstance(obj, dict):
                    yield key, number, None, "malformed_line"
                    continue
                yield (
                    key,
                    number,
                    {
                        ALIASES.get(k.strip().lower(), k.strip().lower()): (
                            v if v is None or isinstance(v, str) else json.dumps(v)
                        )
                        for k, v in obj.items()
                    },
                    None,
                )
            continue
        lines = data.split(b"\n")
        if name.endswith((".jsonl", ".json", ".ndjson")):
            for number, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    yield key, number, None, "bad_encoding"
                    continue
                except ValueError:
                    yield key, number, None, "malformed_line"
                    continue
                if not isinstance(obj, dict):
                    yield key, number, None, "malformed_line"
                    continue
                yield (
                    key,
                    number,
                    {
                        ALIASES.get(k.strip().lower(), k.strip().lower()): (
                            v if v is None or isinstance(v, str) else json.dumps(v)
                        )
                        for k, v in obj.items()
                    },
                    None,
                )
            continue
        header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in next(csv.reader([lines[0].decode()]))]
        for number, raw in enumerate(lines[1:], start=2):
            raw = raw.rstrip(b"\r")
            if not raw:
                continue
            fields = next(csv.reader([raw.decode("utf-8", "surrogateescape")]))
            if len(fields) != len(header):
                yield key, number, None, "malformed_line"
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                yield key, number, None, "bad_encoding"
                continue
            yield key, number, dict(zip(header, fields)), None


def utc_time(text: str | None) -> dt.datetime | None:
    if text is None or not text.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def duration_ms(text: str | None) -> tuple[int | None, bool]:
    """(ms or None, valid): 0 <= seconds <= 24 h."""
    if text is None or not text.strip():
        return None, True
    try:
        seconds = float(text)
    except ValueError:
        return None, False
    if not math.isfinite(seconds) or seconds < 0 or seconds > 86_400:
        return None, False
    return round(seconds * 1000), True


def completed_ok(text: str | None) -> bool:
    return text is None or text.strip().lower() in ("", "true", "false", "1", "0", "yes", "no", "t", "f")


def start_date() -> dt.date:
    return dt.date.fromisoformat(os.environ.get("MUSIC_PIPELINE_START_DATE", "2024-01-01"))


def oracle(root: Path) -> tuple[pd.DataFrame, collections.Counter, dict[str, dict]]:
    """Valid listens (date, user_id, track_id, genre, listening_time_ms) and rejects per reason."""
    songs, users = read_songs(root / "raw/songs/songs.csv"), read_users(root / "raw/users/users.csv")
    rejects: collections.Counter[str] = collections.Counter()
    seen: set[tuple] = set()
    valid = []
    for key, _line, record, reason in landed_records(root):  # file key, then line order
        if reason:
            rejects[reason] += 1
            continue
        when = utc_time(record.get("listen_time"))
        if when is None:
            rejects["unparseable_listen_time"] += 1
            continue
        landed = dt.datetime.fromtimestamp((root / key).stat().st_mtime, dt.UTC).replace(tzinfo=None)
        if when > landed + dt.timedelta(hours=24):
            rejects["future_listen_time"] += 1
            continue
        if when.date() < start_date():
            rejects["before_start_date"] += 1
            continue
        own_ms, ok = duration_ms(record.get("duration"))
        if not ok:
            rejects["invalid_duration"] += 1
            continue
        if not completed_ok(record.get("completed")):
            rejects["invalid_completed"] += 1
            continue
        user, track = (record.get("user_id") or "").strip(), (record.get("track_id") or "").strip()
        if not user:
            reason = "missing_user_id"
        elif not track:
            reason = "missing_track_id"
        elif track not in songs:
            reason = "unknown_track_id"
        elif user not in users:
            reason = "unknown_user_id"
        elif (user, track, when) in seen:
            reason = "duplicate_listen"
        if reason:
            rejects[reason] += 1
            continue
        seen.add((user, track, when))
        song = songs[track]
        valid.append(
            {
                "date": when.date().isoformat(),
                "user_id": user,
                "track_id": track,
                "genre": song["genre"],
                "listening_time_ms": own_ms if own_ms is not None else song["duration_ms"],
            }
        )
    return pd.DataFrame(valid), rejects, songs


def expected_items(listens: pd.DataFrame, songs: dict[str, dict]):
    kpis = (
        listens.groupby(["date", "genre"])
        .agg(
            listen_count=("user_id", "size"),
            unique_listeners=("user_id", "nunique"),
            total_listening_time_ms=("listening_time_ms", "sum"),
        )
        .reset_index()
    )
    kpis["avg_listening_time_per_user_ms"] = kpis["total_listening_time_ms"] / kpis["unique_listeners"]
    kpis["listen_share"] = kpis["listen_count"] / kpis.groupby("date")["listen_count"].transform("sum")
    # DynamoDB TTL of every KPI item: the day's midnight UTC + 365 days, in epoch seconds
    kpis["expires_at"] = kpis["date"].map(
        lambda d: int((dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC) + dt.timedelta(days=365)).timestamp())
    )

    plays = listens.groupby(["date", "genre", "track_id"]).size().rename("play_count").reset_index()
    plays = plays.sort_values(["date", "genre", "play_count", "track_id"], ascending=[True, True, False, True])
    plays["rank"] = plays.groupby(["date", "genre"]).cumcount() + 1
    top_songs = plays[plays["rank"] <= 3].copy()
    top_songs["track_name"] = top_songs["track_id"].map(lambda t: songs[t]["track_name"])
    top_songs["artists"] = top_songs["track_id"].map(lambda t: songs[t]["artists"])

    ranked = kpis.sort_values(["date", "listen_count", "genre"], ascending=[True, False, True]).copy()
    ranked["rank"] = ranked.groupby("date").cumcount() + 1
    top_genres = ranked[ranked["rank"] <= 5]
    return kpis, top_songs, top_genres


def records(df: pd.DataFrame, columns: list[str]) -> list[dict]:
    return [
        {c: (v.item() if hasattr(v, "item") else v) for c, v in zip(columns, row)} for row in df[columns].itertuples(index=False)
    ]


def scan(spec: specs.DynamoTable) -> list[dict]:
    return ServingTables().all_items(spec)


def plain(item: dict) -> dict:
    """DynamoDB item with Decimals as int (whole numbers) or float."""
    return {
        k: (int(v) if v == v.to_integral_value() else float(v)) if hasattr(v, "to_integral_value") else v for k, v in item.items()
    }


# ----------------------------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from moto import mock_aws

    from music_pipeline_tests.helpers import AWS_ENDPOINT_VARS, AWS_ENV

    root = tmp_path_factory.mktemp("oracle") / "lake"
    summary = generate_lake(root)
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        for key in (*AWS_ENDPOINT_VARS, "MUSIC_PIPELINE_TABLE_PREFIX"):
            patch.delenv(key, raising=False)
        result = materialize_days(root, summary.days[0], summary.days[-1])
        assert result.success
        items = {
            spec.name: [plain(i) for i in scan(spec)]
            for spec in (
                serving_tables.DAILY_GENRE_KPIS_SERVING.table,
                serving_tables.TOP_SONGS_PER_GENRE_SERVING.table,
                serving_tables.TOP_GENRES_DAILY_SERVING.table,
            )
        }
    return root, summary, items


@pytest.fixture(scope="module")
def computed(published):
    root, summary, _ = published
    listens, rejects, songs = oracle(root)
    return listens, rejects, expected_items(listens, songs)


def test_the_oracle_finds_the_injected_bad_rows(published, computed):
    root, summary, _ = published
    listens, rejects, _ = computed
    assert dict(rejects) == summary.injected_bad_rows  # the oracle's own rules agree with the generator
    assert sorted(listens["date"].unique()) == summary.days
    product = collections.Counter(
        read_all(root, "bad-records/raw_streams").column("reason").to_pylist()
        + read_all(root, "bad-records/validated_streams").column("reason").to_pylist()
    )
    assert product == rejects
    assert read_all(root, "validated/streams").num_rows == len(listens)


def test_daily_genre_kpis_equal_the_oracle(published, computed):
    _, summary, items = published
    kpis, _, _ = computed[2]
    expected = {(r["date"], r["genre"]): r for r in records(kpis, list(kpis.columns))}
    actual = {(i["date"], i["genre"]): i for i in items["DailyGenreKPIs"]}
    assert sorted(actual) == sorted(expected)
    assert {d for d, _ in actual} == set(summary.days)
    for key, exp in expected.items():
        got = actual[key]
        assert set(got) == set(exp), key
        for col in ("listen_count", "unique_listeners", "total_listening_time_ms", "expires_at"):
            assert got[col] == exp[col], (key, col)
        for col in ("avg_listening_time_per_user_ms", "listen_share"):
            assert got[col] == pytest.approx(exp[col], rel=1e-9), (key, col)


def test_top_songs_equal_the_oracle(published, computed):
    _, _, items = published
    _, top_songs, _ = computed[2]
    columns = ["date", "genre", "rank", "track_id", "track_name", "artists", "play_count"]
    expected = sorted(tuple(r.values()) for r in records(top_songs, columns))
    actual = sorted(tuple(i[c] for c in columns) for i in items["TopSongsPerGenre"])
    assert actual == expected
    assert all(i["genre_rank"] == f"{i['genre']}#{i['rank']:03d}" for i in items["TopSongsPerGenre"])
    per_group = collections.Counter((i["date"], i["genre"]) for i in items["TopSongsPerGenre"])
    assert set(per_group.values()) <= {1, 2, 3} and 3 in per_group.values()


def test_top_genres_equal_the_oracle(published, computed):
    _, summary, items = published
    _, _, top_genres = computed[2]
    columns = ["date", "rank", "genre", "listen_count", "unique_listeners", "total_listening_time_ms"]
    expected = sorted(tuple(r.values()) for r in records(top_genres, columns))
    actual = sorted(tuple(i[c] for c in columns) for i in items["TopGenresDaily"])
    assert actual == expected
    assert collections.Counter(i["date"] for i in items["TopGenresDaily"]) == {d: 5 for d in summary.days}
