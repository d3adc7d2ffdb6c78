"""Each measured stage of the benchmark, run in its own process (`python -m benchmarks.stages NAME JSON`)
so its peak memory is its own. A stage prints one line `BENCH_RESULT {json}`: what it measured.

Only the project's public interfaces are timed: `ingest.sync_landed_streams`, `transforms.run_step`,
Dagster's `materialize` of the assets and asset checks of `music_pipeline.definitions.build_definitions`,
`dagster asset materialize` processes (the backfill's launched runs, as a user launches them), `stream_files_sensor` through `build_sensor_context`, and the code location import / `dagster definitions
validate`. Step times of a run come from its Dagster event log (STEP_START to STEP_SUCCESS), so they hold
whatever a step does inside, however the engine and the checks change.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT_PREFIX = "BENCH_RESULT "
GOLD_STEPS = (
    "genre_daily_kpis",
    "top_songs_per_genre",
    "top_genres_daily",
    "daily_user_engagement",
    "artist_daily_popularity",
    "platform_usage_daily",
)
ENGINE_STEPS = ("validated_streams", *GOLD_STEPS)  # the steps the spark comparison times (from bronze)
# the whole lake graph of a day, as a user materializes it from the landed files (serving assets apart)
LAKE_GRAPH = ("songs", "users", "raw_streams", *ENGINE_STEPS)
# the part of the graph that computes what the lean reference computes (issue 25): the genre KPIs and their top lists
GENRE_GRAPH = (
    "songs",
    "users",
    "raw_streams",
    "validated_streams",
    "genre_daily_kpis",
    "top_songs_per_genre",
    "top_genres_daily",
)
GRAPHS = {"lake": LAKE_GRAPH, "genre": GENRE_GRAPH}
REFERENCES = ("duckdb", "polars")  # benchmarks/reference/<name>_script.py


def _days(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=k)).isoformat() for k in range(count)]


def _landed_only(root: str) -> None:
    """Remove everything a previous stage derived (bronze, validated, gold, staging): only `raw/` stays,
    so the next run starts from the landed files, as on a fresh lake."""
    for child in Path(root).iterdir():
        if child.name == "raw":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


# ------------------------------------------------------------------------------------------ data
def generate(root: str, first: str, days: int, listens_per_day: int, n_tracks: int, n_users: int, seed: int = 42) -> dict:
    """songs.csv, users.csv and one clean stream CSV per day (sample_data.write_stream_csv)."""
    from music_pipeline_tools import sample_data, sample_reference

    t0 = time.perf_counter()
    lake = Path(root)
    shutil.rmtree(lake, ignore_errors=True)
    start = dt.date.fromisoformat(first)
    tracks = sample_reference.write_songs_csv(lake / "raw/songs/songs.csv", seed=seed, n_tracks=n_tracks)
    users = sample_reference.write_users_csv(lake / "raw/users/users.csv", seed=seed, n_users=n_users, start_date=start)
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
    from music_pipeline.core import registry as tables
    from music_pipeline.core.specs import Params
    from music_pipeline.engines.duckdb import DuckDBEngine
    from music_pipeline.engines.steps import run_step
    from music_pipeline.lake.store import Lake

    t0 = time.perf_counter()
    lake, engine = Lake(root), DuckDBEngine()
    run_step(engine, lake, tables.SONGS, [], Params())
    run_step(engine, lake, tables.USERS, [], Params())
    return {"seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------- ingestion
def ingest_project(root: str) -> dict:
    """Landed CSV -> bronze slices with the project's ingestion (line numbers, rejects, manifests), on a lake
    holding only its landed files (what earlier stages derived is removed first, untimed)."""
    from music_pipeline.ingestion.bronze import sync_landed_streams
    from music_pipeline.lake.store import Lake

    _landed_only(root)
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


# --------------------------------------------------------------------- the whole graph (Dagster)
def _definitions(root: str, engine: str, dynamodb_endpoint: str | None):
    """The code location's definitions and resources for this lake, built from settings the way Dagster
    builds them (`MUSIC_PIPELINE_*` from the environment, the lake, engine and endpoint set here)."""
    from music_pipeline.core.resources import resources_from_settings
    from music_pipeline.core.settings import Settings
    from music_pipeline.definitions import build_definitions

    env = {**os.environ, "MUSIC_PIPELINE_LAKE": root, "MUSIC_PIPELINE_ENGINE": engine}
    if dynamodb_endpoint:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    settings = Settings.from_env(env)
    return build_definitions(settings), resources_from_settings(settings), settings


def _materialize(location: tuple, selection: list[str], days: list[str], checks: bool = True) -> dict:
    """One Dagster run (in process, ephemeral instance) of `selection` and (`checks`) the asset checks of the
    selected assets, for one day or one partition range: its wall time and the facts of its event log (`_run_facts`)."""
    from dagster import DagsterInstance, materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    defs, resources, _ = location
    kwargs = (
        {"partition_key": days[0]}
        if len(days) == 1
        else {"tags": {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}}
    )
    with DagsterInstance.ephemeral() as instance:
        t0 = time.perf_counter()
        result = materialize(
            [*defs.assets, *(defs.asset_checks if checks else [])],
            resources=resources,
            selection=list(selection),
            instance=instance,
            raise_on_error=False,
            **kwargs,
        )
        seconds = time.perf_counter() - t0
        records = instance.all_logs(result.run_id)
    return {"seconds": seconds, **_run_facts(records, selection, f"{days[0]}..{days[-1]}", result.success, checks)}


def _run_facts(records: list, selection: list[str], label: str, success: bool, checks: bool = True) -> dict:
    """What a run's event log says: the time of each step (STEP_START to STEP_SUCCESS; a step that materialized
    an asset is an asset step, one that evaluated checks a check step), the run's own time (RUN_START to
    RUN_SUCCESS), the checks evaluated and the WARN checks that failed.

    A failed step (a blocking check included), any failed ERROR-severity check, a failed run, an asset of
    `selection` that was not materialized or (`checks`) whose checks were not evaluated fails the stage."""
    from dagster import DagsterEventType

    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    kinds: dict[str, str] = {}
    checked: set[str] = set()
    failed_steps, failed_checks, warned = [], [], []
    run_start = run_end = None
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            run_start = record.timestamp
        elif event.event_type == DagsterEventType.RUN_SUCCESS:
            run_end = record.timestamp
        if event.step_key is None:
            continue
        key = event.step_key
        if event.event_type == DagsterEventType.STEP_START:
            started[key] = record.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            steps[key] = record.timestamp - started[key]
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            failed_steps.append(f"{key}: {event.event_specific_data.error.message.strip()[:300]}")
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            kinds.setdefault(key, "asset")
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            kinds[key] = "check"
            check = event.event_specific_data
            checked.add(check.asset_key.to_user_string())
            if not check.passed:
                line = f"{check.asset_key.to_user_string()}.{check.check_name} ({check.severity.value}): {(check.description or '')[:160]}"
                (failed_checks if check.severity.value == "ERROR" else warned).append(line)
    if failed_steps or failed_checks or not success:
        raise RuntimeError(f"run of {label} failed: steps {failed_steps or 'none'}; ERROR checks {failed_checks or 'none'}")
    missing = set(selection) - {k for k, kind in kinds.items() if kind == "asset"}
    if missing:
        raise RuntimeError(f"run of {label}: no materialization from {sorted(missing)}")
    unchecked = set(selection) - checked if checks else set()
    if unchecked:
        raise RuntimeError(f"run of {label}: no check evaluated on {sorted(unchecked)}")
    asset_steps = {k: s for k, s in steps.items() if kinds.get(k) == "asset"}
    check_steps = {k: s for k, s in steps.items() if kinds.get(k) == "check"}
    return {
        "run_seconds": (run_end - run_start) if run_start is not None and run_end is not None else None,
        "transforms_seconds": sum(asset_steps.values()),
        "checks_seconds": sum(check_steps.values()),
        "asset_steps": asset_steps,
        "check_steps": check_steps,
        "checks_evaluated": sum(
            1 for r in records if r.dagster_event and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        ),
        "warned": warned,
    }


def _add_runs(runs: list[dict]) -> dict:
    """Several runs as one measurement: times summed per step, warnings of every run."""
    total: dict = {"seconds": 0.0, "transforms_seconds": 0.0, "checks_seconds": 0.0, "asset_steps": {}, "check_steps": {}}
    total.update(checks_evaluated=0, warned=[], run_seconds=0.0)
    for run in runs:
        for key in ("seconds", "transforms_seconds", "checks_seconds", "checks_evaluated"):
            total[key] += run[key]
        total["run_seconds"] = (
            None if total["run_seconds"] is None or run["run_seconds"] is None else total["run_seconds"] + run["run_seconds"]
        )
        for group in ("asset_steps", "check_steps"):
            for step, seconds in run[group].items():
                total[group][step] = total[group].get(step, 0.0) + seconds
        total["warned"] += run["warned"]
    return total


def e2e_project(
    root: str, engine: str, first: str, days: int, graph: str = "lake", duckdb_memory_limit: str | None = None
) -> dict:
    """The whole lake graph of the day(s) with its asset checks, from the landed CSV, as a user runs it:
    one Dagster `materialize` of songs, users, raw_streams (which ingests the landed files),
    validated_streams and the six gold tables (`graph="genre"`: the genre KPIs and their two top lists only,
    what the lean reference computes). The lake holds only its landed files when it starts. `duckdb_memory_limit`
    sets MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT for this stage's process (the scale section)."""
    from music_pipeline_tools.local_stack import local_dynamodb

    if duckdb_memory_limit:
        os.environ["MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT"] = duckdb_memory_limit
    _landed_only(root)
    with local_dynamodb(verbose=False) as url:  # raw_streams reads the ledger only for days without bronze
        t0 = time.perf_counter()
        location = _definitions(root, engine, url)  # imports and the definitions' build, timed apart
        setup = time.perf_counter() - t0
        run = _materialize(location, list(GRAPHS[graph]), _days(first, days))
    return {**run, "graph": graph, "setup_seconds": setup, "validated_rows": _validated_rows(root, _days(first, days))}


