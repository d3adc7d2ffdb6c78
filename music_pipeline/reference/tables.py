"""The reference domain's tables: `songs` and `users`, each a landed CSV staged into bronze text columns
(`staging.py`), validated by its SQL step, its rejected rows in bad-records.

A reference CSV comes in one of two shapes, recognised by its header (docs/design.md section 3): the
21-column Spotify songs / lab users shape, or a short shape. Each maps its columns onto one canonical set
of text columns (absent ones null); lines that could not be read carry `ingest_reason` and their raw text
in `record`, so that one SQL output holds every rejected row.
"""

import pyarrow as pa

from music_pipeline.core import layout
from music_pipeline.core.specs import SINGLE_FILE, LakeTable, ReferenceTable, conserved

SONG_COLUMNS = ("track_id", "track_name", "artists", "album_name", "track_genre", "duration_ms", "popularity", "release_date")
USER_COLUMNS = ("user_id", "user_name", "user_age", "user_country", "subscription_type", "created_at")
# shape name -> {canonical column: column of the file}; `duration_seconds` is converted to duration_ms
SONG_SHAPES = {
    "spotify": {
        "track_id": "track_id",
        "track_name": "track_name",
        "artists": "artists",
        "album_name": "album_name",
        "track_genre": "track_genre",
        "duration_ms": "duration_ms",
        "popularity": "popularity",
    },
    "short": {
        "track_id": "song_id",
        "track_name": "title",
        "artists": "artist",
        "track_genre": "genre",
        "duration_seconds": "duration",
        "release_date": "release_date",
    },
}
USER_SHAPES = {
    "lab": {
        "user_id": "user_id",
        "user_name": "user_name",
        "user_age": "user_age",
        "user_country": "user_country",
        "created_at": "created_at",
    },
    "short": {
        "user_id": "user_id",
        "subscription_type": "subscription_type",
        "user_country": "country",
        "created_at": "join_date",
    },
}


def bronze_reference_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [(c, pa.string()) for c in columns]
        + [("source_line", pa.int64()), ("ingest_reason", pa.string()), ("record", pa.string())]
    )


BRONZE_SONGS_COLUMNS = bronze_reference_schema(SONG_COLUMNS)
BRONZE_USERS_COLUMNS = bronze_reference_schema(USER_COLUMNS)

REFERENCE_REJECTS = pa.schema(
    [
        ("source_line", pa.int64()),
        ("id", pa.string()),  # track_id or user_id as written
        ("reason", pa.string()),
        ("record", pa.string()),  # raw text of a line that could not be read
    ]
)
SONG_REJECTS = LakeTable(name="song_rejects", prefix="bad-records/songs", contract=REFERENCE_REJECTS, layout=SINGLE_FILE)
USER_REJECTS = LakeTable(name="user_rejects", prefix="bad-records/users", contract=REFERENCE_REJECTS, layout=SINGLE_FILE)
BRONZE_SONGS = LakeTable(name="bronze_songs", prefix="bronze/songs", contract=BRONZE_SONGS_COLUMNS, layout=SINGLE_FILE)
BRONZE_USERS = LakeTable(name="bronze_users", prefix="bronze/users", contract=BRONZE_USERS_COLUMNS, layout=SINGLE_FILE)

SONGS = ReferenceTable(
    name="songs",
    prefix="validated/songs",
    contract=pa.schema(
        [
            ("track_id", pa.string()),
            ("track_name", pa.string()),
            ("artists", pa.string()),
            ("album_name", pa.string()),
            ("genre", pa.string()),
            ("duration_ms", pa.int64()),
            ("popularity", pa.int64()),
            ("release_date", pa.string()),
            ("source_line", pa.int64()),
        ]
    ),
    model="Songs",
    key=("track_id",),
    group="reference",
    sql="validate_songs",
    inputs=("bronze_songs",),
    rejects=SONG_REJECTS,
    source_csv=layout.RAW_SONGS,
    bronze=BRONZE_SONGS,
    glue_job="validation",
    checks=(conserved("Rows of songs.csv = validated songs + rejected songs."),),
    description="Validated songs.csv (either shape, recognised by its header): one row per track_id (the first "
    "valid row in file order wins); rows without genre, id or valid duration go to bad-records/songs with their reason.",
)

USERS = ReferenceTable(
    name="users",
    prefix="validated/users",
    contract=pa.schema(
        [
            ("user_id", pa.string()),
            ("user_name", pa.string()),
            ("user_age", pa.int64()),
            ("user_country", pa.string()),
            ("subscription_type", pa.string()),
            ("created_at", pa.timestamp("us")),
            ("source_line", pa.int64()),
        ]
    ),
    model="Users",
    key=("user_id",),
    group="reference",
    sql="validate_users",
    inputs=("bronze_users",),
    rejects=USER_REJECTS,
    source_csv=layout.RAW_USERS,
    bronze=BRONZE_USERS,
    glue_job="validation",
    checks=(conserved("Rows of users.csv = validated users + rejected users."),),
    description="Validated users.csv (either shape): one row per user_id (the first in file order wins).",
)
