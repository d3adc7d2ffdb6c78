"""The registry: every table of the lake and of DynamoDB, collected from the domains that declare them.

Each domain declares its tables once, in its `tables.py`, with the kind that says what it has
(`core/specs.py`); assets, asset checks, engine steps, serving assets, the Glue jobs, `deploy` and the
checks' dispatch are all derived from them. This module only collects them and finds them by name.
"""

from music_pipeline.core.specs import AssetTable, LakeTable, ReferenceTable, Serving, StepTable
from music_pipeline.ingestion.tables import INGEST_REJECTS, RAW_STREAMS
from music_pipeline.kpis.tables import (
    ARTIST_DAILY_POPULARITY,
    DAILY_USER_ENGAGEMENT,
    GENRE_DAILY_KPIS,
    GOLD_TABLES,
    PLATFORM_USAGE_DAILY,
    TOP_GENRES_DAILY,
    TOP_SONGS_PER_GENRE,
)
from music_pipeline.quality.tables import DATA_QUALITY_DAILY
from music_pipeline.reference.tables import BRONZE_SONGS, BRONZE_USERS, SONG_REJECTS, SONGS, USER_REJECTS, USERS
from music_pipeline.serving.tables import DYNAMO_TABLES, PROCESSED_STREAMS, SERVING_ASSETS, SERVINGS
from music_pipeline.validation.tables import STREAM_REJECTS, VALIDATED_STREAMS

__all__ = [
    "ARTIST_DAILY_POPULARITY",
    "ASSETS",
    "BRONZE_SONGS",
    "BRONZE_USERS",
    "DAILY_USER_ENGAGEMENT",
    "DATA_QUALITY_DAILY",
    "DYNAMO_TABLES",
    "GENRE_DAILY_KPIS",
    "GOLD_TABLES",
    "INGEST_REJECTS",
    "LAKE_TABLES",
    "PLATFORM_USAGE_DAILY",
    "PROCESSED_STREAMS",
    "RAW_STREAMS",
    "REFERENCE_TABLES",
    "SERVING_ASSETS",
    "SERVINGS",
    "SONGS",
    "SONG_REJECTS",
    "STREAM_REJECTS",
    "TOP_GENRES_DAILY",
    "TOP_SONGS_PER_GENRE",
    "USERS",
    "USER_REJECTS",
    "VALIDATED_STREAMS",
]

REFERENCE_TABLES: tuple[ReferenceTable, ...] = (SONGS, USERS)
ASSETS: tuple[AssetTable, ...] = (*REFERENCE_TABLES, RAW_STREAMS, VALIDATED_STREAMS, *GOLD_TABLES, DATA_QUALITY_DAILY)
_ALL: dict[str, LakeTable] = {
    t.name: t for t in (*ASSETS, INGEST_REJECTS, STREAM_REJECTS, SONG_REJECTS, USER_REJECTS, BRONZE_SONGS, BRONZE_USERS)
}
# every table of the lake (what the Glue Data Catalog and `music-pipeline sql` show); not the ledger or manifests
LAKE_TABLES: tuple[LakeTable, ...] = tuple(_ALL.values())


def table(name: str) -> LakeTable:
    """A table by its name (an asset, a rejects table or a reference bronze table)."""
    try:
        return _ALL[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(sorted(_ALL))}") from None


def asset_table(name: str) -> AssetTable:
    """A table asset by its name."""
    found = table(name)
    if not isinstance(found, AssetTable):
        raise ValueError(f"{name!r} is not an asset; expected one of {', '.join(t.name for t in ASSETS)}")
    return found


def steps() -> dict[str, StepTable]:
    """The engine-backed steps of the graph by name (what `--step` of the Glue job accepts)."""
    return {t.name: t for t in ASSETS if isinstance(t, StepTable)}


def glue_jobs() -> dict[str, tuple[str, ...]]:
    """Glue job suffix -> the steps it runs (both jobs run the same script)."""
    jobs: dict[str, list[str]] = {}
    for t in steps().values():
        jobs.setdefault(t.glue_job, []).append(t.name)
    return {job: tuple(names) for job, names in jobs.items()}


def serving(asset: str) -> Serving:
    """The `Serving` declaration of the DynamoDB asset `asset`."""
    for s in SERVINGS:
        if s.asset == asset:
            return s
    raise ValueError(f"unknown serving asset {asset!r}; expected one of {', '.join(SERVING_ASSETS)}")