def _validated_rows(root: str, days: list[str]) -> int:
    from music_pipeline.core import registry as tables
    from music_pipeline.engines.steps import day_rows
    from music_pipeline.lake.store import Lake

    return sum(day_rows(Lake(root), tables.VALIDATED_STREAMS, days).values())


def e2e_reference(root: str, script: str, out: str, first: str) -> dict:
    """One independent end-to-end reference (`benchmarks/reference/<name>_script.py`): the landed lake
    folder -> validated, rejected and gold tables under `out`, with the product's parameters."""
    import importlib

    from music_pipeline.core import contracts
    from music_pipeline.core.settings import Settings

    settings = Settings.from_env()
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    module = importlib.import_module(f"benchmarks.reference.{script}_script")
    imported = time.perf_counter() - t0
    t1 = time.perf_counter()
    done = module.run(
        root,
        out,
        start_date=settings.start_date.isoformat(),
        session_gap_minutes=settings.session_gap_minutes,
        top_songs_n=contracts.TOP_SONGS_N,
        top_genres_n=contracts.TOP_GENRES_N,
        top_artists_n=contracts.TOP_ARTISTS_N,
    )
    seconds = time.perf_counter() - t1
    return {"seconds": seconds, "import_seconds": imported, "reported": done}


def e2e_lean(root: str, out: str) -> dict:
    """The lean reference (`benchmarks/reference/lean_duckdb.py`): the landed CSV -> clean listens, genre KPIs and
    the two top lists, as a data engineer writes it by hand (no provenance, no reject reasons)."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    from benchmarks.reference import lean_duckdb

    imported = time.perf_counter() - t0
    t1 = time.perf_counter()
    done = lean_duckdb.run(root, out)
    return {"seconds": time.perf_counter() - t1, "import_seconds": imported, "reported": done}


def e2e_compare(root: str, outs: dict[str, str], first: str, days: int) -> dict:
    """Every table of the project's lake against the DuckDB reference, and the two references against
    each other (`benchmarks/reference/compare.py`: every column, every row); with `outs["lean"]`, the genre KPIs,
    top lists and listen count of the lean reference against the project's (`compare.compare_lean`)."""
    from benchmarks.reference import compare

    the_days = _days(first, days)
    project = compare.compare(root, outs["duckdb"], the_days)
    references = compare.compare_outputs(outs["duckdb"], outs["polars"], the_days)
    lean = compare.compare_lean(root, outs["lean"], the_days) if "lean" in outs else None
    return {
        "identical": bool(project["identical"] and references["identical"] and (lean is None or lean["identical"])),
        "project_vs_duckdb": project,
        "duckdb_vs_polars": references,
        "project_vs_lean": lean,
    }


