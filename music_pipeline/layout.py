"""Where each table lives in the lake (DESIGN.md section 2). Keys are relative to the lake root."""

RAW_STREAMS = "raw/streams"
RAW_SONGS = "raw/songs/songs.csv"
RAW_USERS = "raw/users/users.csv"
ARCHIVE_STREAMS = "archive/streams"

BRONZE_STREAMS = "bronze/streams"  # date=D/file=<file id>.parquet, one slice per landed file
BRONZE_MANIFESTS = "bronze/_files"  # <file id>.json: what each landed key contributed
BRONZE_CONTENT_INDEX = "bronze/_content"  # <sha256>.json: which key owns a content
BRONZE_SONGS = "bronze/songs"
BRONZE_USERS = "bronze/users"

VALIDATED_STREAMS = "validated/streams"
VALIDATED_SONGS = "validated/songs"
VALIDATED_USERS = "validated/users"

INGEST_REJECTS = "bad-records/raw_streams"  # date=D|unknown/file=<file id>.parquet
STREAM_REJECTS = "bad-records/validated_streams"
SONG_REJECTS = "bad-records/songs"
USER_REJECTS = "bad-records/users"

GENRE_DAILY_KPIS = "processed/genre_daily_kpis"
TOP_SONGS_PER_GENRE = "processed/top_songs_per_genre"
TOP_GENRES_DAILY = "processed/top_genres_daily"

UNKNOWN_DAY = "unknown"  # partition of rejected rows whose day cannot be read
