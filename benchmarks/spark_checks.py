"""The asset checks of validated_streams in the run process (DuckDB) vs on the spark engine (issue 28 item 2).

`python -m benchmarks.spark_checks [LISTENS] [REPEATS]`: one generated day of LISTENS listens (`sample_data.
generate_lake`, with its bad rows), ingested and validated by the duckdb engine, then every check of
validated_streams evaluated REPEATS times, alternately by `rules.evaluate` in this process (DuckDB `Sql`, 1 GB,
2 threads) and with its queries and contract scans on a local Spark session (`engine_sql.SparkSql`, local[2]).
Both must give the same outcomes. Appends one section to benchmarks/SCALE.md: best wall seconds of each, their
ratio, the load average, and the bytes the engine sent back (the outcomes' samples: never the day's rows).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from music_pipeline.core import registry
from music_pipeline.core.specs import Params
from music_pipeline.engines.duckdb import DuckDBEngine
from music_pipeline.engines.spark import SparkEngine
from music_pipeline.engines.steps import run_step
from music_pipeline.ingestion.bronze import sync_landed_streams
from music_pipeline.lake.store import Lake
from music_pipeline.quality import rules
from music_pipeline.quality.engine_sql import SparkSql
from music_pipeline_tools.sample_data import generate_lake

RESULTS = Path(__file__).parent / "SCALE.md"
DAY = "2024-06-01"


def comparable(outcomes: list) -> list:
    return [
        (o.check, o.passed, o.description, dict(o.counts), o.sample.to_pylist() if o.sample is not None else None)
        for o in outcomes
    ]


def main(argv: list[str]) -> int:
    listens = int(argv[0]) if argv else 1_000_000
    repeats = int(argv[1]) if len(argv) > 1 else 2
    root = Path(tempfile.mkdtemp(prefix="spark-checks-"))
    generate_lake(root, days=1, listens_per_day=listens, n_tracks=20_000, n_users=100_000)
    lake = Lake(str(root))
    sync_landed_streams(lake)
    engine = DuckDBEngine()
    for name, days in (("songs", []), ("users", []), ("validated_streams", [DAY])):
        run_step(engine, lake, registry.table(name), days, Params())
    rows = sum(lake.parquet_rows(k) for k in (f.key for f in lake.list(registry.VALIDATED_STREAMS.prefix)))
    spark = SparkEngine(conf={"spark.master": "local[2]", "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "2g"})
    _ = spark.session  # started before timing
    seconds: dict[str, list[float]] = {"duckdb": [], "spark": []}
    on_spark: list = []
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        on_duckdb = rules.evaluate("validated_streams", lake, [DAY])
        seconds["duckdb"].append(time.perf_counter() - started)
        started = time.perf_counter()
        on_spark = rules.evaluate("validated_streams", lake, [DAY], sql=SparkSql(lake, spark.session))
        seconds["spark"].append(time.perf_counter() - started)
        if comparable(on_spark) != comparable(on_duckdb):
            raise SystemExit("the engines disagree")
    spark.close()
    returned = sum(o.sample.nbytes for o in on_spark if o.sample is not None)
    best = {k: min(v) for k, v in seconds.items()}
    load = os.getloadavg()[0]
    section = (
        f"\n### validated_streams checks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{platform.machine()}, load average {load:.1f}\n\n"
        "| validated listens | checks | DuckDB, run process: best s | Spark local[2]: best s | spark / duckdb | "
        "bytes sent back by the engine |\n|---|---|---|---|---|---|\n"
        f"| {rows:,} | {len(on_spark)} | {best['duckdb']:.2f} | {best['spark']:.2f} | "
        f"{best['spark'] / best['duckdb']:.2f} | {returned:,} |\n"
    )
    print(section)
    with RESULTS.open("a") as f:
        f.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