# ----------------------------------------------------------------------------------- spark engine
def _inputs(root: str, days: list[str]) -> tuple[list[str], str, str]:
    from music_pipeline.core import registry as tables
    from music_pipeline.lake.store import Lake

    lake = Lake(root)
    bronze = [lake.local_path(f.key) for d in days for f in lake.list(f"{tables.RAW_STREAMS.prefix}/date={d}")]
    return (bronze, lake.local_path(tables.SONGS.file_key), lake.local_path(tables.USERS.file_key))


def engine_project(root: str, engine: str, first: str, days: int) -> dict:
    """The project's engine through transforms.run_step, from bronze and the validated reference tables:
    validated_streams and the six gold tables (session start-up timed apart)."""
    from music_pipeline.core import registry as tables
    from music_pipeline.core.resources import EngineResource, build_engine
    from music_pipeline.core.settings import Settings
    from music_pipeline.core.specs import Params
    from music_pipeline.engines.steps import run_step
    from music_pipeline.lake.store import Lake

    lake, the_days = Lake(root), _days(first, days)
    params = Params(session_gap_minutes=Settings.from_env().session_gap_minutes)
    t0 = time.perf_counter()
    runner = build_engine(EngineResource(kind=engine))
    if engine == "spark":
        runner.session.sql("SELECT 1").collect()
    result = {"startup_seconds": time.perf_counter() - t0}
    t1 = time.perf_counter()
    for step in ENGINE_STEPS:
        s0 = time.perf_counter()
        run_step(runner, lake, tables.table(step), the_days, params)
        result[f"{step}_seconds"] = time.perf_counter() - s0
    result["seconds"] = time.perf_counter() - t1
    runner.close()
    return result


