"""Deterministic sample reference files: `songs.csv` (Spotify-style 21 columns, names with commas and doubled
quotes, some `A;B` artists, 3 duplicated track ids, one song without genre) and `users.csv`."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SONG_COLUMNS = (
    "id,track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,"
    "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,"
    "time_signature,track_genre"
).split(",")
USER_COLUMNS = ["user_id", "user_name", "user_age", "user_country", "created_at"]
GENRES = [
    "pop",
    "rock",
    "hip-hop",
    "jazz",
    "classical",
    "edm",
    "country",
    "latin",
    "k-pop",
    "metal",
    "blues",
    "reggae",
    "indie",
    "r-n-b",
]
GENRE_WEIGHTS = np.array([20, 14, 13, 5, 3, 9, 6, 8, 7, 4, 2, 2, 5, 8], dtype=float)
DAY = 86_400  # seconds
_BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))

_WORDS = [
    "Love",
    "Night",
    "Fire",
    "Dream",
    "City",
    "Heart",
    "Summer",
    "Rain",
    "Gold",
    "Shadow",
    "Dance",
    "River",
    "Light",
    "Wild",
    "Blue",
    "Echo",
    "Storm",
    "Home",
]
_NAMES = ["Ava", "Leo", "Mia", "Noah", "Zoe", "Kai", "Ines", "Omar", "Yuki", "Lena", "Raj", "Sofia"]
_COUNTRIES = ["US", "GB", "DE", "FR", "BR", "MX", "JP", "KR", "IN", "SE", "ES", "CA"]


def random_ids(rng: np.random.Generator, n: int, length: int = 22) -> list[str]:
    return ["".join(r) for r in _BASE62[rng.integers(0, 62, size=(n, length))]]


def _title(rng: np.random.Generator) -> str:
    words = rng.choice(_WORDS, size=int(rng.integers(1, 4)), replace=False)
    title = " ".join(words)
    roll = rng.random()
    if roll < 0.08:
        return f"{title}, Pt. {int(rng.integers(2, 4))}"
    if roll < 0.14:
        return f'{words[0]} "{" ".join(words[1:]) or "Live"}"'
    return title


def _unit(rng: np.random.Generator) -> float:
    return round(float(rng.random()), 3)


def _song_row(rng: np.random.Generator, track_id: str, name: str, genre: str) -> list:
    """One songs.csv row (without the leading `id`)."""
    pairs = zip(rng.choice(_NAMES, size=2), rng.choice(_WORDS, size=2))
    artists = [f"{a} {w}" for a, w in pairs]
    artists = ";".join(artists) if rng.random() < 0.15 else artists[0]
    album = f"{_title(rng)}, Vol. {int(rng.integers(1, 4))}" if rng.random() < 0.1 else _title(rng)
    return [
        track_id,
        artists,
        album,
        name,
        int(rng.integers(0, 101)),
        int(rng.integers(90_000, 420_001)),
        bool(rng.random() < 0.2),
        _unit(rng),
        _unit(rng),
        int(rng.integers(0, 12)),
        round(float(rng.uniform(-30, 0)), 3),
        int(rng.integers(0, 2)),
        _unit(rng),
        _unit(rng),
        _unit(rng),
        _unit(rng),
        _unit(rng),
        round(float(rng.uniform(60, 200)), 3),
        int(rng.choice([3, 4, 4, 4, 5])),
        genre,
    ]


def build_songs(seed: int, n_tracks: int) -> tuple[list[list], list[str], str]:
    """Return (csv rows without header, valid track_ids, id of the no-genre song)."""
    if n_tracks < 10:
        raise ValueError("n_tracks must be >= 10")
    rng = np.random.default_rng([seed, 1])
    ids = random_ids(rng, n_tracks)
    while len(set(ids)) < n_tracks:  # practically never; keeps ids unique anyway
        ids = random_ids(rng, n_tracks)
    genres = rng.choice(GENRES, size=n_tracks, p=GENRE_WEIGHTS / GENRE_WEIGHTS.sum())
    names = [_title(rng) for _ in range(n_tracks)]
    names[1], names[2] = 'Don\'t Stop "Believin"', "Hello, World"
    no_genre = n_tracks - 2
    genres[no_genre] = ""
    rows = [_song_row(rng, i, n, str(g)) for i, n, g in zip(ids, names, genres)]
    for orig in (0, 3, 5):  # three later rows repeating an earlier track_id
        other = next(g for g in GENRES if g != genres[orig])
        dup = _song_row(rng, ids[orig], f"{names[orig]} (Remastered)", other)
        pos = next(k for k, r in enumerate(rows) if r[0] == ids[orig])
        rows.insert(int(rng.integers(pos + 1, len(rows) + 1)), dup)
    valid = [i for k, i in enumerate(ids) if k != no_genre]
    return [[k, *row] for k, row in enumerate(rows)], valid, ids[no_genre]


def write_csv(path: Path, header: Sequence[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_songs_csv(path: str | Path, *, seed: int, n_tracks: int) -> list[str]:
    """Write songs.csv; return the valid track_ids (first occurrence has a genre)."""
    rows, valid, _ = build_songs(seed, n_tracks)
    write_csv(Path(path), SONG_COLUMNS, rows)
    return valid


def write_users_csv(path: str | Path, *, seed: int, n_users: int, start_date: dt.date = dt.date(2024, 6, 1)) -> list[str]:
    """Write users.csv; about half the users are created after start_date + 30 days."""
    rng = np.random.default_rng([seed, 2])
    base = dt.datetime.combine(start_date, dt.time())
    rows = []
    for k in range(n_users):
        if rng.random() < 0.5:
            created = base - dt.timedelta(seconds=int(rng.integers(DAY, 5 * 365 * DAY)))
        else:
            created = base + dt.timedelta(seconds=int(rng.integers(30 * DAY, 400 * DAY)))
        name = f"{rng.choice(_NAMES)}_{rng.choice(_WORDS).lower()}{k}"
        rows.append(
            [f"u{k:05d}", name, int(rng.integers(13, 80)), str(rng.choice(_COUNTRIES)), created.strftime("%Y-%m-%d %H:%M:%S")]
        )
    write_csv(Path(path), USER_COLUMNS, rows)
    return [r[0] for r in rows]


# ----------------------------------------------------------------- listens
