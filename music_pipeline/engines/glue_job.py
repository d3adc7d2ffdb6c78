"""The Glue job entry point: one step of the graph (`tables.steps()`) on the job's Spark session.

Uploaded as the job's script; the package itself comes from the job's `--extra-py-files` zip, so
the job runs exactly the SQL files and library code of the local engines. It also runs unchanged
under a local spark-submit:

    spark-submit --py-files dist/music_pipeline.zip music_pipeline/engines/glue_job.py \\
        --step genre_daily_kpis --days 2024-06-01...2024-06-07 --lake .data/lake

When launched by Dagster (PipesGlueClient adds `--dagster-pipes-*` arguments) it logs, and
reports the counts and the materialization metadata back over Dagster Pipes (S3 messages).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from music_pipeline.core import registry as tables
from music_pipeline.core.days import parse_days
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params
from music_pipeline.engines.base import COUNTS_MESSAGE
from music_pipeline.engines.glue import CHECKS_STEP, INGESTION_STEP
from music_pipeline.engines.spark import LOCAL_SPARK_CONF, SparkEngine
from music_pipeline.engines.steps import run_step
from music_pipeline.lake.store import Lake

PIPES_INTERVAL_SECONDS = 1.0  # how often buffered Pipes messages are uploaded to S3


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run one music_pipeline step on Spark (AWS Glue or spark-submit).")
    parser.add_argument("--step", required=True, choices=sorted([*tables.steps(), INGESTION_STEP, CHECKS_STEP]))
    parser.add_argument("--days", default="", help="YYYY-MM-DD, first...last, comma-separated (empty for songs/users)")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a folder")
    parser.add_argument("--session-gap-minutes", type=int, default=Params().session_gap_minutes)
    parser.add_argument("--ingest-job", default="", help="raw_streams: the lake key of the files to read (engine_ingest.py)")
    parser.add_argument("--check-job", default="", help="checks: the lake key of the checks to evaluate (engine_checks.py)")
    # Glue adds its own arguments (--JOB_ID, --JOB_RUN_ID, --job-bookmark-option, ...) and Pipes
    # adds --dagster-pipes-*: they are not ours to parse.
    args, _ = parser.parse_known_args(argv)
    return args


class GlueSparkEngine(SparkEngine):
    """The Spark engine on the session Glue (or spark-submit) provides, started only when a step
    reaches Spark, with the project's SQL settings applied at runtime."""

    @property
    def session(self):
        if self._session is None:
            from pyspark.sql import SparkSession

            builder: Any = SparkSession.builder  # a classproperty pyspark's annotations do not express
            self._session = builder.appName("music_pipeline").getOrCreate()
            for key, value in LOCAL_SPARK_CONF.items():
                if key.startswith("spark.sql."):
                    self._session.conf.set(key, value)
        return self._session


def run(args: argparse.Namespace, log=print) -> tuple[object, dict]:
    """Run the step; returns its counts (as steps.run_step) and metadata for Dagster."""
    import music_pipeline

    days = parse_days(args.days)
    settings = Settings.from_env()  # endpoints and region of the job's environment
    lake = Lake(args.lake, s3_endpoint=settings.s3_endpoint, region=settings.region)
    engine = GlueSparkEngine()
    log(f"step {args.step} over {args.days or 'the reference data'} on lake {lake.uri}")
    started = time.monotonic()
    if args.step == INGESTION_STEP:  # landed files read by Spark tasks, results left in the lake for the run process
        from music_pipeline.ingestion import engine_ingest

        counts = engine_ingest.run_job_file(lambda: engine.session, lake, args.ingest_job)
    elif args.step == CHECKS_STEP:  # an asset's checks, their queries on this session, outcomes left in the lake
        from music_pipeline.quality import engine_checks

        counts = engine_checks.run_job_file(lambda: engine.session, lake, args.check_job)
    else:
        counts = run_step(engine, lake, tables.steps()[args.step], days, Params(session_gap_minutes=args.session_gap_minutes))
    seconds = round(time.monotonic() - started, 1)
    log(f"step {args.step} done in {seconds} s: {json.dumps(counts, sort_keys=True)}")
    metadata = {
        "glue/step": args.step,
        "glue/days": args.days,
        "glue/step_seconds": seconds,
        "glue/spark_version": engine.session.version if engine._session is not None else "",
        "glue/library": os.path.dirname(music_pipeline.__file__),
    }
    return counts, metadata


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from dagster_pipes import PipesCliArgsParamsLoader

    params_loader = PipesCliArgsParamsLoader()
    if not params_loader.is_dagster_pipes_process():  # spark-submit by hand: print the counts
        counts, _ = run(args)
        print(json.dumps(counts, sort_keys=True))
        return 0

    from dagster_pipes import PipesS3ContextLoader, PipesS3MessageWriter, open_dagster_pipes

    from music_pipeline.lake import aws

    settings = Settings.from_env()
    s3 = aws.client("s3", endpoint_url=settings.s3_endpoint, region=settings.region)
    with open_dagster_pipes(
        context_loader=PipesS3ContextLoader(client=s3),
        params_loader=params_loader,
        message_writer=PipesS3MessageWriter(s3, interval=PIPES_INTERVAL_SECONDS),
    ) as pipes:
        counts, metadata = run(args, log=pipes.log.info)
        pipes.report_custom_message({"kind": COUNTS_MESSAGE, "counts": counts})
        if args.step != CHECKS_STEP:  # a check op materializes nothing: its outcomes are check evaluations
            pipes.report_asset_materialization(metadata=metadata)
    return 0


if __name__ == "__main__":
    sys.exit(main())