def spark_handwritten(root: str, first: str, days: int, out: str) -> dict:
    """The hand-written PySpark script (benchmarks/handwritten_spark.py) on the same bronze and reference files."""
    from benchmarks import handwritten_spark
    from music_pipeline.core.settings import Settings

    bronze, songs, users = _inputs(root, _days(first, days))
    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    t0 = time.perf_counter()
    spark = handwritten_spark.session()
    spark.sql("SELECT 1").collect()
    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    handwritten_spark.run(spark, bronze, songs, users, out, session_gap_minutes=Settings.from_env().session_gap_minutes)
    return {"startup_seconds": startup, "seconds": time.perf_counter() - t1}


# every column of each table as text (so Parquet types of different writers compare), summed hashes for the
# two row-level tables, every row for the small gold tables
SPARK_COMPARED = {
    "validated_streams": (
        "date",
        "user_id",
        "track_id",
        "listen_time",
        "genre",
        "listening_time_ms",
        "stream_id",
        "completed",
        "device_type",
        "source_file",
        "source_line",
    ),
    "stream_rejects": ("date", "user_id", "track_id", "listen_time", "source_file", "source_line", "reason"),
    "genre_daily_kpis": (
        "date",
        "genre",
        "listen_count",
        "unique_listeners",
        "total_listening_time_ms",
        "round(avg_listening_time_per_user_ms, 9)",
        "round(listen_share, 12)",
    ),
    "top_songs_per_genre": ("date", "genre", "rank", "track_id", "track_name", "artists", "play_count"),
    "top_genres_daily": ("date", "rank", "genre", "listen_count", "unique_listeners", "total_listening_time_ms"),
    "daily_user_engagement": (
        "date",
        "daily_active_users",
        "listens",
        "round(listens_per_user, 9)",
        "sessions",
        "round(avg_session_duration_ms, 6)",
        "round(completion_rate, 12)",
        "completion_known_listens",
        "peak_hour",
    ),
    "artist_daily_popularity": ("date", "artist", "listen_count", "unique_listeners", "total_listening_time_ms", "rank"),
    "platform_usage_daily": (
        "date",
        "dimension",
        "value",
        "listen_count",
        "unique_listeners",
        "total_listening_time_ms",
        "round(listen_share, 12)",
    ),
}
ROW_LEVEL = ("validated_streams", "stream_rejects")


