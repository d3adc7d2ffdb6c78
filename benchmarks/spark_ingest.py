"""Ingestion on the spark engine vs the duckdb engine's reader (issue 28; the inputs of docs/scale.md).

`python -m benchmarks.spark_ingest [LISTENS] [FILES]`: one day of LISTENS clean listens landed as FILES CSV
files (`sample_data.write_stream_csv`), ingested into bronze once by `bronze.sync_landed_streams` (the
run process, one file after another) and once by `engine_ingest.sync_landed_streams` on a local Spark
session with 2 cores (one Spark task per file), each into its own copy of the lake. Prints one Markdown
table row per reader and appends it to benchmarks/SCALE.md: wall seconds, seconds per million listens,
MB of CSV read per second, the run process's share of the Spark run (decisions, hashes, publishing), the
CPU seconds spent reading (inside the Spark tasks; the whole process for the duckdb engine), and the bytes of the day as landed CSV, gzipped CSV and bronze Parquet.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from music_pipeline.engines.spark import SparkEngine
from music_pipeline.ingestion import bronze, engine_ingest
from music_pipeline.lake.store import Lake
from music_pipeline_tools import sample_data

RESULTS = Path(__file__).parent / "SCALE.md"
DAY = dt.date(2024, 6, 1)


def land(root: Path, listens: int, files: int) -> float:
    """FILES CSVs of one day under raw/streams; returns their MB."""
    tracks = [f"T{i:05d}" for i in range(10_000)]
    users = [f"u{i:05d}" for i in range(50_000)]
    size = 0
    for i in range(files):
        path = root / "raw" / "streams" / f"part-{i:03d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        sample_data.write_stream_csv(
            path, seed=i, start_date=DAY, days=1, listens_per_day=listens // files, track_ids=tracks, user_ids=users
        )
        size += path.stat().st_size
    return size / 1e6


def folder_mb(root: Path, prefix: str) -> float:
    return sum(p.stat().st_size for p in (root / prefix).rglob("*.parquet")) / 1e6


def gzip_mb(root: Path) -> float:
    """MB of the landed CSVs gzipped (level 6, as `gzip` does): what archive/ keeps."""
    import gzip

    return sum(len(gzip.compress(p.read_bytes(), compresslevel=6)) for p in (root / "raw" / "streams").rglob("*.csv")) / 1e6


def main(argv: list[str]) -> int:
    listens = int(argv[0]) if argv else 1_000_000
    files = int(argv[1]) if len(argv) > 1 else 8
    work = Path(tempfile.mkdtemp(prefix="spark-ingest-"))
    try:
        source = work / "landed"
        mb = land(source, listens, files)
        gz_mb = gzip_mb(source)
        rows = []
        for name in ("duckdb engine (run process)", "spark engine, local[2]"):
            root = work / name.split()[0]
            shutil.copytree(source, root)
            lake = Lake(str(root))
            engine = None
            if name.startswith("spark"):
                engine = SparkEngine(conf={"spark.master": "local[2]", "spark.driver.memory": "1g"})
                _ = engine.session  # start-up timed apart
                reader = engine_ingest.SparkFileReader(lambda engine=engine: engine.session)
                read_seconds: list[float] = []
                task_seconds: list[float] = []

                def log(line: str, read_seconds=read_seconds, task_seconds=task_seconds) -> None:
                    if line.startswith("spark: "):
                        read_seconds.append(float(line.split(" read in ", 1)[1].split()[0]))
                        task_seconds.append(float(line.rsplit(", ", 1)[1].split()[0]))  # CPU seconds

                started = time.monotonic()
                report = engine_ingest.sync_landed_streams(lake, reader, start_date=DAY, log=log)
                seconds = time.monotonic() - started
                driver = seconds - sum(read_seconds)
                tasks = sum(task_seconds)
                engine.close()
            else:
                started, cpu = time.monotonic(), time.process_time()
                report = bronze.sync_landed_streams(lake, start_date=DAY)
                seconds, driver = time.monotonic() - started, seconds_none()
                tasks = time.process_time() - cpu
            assert report.count("ingested") == files and not report.failed
            bronze_mb = folder_mb(root, "bronze/streams")
            per_million = seconds / (listens / 1e6)
            rows.append(
                f"| {name} | {listens:,} | {files} | {mb:.0f} | {seconds:.1f} | {per_million:.2f} | {mb / seconds:.0f} | "
                + (f"{driver:.1f}" if driver is not None else "-")
                + f" | {tasks:.1f} | {tasks / (listens / 1e6):.2f} | {gz_mb:.1f} | {bronze_mb:.1f} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = (
        f"\n### {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {platform.processor() or platform.machine()}"
        "\n\n| reader | listens | files | CSV MB | wall s | s per million listens | MB/s | run-process s (decide + publish) | reading CPU s (tasks, or the process) | reading CPU s per million |"
        " CSV gzipped MB | bronze Parquet MB |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    text = header + "\n".join(rows) + "\n"
    print(text)
    with RESULTS.open("a") as out:
        out.write(text)
    return 0


def seconds_none() -> float | None:
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
