"""Test helpers: small hand-built lakes, running the engine steps, the real pipeline in Dagster
(`materialize`), and reading results back. Fixtures live in conftest.py."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pyarrow as pa

from music_pipeline.core import layout, registry
from music_pipeline.core.specs import Params, Serving
from music_pipeline.engines.duckdb import DuckDBEngine
from music_pipeline.engines.steps import run_step
from music_pipeline.ingestion.bronze import sync_landed_streams
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline_tools.sample_reference import SONG_COLUMNS

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
AWS_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3")
SMALL_SAMPLE = dict(seed=7, listens_per_day=400, n_tracks=120, n_users=60)
GOLD_STEPS = tuple(t.name for t in registry.ASSETS if t.group == "kpis")


# ------------------------------------------------------------------------------- hand-built lakes
def song_row(
    track_id: str,
    genre: str,
    duration_ms: int | str = 200_000,
    name: str | None = None,
    artists: str = "Some Artist",
    index: int = 0,
) -> dict:
    """A songs.csv row with all 21 Spotify columns."""
    row = dict.fromkeys(SONG_COLUMNS, "0")
    row.update(
        id=str(index),
        track_id=track_id,
        artists=artists,
        album_name="Album",
        track_name=name or f"Song {track_id}",
        popularity="50",
        duration_ms=str(duration_ms),
        explicit="False",
        track_genre=genre,
    )
    return row


def write_songs(root: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SONG_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    land(root, layout.RAW_SONGS, buf.getvalue())


def write_users(root: Path, user_ids: list[str]) -> None:
    lines = ["user_id,user_name,user_age,user_country,created_at"]
    lines += [f"{u},name_{u},30,US,2023-01-01 00:00:00" for u in user_ids]
    land(root, layout.RAW_USERS, "\n".join(lines) + "\n")


def land(root: Path | Lake, key: str, content: str | bytes) -> None:
    """Write a file into the lake (a landed stream file or a reference CSV); `root` is a folder or a Lake."""
    as_lake(root).write_bytes(key, content.encode() if isinstance(content, str) else content)


def as_lake(root: Path | Lake) -> Lake:
    return root if isinstance(root, Lake) else Lake(str(root))


def stream_csv(rows: list[tuple], header: str = "user_id,track_id,listen_time") -> str:
    return header + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)


# ------------------------------------------------------------------------------- running the engine
def step(engine, lake: Lake, name: str, days: list[str], params: Params | None = None):
    """Run one engine step of the graph by name (no Dagster)."""
    return run_step(engine, lake, registry.table(name), days, params or Params())


def validate(root: Path | Lake, days: list[str], engine=None) -> Lake:
    """Ingest every landed file, validate songs, users and the days' streams (no Dagster)."""
    lake = as_lake(root)
    engine = engine or DuckDBEngine()
    sync_landed_streams(lake)
    for name in ("songs", "users"):
        step(engine, lake, name, [])
    step(engine, lake, "validated_streams", days)
    return lake


def run_all_steps(root: Path | Lake, days: list[str], engine=None) -> Lake:
    engine = engine or DuckDBEngine()
    lake = validate(root, days, engine)
    for name in GOLD_STEPS:
        step(engine, lake, name, days)
    return lake


def gold_items(root: Path | Lake, day: str, serving: Serving) -> list[dict]:
    """The items the lake's rows of a day make for a serving table: what DynamoDB must hold for that day."""
    from music_pipeline.serving import items as items_of

    return items_of.day_items(as_lake(root), serving, day, Params(), retention_days=365)


def read_day(root: Path | Lake, table: str, day: str) -> pa.Table:
    return as_lake(root).read_parquet([partition_key(table, day)])


def read_all(root: Path | Lake, table: str) -> pa.Table:
    lake = as_lake(root)
    keys = [f.key for f in lake.list(table) if f.key.endswith(".parquet")]
    return lake.read_parquet(keys)


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    """Rows of a table as sorted tuples of the given columns (all columns when none given)."""
    columns = columns or tuple(table.column_names)
    data = table.select(list(columns)).to_pylist()
    return sorted((tuple(r[c] for c in columns) for r in data), key=lambda t: tuple((v is None, v) for v in t))


def lake_digest(root: Path, prefixes=("bronze", "validated", "bad-records", "processed")) -> dict[str, str]:
    """sha256 of every file under the given folders of a lake, by relative path."""
    root = Path(root)
    out = {}
    for prefix in prefixes:
        for path in sorted((root / prefix).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# ------------------------------------------------------------------------------- Dagster in-process
def code_location(**environ: str):
    """The code location's Definitions, built from the current environment (plus `environ`), in-process."""
    import os

    from music_pipeline.core.settings import Settings
    from music_pipeline.definitions import build_definitions

    return build_definitions(Settings.from_env({**os.environ, **environ}))


def dagster_resources(root: Path, engine: str = "duckdb") -> dict:
    from music_pipeline.core.resources import DynamoDBResource, EngineResource, LakeResource

    return {"lake": LakeResource(uri=str(root)), "engine": EngineResource(kind=engine), "dynamodb_tables": DynamoDBResource()}


def materialize_days(root: Path, first: str, last: str | None = None, selection=None, instance=None, raise_on_error=True):
    """A real Dagster run of the code location's assets over one day or a range (one run, single_run
    backfill policy), with the lake at `root` and DynamoDB from the environment (moto in tests)."""
    from dagster import materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    defs = code_location()
    assets = [*defs.assets, *(defs.asset_checks or [])]  # checks run with their assets, as in the UI/CLI
    one_day = last is None or last == first
    return materialize(
        assets,
        resources=dagster_resources(root),
        partition_key=first if one_day else None,
        tags=None if one_day else {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last or first},
        selection=selection,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def check_results(result) -> dict[tuple[str, str, str | None], bool]:
    """{(asset, check, partition): passed} of a run's ERROR-severity asset check evaluations (the ones CI
    fails on; WARN checks may flag oddities of random sample data, e.g. near-duplicate listens)."""
    from dagster import AssetCheckSeverity

    return {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in result.get_asset_check_evaluations()
        if e.severity == AssetCheckSeverity.ERROR
    }


def materializations(result) -> dict[tuple[str, str | None], dict]:
    """{(asset, partition): metadata values} of a run's materializations."""
    out = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        out[(m.asset_key.to_user_string(), m.partition)] = {k: v.value for k, v in m.metadata.items()}
    return out
