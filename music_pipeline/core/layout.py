"""Where the lake's files that are not tables live (docs/design.md section 2). Keys are relative to the lake
root; every table's prefix is declared with the table in `tables.py`."""

RAW_STREAMS = "raw/streams"
RAW_SONGS = "raw/songs/songs.csv"
RAW_USERS = "raw/users/users.csv"
ARCHIVE_STREAMS = "archive/streams"

BRONZE_MANIFESTS = "bronze/_files"  # <file id>.json: what each landed key contributed
BRONZE_CONTENT_INDEX = "bronze/_content"  # <sha256>.json: which key owns a content

UNKNOWN_DAY = "unknown"  # partition of rejected rows whose day cannot be read
# names under raw/ that are not finished deliveries (uploads in progress), any case; MUSIC_PIPELINE_IGNORED_SUFFIXES overrides
IGNORED_SUFFIXES = (".part", "._COPYING_", ".tmp", "~")