def spark_compare(root: str, out: str, first: str, days: int, reference_out: str | None = None) -> dict:
    """The spark engine's outputs in the lake against the hand-written PySpark ones: every column of every
    table (row-level tables by count and summed row hashes), and, when given, against the DuckDB reference's
    outputs of the same landed files (`benchmarks/reference/compare.py`)."""
    import duckdb

    from music_pipeline.core import registry as tables

    the_days = _days(first, days)
    con = duckdb.connect()

    def facts(path: str, table: str) -> list[tuple]:
        if not glob.glob(path, recursive=True):  # e.g. no rejected row at all
            return [(0, None)] if table in ROW_LEVEL else []
        cols = ", ".join(f"CAST({c} AS VARCHAR)" for c in SPARK_COMPARED[table])
        source = (
            f"(SELECT * FROM read_parquet('{path}', hive_partitioning = false, union_by_name = true) "
            f"WHERE CAST(date AS VARCHAR) BETWEEN '{the_days[0]}' AND '{the_days[-1]}')"
        )
        if table in ROW_LEVEL:
            return con.execute(f"SELECT count(*), sum(hash({cols})::HUGEINT) FROM {source}").fetchall()
        return con.execute(f"SELECT {cols} FROM {source} ORDER BY ALL").fetchall()

    different, rows = [], {}
    for table in SPARK_COMPARED:
        mine = facts(f"{root}/{tables.table(table).prefix}/date=*/data.parquet", table)
        theirs = facts(f"{out}/{table}/**/*.parquet", table)
        rows[table] = mine[0][0] if table in ROW_LEVEL else len(mine)
        if mine != theirs or (not rows[table] and table != "stream_rejects"):
            different.append(table)
    result = {"identical": not different, "different": different, "rows": rows}
    if reference_out:
        from benchmarks.reference import compare

        versus = compare.compare(root, reference_out, the_days)
        result["vs_reference"] = {"identical": bool(versus["identical"]), "different": list(versus["different"])}
        result["identical"] = result["identical"] and result["vs_reference"]["identical"]
    return result


# --------------------------------------------------------------------------------------- backfill
LAUNCHES = ("cli", "in_process")


