"""Each measured stage of the benchmark, run in its own process (`python -m benchmarks.stages NAME JSON`)
so its peak memory is its own. A stage prints one line `BENCH_RESULT {json}`: what it measured.

Only the project's public interfaces are timed: `ingest.sync_landed_streams`, `transforms.run_step`,
Dagster's `materialize` of the assets in `music_pipeline.defs`, `stream_files_sensor` through
`build_sensor_context`, and the code location import / `dagster definitions validate`.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULT_PREFIX = "BENCH_RESULT "
GOLD_STEPS = ("validated_streams", "genre_daily_kpis", "top_songs_per_genre", "top_genres_daily")
EXTRA_KPI_STEPS = ("daily_user_engagement", "artist_daily_popularity", "platform_usage_daily")


def _days(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=k)).isoformat() for k in range(count)]


# ------------------------------------------------------------------------------------------ data
def generate(root: str, first: str, days: int, listens_per_day: int, n_tracks: int, n_users: int, seed: int = 42) -> dict:
    """songs.csv, users.csv and one clean stream CSV per day (sample_data.write_stream_csv)."""
    from music_pipeline import sample_data

    t0 = time.perf_counter()
    lake = Path(root)
    shutil.rmtree(lake, ignore_errors=True)
    start = dt.date.fromisoformat(first)
    tracks = sample_data.write_songs_csv(lake / "raw/songs/songs.csv", seed=seed, n_tracks=n_tracks)
    users = sample_data.write_users_csv(lake / "raw/users/users.csv", seed=seed, n_users=n_users, start_date=start)
    rows = 0
    for k, day in enumerate(_days(first, days)):
        d = dt.date.fromisoformat(day)
        rows += sample_data.write_stream_csv(
            lake / f"raw/streams/{d:%Y/%m/%d}/listens.csv",
            seed=seed + k,
            start_date=d,
            days=1,
            listens_per_day=listens_per_day,
            track_ids=tracks,
            user_ids=users,
        )
    size = sum(p.stat().st_size for p in (lake / "raw/streams").rglob("*.csv"))
    return {"seconds": time.perf_counter() - t0, "rows": rows, "csv_bytes": size}


def reference(root: str) -> dict:
    """Validate songs and users (needed by every later step), with the default engine."""
    from music_pipeline import tables
    from music_pipeline.engines.duckdb import DuckDBEngine
    from music_pipeline.storage.lake import Lake
    from music_pipeline.tables import Params
    from music_pipeline.transforms import run_step

    t0 = time.perf_counter()
    lake, engine = Lake(root), DuckDBEngine()
    run_step(engine, lake, tables.SONGS, [], Params())
    run_step(engine, lake, tables.USERS, [], Params())
    return {"seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------- ingestion
def ingest_project(root: str) -> dict:
    """Landed CSV -> bronze slices with the project's ingestion (line numbers, rejects, manifests)."""
    from music_pipeline.ingest import sync_landed_streams
    from music_pipeline.storage.lake import Lake

    lake = Lake(root)
    size = sum(f.size for f in lake.list("raw/streams"))
    t0 = time.perf_counter()
    report = sync_landed_streams(lake)
    seconds = time.perf_counter() - t0
    manifests = report.outcomes.get("ingested", [])
    if report.failed or len(manifests) != len(lake.list("raw/streams")):
        raise RuntimeError(f"ingestion did not take every file: {report.outcomes.keys()}")
    rows = sum(sum(m.rows_by_day.values()) for m in manifests)
    return {"seconds": seconds, "rows": rows, "csv_bytes": size, "mb_per_s": size / 1e6 / seconds}


