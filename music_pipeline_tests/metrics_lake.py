"""A hand-built lake for issue 11's oracle test: every listen file shape and optional column, the two
shapes of each reference file, and the edge cases of the engagement, artist and platform KPIs.

Days: 2024-06-01 (D1) and 2024-06-02 (D2) hold every shape; 2024-06-03 (D3) only has listens of the
file without a `completed` column, so no completion is known that day. Written with plain file I/O
(no package code), so the oracle and the product read the very same bytes.

Cases (each row's comment says which): sessions across midnight (u01 23:50 D1 / 00:10 D2 and
23:50 D2 / 00:05 D3), gaps of exactly 30 min (same session) and 30 min 1 s (new session), a session
whose last listen ends before an earlier, longer one, two listens of one user at the same instant in
two files (the session's last listen is the one of the later file), a listen whose UTC day differs
from its local day, the same instant written with two offsets (an exact duplicate), an exact
duplicate across files whose kept copy is the earlier file's, repeated stream_ids on one day (in one
file and across files) and the same stream_id on another day (kept), a peak-hour tie on D1 and D3,
listen-count ties among artists across the top-10 cut, more than 10 artists on D1, a multi-artist
credit (`A;B`, a repeated name, an empty part), a song without artist, an artist with a comma, a
song without genre (rejected, so its listens are unknown tracks), a duplicated song and user (the
first row is kept), a blank country, a blank subscription type, and one bad row per row rule.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

DAYS = ["2024-06-01", "2024-06-02", "2024-06-03"]
# short: short songs + short users, pretty-printed JSON array; spotify: 21-column songs + lab users, one-line array
VARIANTS = ("short", "spotify")

SEED_FILE = "raw/streams/2024/06/01/seed_export.json"  # JSON array, the source system's shape
EVENTS_FILE = "raw/streams/events.jsonl"  # JSON lines, aliases, durations as text
MOBILE_FILE = "raw/streams/mobile_batch.csv.gz"  # CSV.gz with completed and device_type, blanks
PLAIN_FILE = "raw/streams/plain_ids.csv"  # only user_id,track_id,listen_time

# track_id, title, artists, genre, duration (s)
SONGS = [
    ("t01", "Sunrise", "Alpha;Beta", "pop", 200),
    ("t02", "Stone", "Cobalt", "rock", 180),
    ("t03", "Blue Night", "", "jazz", 240),  # no artist: credits `unknown`
    ("t04", "Echo", "Delta", "pop", 210),
    ("t05", "Pulse", "Echo; Foxtrot ;Echo", "rock", 150),  # trimmed, each name once
    ("t06", "Rhymes", "Golf", "hiphop", 190),
    ("t07", "Beats", "Hotel", "hiphop", 205),
    ("t08", "Glow", "India", "pop", 215),
    ("t09", "Long Road", "Juliet", "rock", 230),
    ("t10", "Smoke", "Kilo", "jazz", 175),
    ("t11", "Wires", "Lima", "electronic", 220),
    ("t12", "Zest", "Zed", "pop", 160),
    ("t13", "Waterloo", "abba", "rock", 170),  # ranks after `Zed` (code point order)
    ("t14", "Split", "Mike;;November", "electronic", 185),  # an empty part is dropped
    ("t15", "Quiet", "Oscar", "classical", 300),
    ("t16", 'Hello, "World"', "Sierra, Tango", "folk", 195),  # quoted comma and doubled quotes
    ("t99", "No Genre", "Papa", "", 200),  # rejected: no genre
    ("t02", "Stone (again)", "Someone Else", "metal", 999),  # duplicate track_id: the first row is kept
]

# user_id, subscription_type, country
USERS = [
    ("u01", "premium", "US"),
    ("u02", "free", "GB"),
    ("u03", "premium", ""),  # blank country
    ("u04", "", "DE"),  # blank subscription type
    ("u05", "family", "US"),
    ("u06", "free", "FR"),
    ("u07", "premium", "BR"),
    ("u08", "student", "US"),
    ("u02", "premium", "XX"),  # duplicate user_id: the first row is kept
]

# JSON array in the seed shape: stream_id, user_id, song_id, timestamp, duration (s), completed, device_type
SEED = [
    ("s-001", "u01", "t01", "2024-06-01T10:00:00Z", 200, True, "Mobile"),
    ("s-002", "u01", "t02", "2024-06-01T10:30:00Z", None, False, "mobile"),  # gap exactly 30 min: same session
    ("s-003", "u01", "t04", "2024-06-01T11:00:01Z", 205.5, True, " DESKTOP "),  # gap 30 min 1 s: new session
    ("s-004", "u02", "t06", "2024-06-01T10:15:00Z", 190, None, None),
    ("s-005", "u02", "t07", "2024-06-01T10:20:00Z", 100, True, ""),
    ("s-006", "u03", "t08", "2024-06-01T14:00:00Z", 215, False, "smart_speaker"),
    ("s-001", "u05", "t09", "2024-06-01T16:00:00Z", 230, True, "mobile"),  # repeated stream_id: duplicate
    ("s-007", "u06", "t10", "2024-06-01T14:10:00Z", 175, True, "tablet"),
    (None, "u07", "t11", "2024-06-01T14:20:00Z", 220, True, "mobile"),
    ("", "u07", "t12", "2024-06-01T14:25:00Z", 160, False, "mobile"),
    ("", "u08", "t13", "2024-06-01T10:40:00Z", 170, True, "desktop"),  # a blank stream_id repeats freely
    ("s-008", "u01", "t01", "2024-06-02T09:00:00Z", 200, True, "mobile"),
    ("s-001", "u02", "t14", "2024-06-02T09:05:00Z", 185, False, "desktop"),  # s-001 again, another day: kept
    ("s-009", "u404", "t01", "2024-06-01T12:00:00Z", 200, True, "mobile"),  # unknown user
    ("s-010", "u03", "t16", "2024-06-01T23:30:00Z", 195, True, "mobile"),
    ("s-011", "u04", "t77", "2024-06-01T12:00:00Z", 100, True, "mobile"),  # unknown track
    ("s-300", "u08", "t14", "2024-06-01T15:00:00Z", 185, True, "mobile"),
    ("s-012", "u05", "t01", "2024-06-01T18:00:00Z", 200, True, "mobile"),
    ("s-013", "u06", "t05", "2024-06-01T18:30:00Z", 150, False, "desktop"),
]

# JSON lines with the aliases; durations and completions as text; device_type sometimes absent
EVENTS = [
    {
        "stream_id": "s-200",
        "user_id": "u01",
        "song_id": "t06",
        "timestamp": "2024-06-01T23:50:00Z",
        "duration": "190",
        "completed": "True",
        "device_type": "desktop",
    },  # u01 late on D1 ...
    {
        "stream_id": "s-201",
        "user_id": "u01",
        "song_id": "t07",
        "timestamp": "2024-06-02T00:10:00Z",
        "duration": "",
        "completed": "FALSE",
    },  # ... 20 min later on D2: another session, another day
    {
        "stream_id": "s-202",
        "user_id": "u03",
        "song_id": "t09",
        "timestamp": "2024-06-01T13:00:00Z",
        "duration": "1800",
        "completed": "t",
        "device_type": "mobile",
    },  # 30 min: longer than its track
    {
        "stream_id": "s-203",
        "user_id": "u03",
        "song_id": "t12",
        "timestamp": "2024-06-01T13:05:00Z",
        "duration": "95.5",
        "completed": "No",
        "device_type": "mobile",
    },  # session ends 13:06:35.5, not 13:30
    {
        "stream_id": "s-204",
        "user_id": "u05",
        "song_id": "t03",
        "timestamp": "2024-06-01T12:30:00+02:00",
        "duration": "",
        "completed": "",
        "device_type": "Tablet ",
    },  # 10:30 UTC
    {
        "stream_id": "s-205",
        "user_id": "u06",
        "song_id": "t15",
        "timestamp": "2024-06-02T01:30:00+02:00",
        "duration": "300",
        "completed": "T",
        "device_type": "mobile",
    },  # local D2, UTC D1 23:30
    {
        "stream_id": "s-206",
        "user_id": "u06",
        "song_id": "t15",
        "timestamp": "2024-06-01T23:30:00Z",
        "duration": "10",
        "completed": "f",
        "device_type": "desktop",
    },  # the same instant: exact duplicate
    {
        "stream_id": "s-207",
        "user_id": "u02",
        "song_id": "t05",
        "timestamp": "2024-06-01 10:50:00",
        "duration": "-5",
        "completed": "true",
    },  # invalid duration
    {
        "stream_id": "s-208",
        "user_id": "u05",
        "song_id": "t02",
        "timestamp": "2023-12-31T20:00:00Z",
        "duration": "180",
        "completed": "true",
    },  # before the start date
    {
        "stream_id": "s-300",
        "user_id": "u07",
        "song_id": "t04",
        "timestamp": "2024-06-01T15:30:00Z",
        "duration": "210",
        "completed": "f",
        "device_type": "desktop",
    },  # s-300 of the seed file: duplicate
    {
        "stream_id": "s-001",
        "user_id": "u04",
        "song_id": "t11",
        "timestamp": "2024-06-02T10:00:00Z",
        "duration": "220",
        "completed": "True",
        "device_type": "mobile",
    },  # s-001 of D2 (seed file): duplicate
    {
        "stream_id": "s-210",
        "user_id": "u02",
        "song_id": "t08",
        "timestamp": "2024-06-02T20:00:00Z",
        "duration": "215",
        "completed": "",
        "device_type": "desktop",
    },
    {
        "stream_id": "s-211",
        "user_id": "u01",
        "song_id": "t09",
        "timestamp": "2024-06-02T23:50:00Z",
        "duration": "230",
        "completed": "yes",
        "device_type": "mobile",
    },  # u01 late on D2 ...
    {
        "stream_id": "s-212",
        "user_id": "u08",
        "song_id": "t16",
        "timestamp": "2024-06-01T19:00:00Z",
        "duration": "195",
        "completed": "1",
        "device_type": "mobile",
    },
]

# CSV.gz: user_id, track_id, listen_time, completed, device_type (blanks allowed)
MOBILE = [
    ("u04", "t05", "2024-06-01 15:00:00", "YES", "mobile"),  # same instant as u04's t02 in plain_ids.csv
    ("u05", "t08", "2024-06-01 12:00:00", "no", "Tablet"),  # kept; its copy in plain_ids.csv is the duplicate
    ("u06", "t01", "2024-06-01 10:05:00", "1", ""),
    ("u07", "t02", "2024-06-01 11:15:00", "0", "desktop"),
    ("u08", "t03", "2024-06-01 14:45:00", "T", "MOBILE"),
    ("u02", "t11", "2024-06-01 14:50:00", "f", ""),
    ("u01", "t13", "2024-06-01 14:55:00", "", "mobile"),
    ("u03", "t14", "2024-06-01 11:30:00", "maybe", "mobile"),  # invalid completed
    ("u02", "t03", "2024-06-01 23:58:00", "yes", "mobile"),  # its session runs past midnight
    ("u06", "t04", "2024-06-02 08:00:00", "yes", "mobile"),
    ("u07", "t06", "2024-06-02 08:30:00", "No", ""),
    ("u05", "t16", "2024-06-02 21:00:00", "TRUE", "desktop"),
    ("u08", "t10", "2024-06-02 14:00:00", "", ""),
    ("u02", "t07", "2024-06-02 09:35:00", "t", "tablet"),
    ("u07", "t12", "2024-06-01 17:00:00", "false", "mobile"),
    ("u08", "t09", "2024-06-01 17:10:00", "true", "tablet"),
]

# CSV with only the required columns
PLAIN = [
    ("u04", "t02", "2024-06-01 15:00:00"),  # the later file at the same instant: the session's last listen
    ("u05", "t08", "2024-06-01 12:00:00"),  # exact duplicate of mobile_batch.csv.gz's row
    ("", "t01", "2024-06-01 09:00:00"),  # missing user_id
    ("u01", "", "2024-06-01 09:10:00"),  # missing track_id
    ("u02", "t99", "2024-06-01 09:20:00"),  # its song has no genre: unknown track
    ("u03", "t01", "not-a-time"),  # unparseable listen_time
    ("u06", "t02", "2030-01-01 00:00:00"),  # far later than the file's landing: future listen
    ("u08", "t10", "2024-06-01 14:30:00"),
    ("u07", "t15", "2024-06-01 10:10:00"),
    ("u06", "t03", "2024-06-01 13:35:00"),
    ("u02", "t02", "2024-06-02 09:40:00"),
    ("u04", "t05", "2024-06-02 12:00:00"),
    ("u03", "t13", "2024-06-02 23:50:00"),
    ("u01", "t01", "2024-06-03 00:05:00"),  # ... 15 min after u01's 23:50 on D2: a D3 session
    ("u02", "t04", "2024-06-03 08:00:00"),
    ("u02", "t04", "2024-06-03 08:30:00"),  # gap exactly 30 min: same session
    ("u02", "t06", "2024-06-03 09:00:01"),  # gap 30 min 1 s: new session
    ("u03", "t15", "2024-06-03 12:00:00"),
    ("u05", "t12", "2024-06-03 12:10:00"),  # hours 08 and 12 tie on D3: peak 08
    ("u06", "t07", "2024-06-03 23:59:59"),
]


def _csv_text(header: list[str], rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def songs_csv(variant: str) -> str:
    if variant == "short":
        return _csv_text(
            ["song_id", "title", "artist", "genre", "duration", "release_date"],
            [(t, title, artists, genre, seconds, "2020-05-01") for t, title, artists, genre, seconds in SONGS],
        )
    columns = [
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
    ]
    rows = [
        (
            i,
            t,
            artists,
            "Album",
            title,
            50,
            seconds * 1000,
            "False",
            0.5,
            0.5,
            5,
            -6.0,
            1,
            0.05,
            0.1,
            0.0,
            0.1,
            0.5,
            120.0,
            4,
            genre,
        )
        for i, (t, title, artists, genre, seconds) in enumerate(SONGS)
    ]
    return _csv_text(columns, rows)


def users_csv(variant: str) -> str:
    if variant == "short":
        return _csv_text(
            ["user_id", "subscription_type", "country", "join_date"],
            [(u, sub, country, "2023-01-15") for u, sub, country in USERS],
        )
    return _csv_text(
        ["user_id", "user_name", "user_age", "user_country", "created_at"],
        [(u, f"name_{u}", 30, country, "2023-01-15 08:00:00") for u, _, country in USERS],
    )


def build_metrics_lake(root: Path, variant: str = "short") -> Path:
    """Write the lake's raw files under `root` (songs, users and four listen files); returns root."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {VARIANTS}")
    root = Path(root)
    seed_keys = ("stream_id", "user_id", "song_id", "timestamp", "duration", "completed", "device_type")
    files = {
        "raw/songs/songs.csv": songs_csv(variant).encode(),
        "raw/users/users.csv": users_csv(variant).encode(),
        # pretty-printed in one variant, one line without a line break in the other
        SEED_FILE: json.dumps([dict(zip(seed_keys, row)) for row in SEED], indent=2 if variant == "short" else None).encode(),
        EVENTS_FILE: "".join(json.dumps(e) + "\n" for e in EVENTS).encode(),
        MOBILE_FILE: gzip.compress(
            _csv_text(["user_id", "track_id", "listen_time", "completed", "device_type"], MOBILE).encode(), mtime=0
        ),
        PLAIN_FILE: _csv_text(["user_id", "track_id", "listen_time"], PLAIN).encode(),
    }
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