def backfill(root: str, engine: str, first: str, days: int, mode: str, launch: str = "cli") -> dict:
    """The whole lake graph with its checks (as `e2e_project`) for a range, from the landed files: one run for
    the range (`range`), one run per day (`daily`), or one run of the first day alone on a lake holding only
    that day's landed file (`one_day`, whose peak memory is the denominator of the range's).

    `launch="cli"`: each run is launched as a user launches it, one `dagster asset materialize` process per run
    (`_cli_runs`), one after another, recorded in a fresh persistent instance; `seconds` is the wall time of the
    processes. `launch="in_process"`: every run is a `materialize` call in this process with the definitions built
    once, a lower bound no launched run reaches (no interpreter start, import, definitions build or instance per run)."""
    from music_pipeline_tools.local_stack import local_dynamodb

    if launch not in LAUNCHES:
        raise ValueError(f"launch={launch!r}: expected one of {LAUNCHES}")
    the_days = _days(first, days)
    if mode == "one_day":
        root, the_days = _one_day_lake(root, first), the_days[:1]
    _landed_only(root)
    partitions = [the_days] if mode == "range" else [[day] for day in the_days]
    with local_dynamodb(verbose=False) as url:  # raw_streams reads the ledger for days without bronze
        if launch == "cli":
            home = Path(f"{root.rstrip('/')}_dagster_home", f"{engine}-{mode}")
            seconds, runs = _cli_runs(root, engine, url, partitions, home)
        else:
            location = _definitions(root, engine, url)  # built once, untimed
            t0 = time.perf_counter()
            runs = [_materialize(location, list(LAKE_GRAPH), days) for days in partitions]
            seconds = time.perf_counter() - t0
    per_run = [run["seconds"] for run in runs]
    return {
        **_add_runs(runs),
        "seconds": seconds,
        "per_run_seconds": per_run,
        "runs": len(runs),
        "days": len(the_days),
        "launch": launch,
    }