def ingest_bare(root: str, out: str) -> dict:
    """The floor: pyarrow.csv streaming read (types inferred) + Parquet write, nothing else."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    files = sorted(Path(root, "raw/streams").rglob("*.csv"))
    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    size, rows = sum(f.stat().st_size for f in files), 0
    t0 = time.perf_counter()
    for k, f in enumerate(files):
        reader = pacsv.open_csv(f, read_options=pacsv.ReadOptions(block_size=16 << 20))
        with pq.ParquetWriter(f"{out}/{k}.parquet", reader.schema, compression="snappy") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": rows, "csv_bytes": size, "mb_per_s": size / 1e6 / seconds}


# ---------------------------------------------------------------------------------------- engines
def _inputs(root: str, days: list[str]) -> tuple[list[str], str, str]:
    from music_pipeline import tables
    from music_pipeline.storage.lake import Lake

    lake = Lake(root)
    bronze = [lake.local_path(f.key) for d in days for f in lake.list(f"{tables.RAW_STREAMS.prefix}/date={d}")]
    return (bronze, lake.local_path(tables.SONGS.file_key), lake.local_path(tables.USERS.file_key))


def engine_project(root: str, engine: str, first: str, days: int) -> dict:
    """The project's engine through transforms.run_step: validated streams and the three gold tables."""
    from music_pipeline import tables
    from music_pipeline.resources import EngineResource, build_engine
    from music_pipeline.storage.lake import Lake
    from music_pipeline.tables import Params
    from music_pipeline.transforms import run_step

    lake, the_days = Lake(root), _days(first, days)
    t0 = time.perf_counter()
    runner = build_engine(EngineResource(kind=engine))
    if engine == "spark":
        runner.session.sql("SELECT 1").collect()
    result = {"startup_seconds": time.perf_counter() - t0}
    t1 = time.perf_counter()
    for step in GOLD_STEPS:
        s0 = time.perf_counter()
        run_step(runner, lake, tables.table(step), the_days, Params())
        result[f"{step}_seconds"] = time.perf_counter() - s0
    result["seconds"] = time.perf_counter() - t1
    # the engagement, artist and platform KPIs: timed apart (the hand-written references compute the genre family
    # only), reported as a ratio to genre_daily_kpis on the same day
    for step in EXTRA_KPI_STEPS:
        s0 = time.perf_counter()
        run_step(runner, lake, tables.table(step), the_days, Params())
        result[f"{step}_seconds"] = time.perf_counter() - s0
    runner.close()
    return result


def engine_handwritten(root: str, engine: str, first: str, days: int, out: str) -> dict:
    """The hand-written script for the same engine, on the same bronze and reference files."""
    bronze, songs, users = _inputs(root, _days(first, days))
    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    t0 = time.perf_counter()
    if engine == "duckdb":
        from benchmarks import handwritten_duckdb

        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        handwritten_duckdb.run(bronze, songs, users, out)
    else:
        from benchmarks import handwritten_spark

        spark = handwritten_spark.session()
        spark.sql("SELECT 1").collect()
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        handwritten_spark.run(spark, bronze, songs, users, out)
    seconds = time.perf_counter() - t1
    return {"startup_seconds": startup, "seconds": seconds}


def compare(root: str, out: str, first: str, days: int) -> dict:
    """The project's outputs and the hand-written ones, row for row (validated counts, KPIs, tops)."""
    import duckdb

    from music_pipeline import tables

    the_days = _days(first, days)
    con = duckdb.connect()

    def rows(path: str, columns: str) -> list[tuple]:
        if not glob.glob(path, recursive=True):  # e.g. no rejected row at all
            return [(0,)] if columns == "count(*)" else []
        where = f"CAST(date AS VARCHAR) BETWEEN '{the_days[0]}' AND '{the_days[-1]}'"
        return con.execute(
            f"SELECT {columns} FROM read_parquet('{path}', hive_partitioning = false, union_by_name = true) "
            f"WHERE {where} ORDER BY ALL"
        ).fetchall()

    def project(table: str) -> str:
        return f"{root}/{table}/date=*/data.parquet"

    def hand(name: str) -> str:
        found = Path(out, name + ".parquet")
        return str(found) if found.exists() else f"{out}/{name}/**/*.parquet"

    kpi_cols = (
        "CAST(date AS VARCHAR), genre, listen_count, unique_listeners, total_listening_time_ms, "
        "round(avg_listening_time_per_user_ms, 6)"
    )
    top_cols = "CAST(date AS VARCHAR), genre, rank, track_id, track_name, artists, play_count"
    genre_cols = "CAST(date AS VARCHAR), rank, genre, listen_count, unique_listeners, total_listening_time_ms"
    checks = {
        "validated": (rows(project(tables.VALIDATED_STREAMS.prefix), "count(*)"), rows(hand("validated_streams"), "count(*)")),
        "rejected": (rows(project(tables.STREAM_REJECTS.prefix), "count(*)"), rows(hand("stream_rejects"), "count(*)")),
        "kpis": (rows(project(tables.GENRE_DAILY_KPIS.prefix), kpi_cols), rows(hand("genre_daily_kpis"), kpi_cols)),
        "top_songs": (rows(project(tables.TOP_SONGS_PER_GENRE.prefix), top_cols), rows(hand("top_songs_per_genre"), top_cols)),
        "top_genres": (rows(project(tables.TOP_GENRES_DAILY.prefix), genre_cols), rows(hand("top_genres_daily"), genre_cols)),
    }
    different = [name for name, (a, b) in checks.items() if a != b or not a]
    return {
        "identical": not different,
        "different": different,
        "validated_rows": checks["validated"][0][0][0],
        "kpi_rows": len(checks["kpis"][0]),
    }


# ----------------------------------------------------------------------------------------- checks
LAKE_CHECKED_ASSETS = (
    "songs",
    "users",
    "raw_streams",
    "validated_streams",
    "genre_daily_kpis",
    "top_songs_per_genre",
    "top_genres_daily",
)


def checks(root: str, asset: str, day: str) -> dict:
    """Every asset check of one lake asset for one day (`quality.rules.evaluate`, as `defs/checks.py` calls it)."""
    from music_pipeline.storage.lake import Lake

    lake = Lake(root)
    t0 = time.perf_counter()
    from music_pipeline.quality import rules  # pandera (and the pyspark it imports): timed apart

    import_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    outcomes = rules.evaluate(asset, lake, None if asset in ("songs", "users") else [day])
    seconds = time.perf_counter() - t1
    failed = [f"{o.check} ({o.severity}): {o.description.split(';')[0]}" for o in outcomes if not o.passed]
    rows = max((int(o.counts.get("rows_checked", 0)) for o in outcomes), default=0)
    return {"seconds": seconds, "import_seconds": import_seconds, "checks": len(outcomes), "failed": failed, "rows_checked": rows}


# --------------------------------------------------------------------------------------- backfill
def _resources(root: str, engine: str = "duckdb", dynamodb_endpoint: str | None = None) -> dict:
    from music_pipeline.resources import DynamoDBResource, EngineResource, LakeResource

    return {
        "lake": LakeResource(uri=root),
        "engine": EngineResource(kind=engine),
        "dynamodb_tables": DynamoDBResource(endpoint_url=dynamodb_endpoint),
    }


def _all_assets() -> list:
    from music_pipeline.definitions import build_definitions
    from music_pipeline.settings import Settings

    return list(build_definitions(Settings.from_env()).assets)


def _materialize(root: str, engine: str, selection: list[str], days: list[str], endpoint: str | None = None) -> None:
    from dagster import DagsterInstance, materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    with DagsterInstance.ephemeral() as instance:
        kwargs = (
            {"partition_key": days[0]}
            if len(days) == 1
            else {"tags": {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}}
        )
        result = materialize(
            _all_assets(), resources=_resources(root, engine, endpoint), selection=selection, instance=instance, **kwargs
        )
        if not result.success:
            raise RuntimeError(f"run failed for {days[0]}...{days[-1]}")