def _cli_runs(root: str, engine: str, endpoint: str, partitions: list[list[str]], home: Path) -> tuple[float, list[dict]]:
    """One `python -m dagster asset materialize -m music_pipeline.definitions --select <LAKE_GRAPH>` process per
    entry of `partitions` (`--partition DAY`, or `--partition-range FIRST...LAST` for several days), one after
    another, with the lake, engine and endpoint in the environment and DAGSTER_HOME a fresh instance (the
    project's dagster.yaml, SQLite storage, as `music-pipeline dev` uses). The CLI runs the selected assets'
    checks (Dagster includes the checks of selected assets) with the code location's executor.

    Returns the wall time of the processes and, per run, its wall time and the facts of its recorded event log
    (read from the instance after the last process, untimed)."""
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG as RANGE_END
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG as RANGE_START
    from dagster._core.storage.tags import PARTITION_NAME_TAG as PARTITION_TAG

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "music_pipeline_tools" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "MUSIC_PIPELINE_LAKE": root,
        "MUSIC_PIPELINE_ENGINE": engine,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "DAGSTER_HOME": str(home),
    }
    select = ",".join(LAKE_GRAPH)
    walls, failed = [], None
    for days in partitions:
        which = ["--partition", days[0]] if len(days) == 1 else ["--partition-range", f"{days[0]}...{days[-1]}"]
        command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "music_pipeline.definitions"]
        t0 = time.perf_counter()
        done = subprocess.run([*command, "--select", select, *which], cwd=repo, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if done.returncode != 0:  # the series stops there, as a failed run stops a backfill's day
            failed = f"`dagster asset materialize {' '.join(which)}` exited {done.returncode}:\n{done.stderr[-3000:]}"
            break
    with DagsterInstance.from_config(str(home)) as instance:
        recorded = sorted(instance.get_runs(), key=lambda run: instance.get_run_record_by_id(run.run_id).create_timestamp)
        if len(recorded) != len(walls):
            raise RuntimeError(f"{len(walls)} processes, {len(recorded)} runs recorded in {home}. {failed or ''}")
        runs = []
        for days, wall, run in zip(partitions, walls, recorded, strict=False):
            label = f"{days[0]}..{days[-1]}"
            tags = run.tags
            launched = (tags.get(PARTITION_TAG),) * 2 if len(days) == 1 else (tags.get(RANGE_START), tags.get(RANGE_END))
            if launched != (days[0], days[-1]):
                raise RuntimeError(f"run {run.run_id} of {label} is recorded for {launched}")
            # a failed run raises here with its failed steps and ERROR checks, read from its event log
            facts = _run_facts(instance.all_logs(run.run_id), list(LAKE_GRAPH), label, run.status == DagsterRunStatus.SUCCESS)
            runs.append({"seconds": wall, **facts})
    if failed:  # the run was recorded as a success but its process failed
        raise RuntimeError(failed)
    return sum(walls), runs


def _one_day_lake(root: str, first: str) -> str:
    """A copy of the range lake's reference files and first day's landed file (the generator writes one
    file per day, `raw/streams/YYYY/MM/DD/`), next to the range lake."""
    day = dt.date.fromisoformat(first)
    target = Path(f"{root.rstrip('/')}_one_day")
    shutil.rmtree(target, ignore_errors=True)
    for sub in ("raw/songs", "raw/users", f"raw/streams/{day:%Y/%m/%d}"):
        shutil.copytree(Path(root, sub), target / sub)
    return str(target)


# ---------------------------------------------------------------------------------------- serving
def publish(root: str, first: str, days: int) -> dict:
    """The DynamoDB assets of the genre KPIs for the range against moto server; every gold row must be an item after."""
    from music_pipeline.core import registry as tables
    from music_pipeline.lake.store import Lake
    from music_pipeline.serving import dynamodb
    from music_pipeline_tools.local_stack import local_dynamodb

    the_days, lake = _days(first, days), Lake(root)
    published = [s for s in tables.SERVINGS if s.items_sql is None]  # the genre family (its gold tables exist here)
    expected = sum(lake.parquet_rows(tables.table(s.sources[0]).day_key(d)) for s in published for d in the_days)
    with local_dynamodb(verbose=False) as url:
        serving = dynamodb.ServingTables(endpoint_url=url)
        serving.ensure()
        t0 = time.perf_counter()
        _materialize(_definitions(root, "duckdb", url), [s.asset for s in published], the_days, checks=False)
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
def sensor(root: str, processed: int, new_counts: list[int]) -> dict:
    from benchmarks import sensor_bench

    return sensor_bench.run(root, processed, new_counts)


# ---------------------------------------------------------------------------------------- arrival
def arrival(landings: int = 6) -> dict:
    """`benchmarks/arrival_latency.py` as it is (a real `music-pipeline dev`, files landed one after another,
    DynamoDB polled until their KPIs are there), on a free local port; the latencies from its JSON."""
    with socket.socket() as probe:  # a port nobody listens on now (dagster dev binds 127.0.0.1)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-arrival-") as tmp:
        out = Path(tmp, "arrival.json")
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.arrival_latency",
                "--landings",
                str(landings),
                "--port",
                str(port),
                "--json",
                str(out),
            ],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")},
        )
        seconds = time.perf_counter() - t0
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"arrival_latency failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        landed = json.loads(out.read_text())
    measured = [x for x in landed if not x["kind"].startswith("name sorting before")]
    latencies = [x["kpis"] for x in measured]
    return {
        "seconds": seconds,
        # stream_files_sensor's ticks, as measured (5 s on the local lake unless MUSIC_PIPELINE_STREAM_SENSOR_INTERVAL_SECONDS)
        "interval_seconds": round(statistics.median(x.get("tick_spacing") or 0 for x in measured)),
        "landings": measured,
        "median_seconds": statistics.median(latencies),
        "p90_seconds": statistics.quantiles(latencies, n=10, method="inclusive")[-1] if len(latencies) > 1 else latencies[0],
        "max_seconds": max(latencies),
        # the part of each latency after the tick that claimed the file (independent of when it landed)
        "median_after_tick_seconds": statistics.median(x["kpis"] - x.get("discovered", x.get("ingested", 0)) for x in measured),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


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
        e2e_project,
        e2e_reference,
        e2e_lean,
        e2e_compare,
        engine_project,
        spark_handwritten,
        spark_compare,
        backfill,
        publish,
        sensor,
        arrival,
        load_import,
        load_validate,
    )
}


def main(argv: list[str]) -> None:
    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = STAGES[name](**args)
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