def backfill(root: str, engine: str, first: str, days: int, mode: str) -> dict:
    """raw_streams, validated_streams and the gold tables for a range: one run (`range`) or one run per day."""
    from music_pipeline.local_stack import local_dynamodb

    selection = ["raw_streams", *GOLD_STEPS]
    the_days = _days(first, days)
    with local_dynamodb(verbose=False) as url:  # raw_streams reads the ledger for days without bronze
        t0 = time.perf_counter()
        if mode == "range":
            _materialize(root, engine, selection, the_days, endpoint=url)
        else:
            for day in the_days:
                _materialize(root, engine, selection, [day], endpoint=url)
    return {"seconds": time.perf_counter() - t0, "runs": 1 if mode == "range" else days}


# ---------------------------------------------------------------------------------------- serving
def publish(root: str, first: str, days: int) -> dict:
    """The DynamoDB assets of the genre KPIs for the range against moto server; every gold row must be an item after."""
    from music_pipeline import tables
    from music_pipeline.local_stack import local_dynamodb
    from music_pipeline.storage import dynamodb
    from music_pipeline.storage.lake import Lake

    the_days, lake = _days(first, days), Lake(root)
    published = [s for s in tables.SERVINGS if s.items_sql is None]  # the genre family (its gold tables exist here)
    expected = sum(lake.parquet_rows(tables.table(s.sources[0]).day_key(d)) for s in published for d in the_days)
    with local_dynamodb(verbose=False) as url:
        serving = dynamodb.ServingTables(endpoint_url=url)
        serving.ensure()
        t0 = time.perf_counter()
        _materialize(root, "duckdb", [s.asset for s in published], the_days, endpoint=url)
        seconds = time.perf_counter() - t0
        found = 0
        for spec in (s.table for s in published):
            for page in serving.client.get_paginator("scan").paginate(TableName=serving.name(spec), Select="COUNT"):
                found += page["Count"]
    return {
        "seconds": seconds,
        "items": found,
        "expected_items": expected,
        "missing_items": expected - found,
        "items_per_s": found / seconds,
    }


# ----------------------------------------------------------------------------------------- sensor
def sensor_available() -> bool:
    """The sensor benchmark runs once `stream_files_sensor` is committed (git) and importable."""
    repo = Path(__file__).resolve().parents[1]
    tracked = (
        subprocess.run(
            ["git", "ls-files", "--error-unmatch", "music_pipeline/defs/sensors.py"], cwd=repo, capture_output=True
        ).returncode
        == 0
    )
    return tracked


def sensor(root: str, processed: int, new_counts: list[int]) -> dict:
    from benchmarks import sensor_bench

    return sensor_bench.run(root, processed, new_counts)


# -------------------------------------------------------------------------------- code location load
def load_import() -> dict:
    """Import of the code location in this fresh process (and whether it pulled in pyspark)."""
    t0 = time.perf_counter()
    import music_pipeline.definitions  # noqa: F401

    return {"seconds": time.perf_counter() - t0, "pyspark_imported": "pyspark" in sys.modules}


def load_validate() -> dict:
    """`dagster definitions validate -m music_pipeline.definitions`, wall time."""
    dagster = Path(sys.executable).with_name("dagster")
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "music_pipeline.definitions"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(Path(__file__).resolve().parent / ".work" / "dagster_home")),
        },
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"dagster definitions validate failed: {done.stderr[-2000:]}")
    return {"seconds": seconds}


STAGES = {
    f.__name__: f
    for f in (
        generate,
        reference,
        ingest_project,
        ingest_bare,
        engine_project,
        engine_handwritten,
        compare,
        checks,
        backfill,
        publish,
        sensor,
        load_import,
        load_validate,
    )
}


def main(argv: list[str]) -> None:
    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = STAGES[name](**args)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
