"""`music-pipeline`: generate sample data, run the demo, start the UI, query the serving tables."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time

from music_pipeline.core.settings import PROJECT_ROOT, Settings
from music_pipeline_tools import dev, files, materialize, rejects
from music_pipeline_tools.demo_report import print_top_lists
from music_pipeline_tools.state import endpoint, state_of

SAMPLE_START = dt.date(2024, 6, 1)
SAMPLE_DAYS = 7


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (`music-pipeline query: error: ...`), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _generate(args: argparse.Namespace) -> int:
    from music_pipeline_tools.sample_data import generate_lake

    lake = args.lake or Settings.from_env().lake
    summary = generate_lake(lake, seed=args.seed, start_date=args.start, days=args.days, listens_per_day=args.listens_per_day)
    print(
        f"wrote {len(summary.files)} files, {summary.stream_rows} stream rows over {len(summary.days)} days "
        f"({summary.days[0]}...{summary.days[-1]}) into {lake}"
    )
    print("injected bad rows: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.injected_bad_rows.items())))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Sample lake -> every layer -> DynamoDB, recorded in the Dagster instance `dev` uses, on the
    persistent local tables; writes a `.env` starting the partitions at the sample's first day."""
    from music_pipeline_tools.local_stack import ensure_env_file
    from music_pipeline_tools.sample_data import generate_lake

    state = state_of(args)
    if ensure_env_file(state.env_file, {"MUSIC_PIPELINE_START_DATE": SAMPLE_START.isoformat()}):
        print(f"wrote {state.env_file} (MUSIC_PIPELINE_START_DATE={SAMPLE_START}: the UI opens on the sample's days)")
    state.activate()
    settings = Settings.from_env()
    summary = generate_lake(settings.lake, seed=args.seed, start_date=SAMPLE_START, days=args.days)
    print(f"sample lake: {settings.lake} ({sample_counts(summary)})")
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']} (the one `music-pipeline dev` shows)")
    first, last = summary.days[0], summary.days[-1]
    with endpoint(state):
        started = time.time()
        code = materialize.dagster_materialize("*", first, last)
        if code != 0:
            print(f"materialization failed (exit {code})", file=sys.stderr)
            return code
        results = record_demo_files(Settings.from_env(), started)
        archived = sum(r.startswith("archived") for r in results.values())
        print(f"ledger: {archived} of {len(results)} sample files recorded as published and archived (as the sensor would)")
        print_top_lists(Settings.from_env(), summary.days)
    print(f"\nnext: .venv/bin/music-pipeline query --top-genres --date {first}   |   make dev (the UI, http://127.0.0.1:3000)")
    return 0


def sample_counts(summary) -> str:
    """What a generated sample lake holds, e.g. `21000 stream rows in 11 stream files, plus songs and users`."""
    streams = [f for f in summary.files if f.startswith("raw/streams/")]
    return f"{summary.stream_rows} stream rows in {len(streams)} stream files, plus songs and users"


def record_demo_files(settings: Settings, since: float, instance=None) -> dict[str, str]:
    """The demo's run ingested the sample files into bronze without the arrival sensor: record them in the
    ledger as it would (published when every day they touch was published by a run started after `since`,
    then archived), so the first `dev` finds nothing to ingest or recompute (arrival.adopt_ingested)."""
    from dagster import DagsterInstance

    from music_pipeline.ingestion import arrival
    from music_pipeline.ingestion.ledger import Ledger
    from music_pipeline.ingestion.sensors import days_published
    from music_pipeline.lake.store import Lake
    from music_pipeline.serving.dynamodb import ServingTables

    ledger = Ledger(ServingTables(settings.table_prefix, settings.dynamodb_endpoint))
    ledger.ensure()
    with contextlib.ExitStack() as stack:
        instance = instance or stack.enter_context(DagsterInstance.get())
        return arrival.adopt_ingested(
            Lake(settings.lake),
            ledger,
            lambda days: days_published(instance, days, since),
            claim=f"demo:{since:.3f}",
            start_date=settings.start_date,
            ignored_suffixes=settings.arrival.ignored_suffixes,
        )


def _check(args: argparse.Namespace) -> int:
    """CI: the whole graph with every asset check over the sample days, in a fresh lake and a
    fresh Dagster instance; exits 1 on any ERROR-severity check failure (printing check, day, why)."""
    import shutil
    import tempfile

    from dagster import DagsterInstance

    from music_pipeline_tools import check_report as report
    from music_pipeline_tools.local_stack import environment, local_dynamodb, prepare_dagster_home
    from music_pipeline_tools.sample_data import generate_lake

    lake = args.lake or str(PROJECT_ROOT / ".data" / "check" / "lake")
    if not args.lake:
        shutil.rmtree(lake, ignore_errors=True)
    summary = generate_lake(lake, seed=args.seed, start_date=SAMPLE_START, days=args.days)
    print(f"sample lake: {lake} ({sample_counts(summary)})")
    home = str(prepare_dagster_home(tempfile.mkdtemp(prefix="music-pipeline-check-")))  # the instance the results are read from
    try:
        with environment({"DAGSTER_HOME": home, "MUSIC_PIPELINE_LAKE": lake}):
            with local_dynamodb():
                code = materialize.dagster_materialize("*", summary.days[0], summary.days[-1])
            with DagsterInstance.from_config(home) as instance:
                result = report.collect(instance)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("\n".join(result.lines()))
    if not result.ok:
        print("check FAILED: an ERROR-severity check failed or did not run (lines above)", file=sys.stderr)
        return 1
    if code != 0:
        print(f"check FAILED: the run failed (dagster exit code {code}) though no check did", file=sys.stderr)
        return 1
    print("check passed: no ERROR-severity check failed")
    return 0


def _query(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError, NoCredentialsError

    from music_pipeline.serving import dynamodb, query

    try:
        request = query.validate(
            query.Request(
                date=args.date,
                until=args.until,
                genre=args.genre,
                top_songs=args.top_songs,
                top_genres=args.top_genres,
                metric=args.metric,
                metrics=args.metrics,
                dimension=args.dimension,
            )
        )
    except query.QueryError as exc:
        print(f"music-pipeline query: error: {exc}", file=sys.stderr)
        return 2
    state = state_of(args)
    state.activate(dagster_home=False)  # a query reads DynamoDB only
    settings = Settings.from_env()
    with endpoint(state, verbose=False) as url:
        tables = dynamodb.ServingTables(prefix=settings.table_prefix, endpoint_url=url or settings.dynamodb_endpoint)
        try:
            spec, items = query.run(tables, request)
            unknown = query.unknown_genre(tables, request) if not items else None
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ResourceNotFoundException":
                print(
                    f"music-pipeline query: error: a table or index of this query does not exist at "
                    f"{url or 'AWS'} ({exc.response['Error'].get('Message', '')}); run `music-pipeline demo` "
                    "or materialize the serving assets first",
                    file=sys.stderr,
                )
            else:
                print(
                    f"music-pipeline query: error: DynamoDB {code}: {exc.response['Error'].get('Message', '')}", file=sys.stderr
                )
            return 1
        except NoCredentialsError:
            print("music-pipeline query: error: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)", file=sys.stderr)
            return 1
    if unknown:
        print(f"music-pipeline query: {unknown}", file=sys.stderr)
        return 1
    print(query.to_json(items) if args.json else query.to_table(spec, items))
    return 0


def _sql(args: argparse.Namespace) -> int:
    from music_pipeline_tools import sql

    state_of(args).activate(dagster_home=False)  # the project's lake unless MUSIC_PIPELINE_LAKE says otherwise
    return sql.run(args, Settings.from_env())


def _deploy(args: argparse.Namespace) -> int:
    from music_pipeline_tools.deploy import run_cli

    return run_cli(args, Settings.from_env())


def _retention(args: argparse.Namespace) -> int:
    """Delete (or list, with --dry-run) the folder lake's expired partitions; archive files are aged
    by the ledger's days when a DynamoDB endpoint is set (AWS_ENDPOINT_URL_DYNAMODB), else by mtime."""
    from music_pipeline.ingestion.ledger import Ledger
    from music_pipeline.lake.store import Lake
    from music_pipeline.operations import retention
    from music_pipeline.serving.dynamodb import ServingTables

    settings = Settings.from_env()
    ledger = Ledger(ServingTables(settings.table_prefix, settings.dynamodb_endpoint)) if settings.dynamodb_endpoint else None
    try:
        report = retention.run(Lake(settings.lake), args.today, dry_run=args.dry_run, ledger=ledger)
    except ValueError as exc:
        print(f"retention: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


def _rejects(args: argparse.Namespace) -> int:
    state_of(args).activate(dagster_home=False)  # the project's lake unless MUSIC_PIPELINE_LAKE says otherwise
    return rejects.run(args)


def _files(args: argparse.Namespace) -> int:
    state = state_of(args)
    state.activate(dagster_home=False)  # the project's lake and its ledger (the local endpoint on a folder lake)
    with endpoint(state, verbose=False) as url:
        return files.run(args, url)


def _materialize(args: argparse.Namespace) -> int:
    state = state_of(args)
    state.activate()  # the project's lake, .env and Dagster instance
    with endpoint(state):
        return materialize.run(args)


def _doctor(args: argparse.Namespace) -> int:
    """The preflight of the project's state (`--project-dir`: its .env and lake); on a folder lake with
    local tables and no endpoint configured, the local tables are checked on the endpoint `dev` uses."""
    from music_pipeline_tools.doctor import run

    state = state_of(args)
    state.activate(dagster_home=False)
    settings = Settings.from_env()
    if settings.dynamodb_endpoint is None and settings.lake_is_local and state.dynamodb.is_dir():
        with endpoint(state, verbose=False):
            return run(Settings.from_env())
    return run(settings)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="music-pipeline", description=__doc__)
    parser.add_argument(
        "--project-dir",
        help="folder of the local state: .data/ (lake, DynamoDB tables), .dagster_home/, .env (default: the project's checkout)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    gen = sub.add_parser("generate", help="write deterministic sample raw data into a lake folder")
    gen.add_argument("--lake", help="lake folder (default: MUSIC_PIPELINE_LAKE or .data/lake)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--start", type=dt.date.fromisoformat, default=SAMPLE_START)
    gen.add_argument("--days", type=int, default=SAMPLE_DAYS)
    gen.add_argument("--listens-per-day", type=int, default=3000)
    gen.set_defaults(func=_generate)

    demo = sub.add_parser("demo", help="generate sample data, materialize every layer, print the top lists")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--days", type=int, default=SAMPLE_DAYS, help="sample days from 2024-06-01")
    demo.set_defaults(func=_demo)

    chk = sub.add_parser("check", help="CI: materialize the sample days with every asset check; exit 1 on any ERROR")
    chk.add_argument("--seed", type=int, default=42)
    chk.add_argument("--lake", help="lake folder (default: a fresh .data/check/lake)")
    chk.add_argument("--days", type=int, default=SAMPLE_DAYS, help="sample days to generate and check")
    chk.set_defaults(func=_check)

    dev_cmd = sub.add_parser("dev", help="dagster dev against the local stack (extra args go to dagster dev)")
    dev_cmd.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")
    dev_cmd.set_defaults(func=dev.run)

    query = sub.add_parser(
        "query",
        help="read the serving tables: genre KPIs, top songs, top genres, daily metrics",
        description="Read the serving tables. Default: DailyGenreKPIs (every genre of each day; --genre: one genre "
        "over the range, GSI genre-date-index). --top-genres: TopGenresDaily. --metric NAME: one DailyMetrics metric "
        "over the range (--dimension NAME=VALUE filters a listens_by_* or top_artists metric). --metrics: every "
        "metric of one day (GSI date-index). Reads the local endpoint, started on the persisted tables when none runs.",
    )
    query.add_argument("--date", required=True, help="day YYYY-MM-DD (first day of a range)")
    query.add_argument("--until", help="last day of the range (YYYY-MM-DD, inclusive; default: --date)")
    query.add_argument("--genre", help="one genre of DailyGenreKPIs over the range (with --top-songs: its top songs)")
    query.add_argument("--top-songs", action="store_true", help="the top songs of each genre (TopSongsPerGenre)")
    query.add_argument("--top-genres", action="store_true", help="the top genres of each day (TopGenresDaily)")
    query.add_argument("--metric", help="one DailyMetrics metric type over the range")
    query.add_argument("--metrics", action="store_true", help="every DailyMetrics metric of the day")
    query.add_argument("--dimension", help="with --metric: NAME=VALUE, e.g. device_type=mobile")
    query.add_argument("--json", action="store_true", help="print JSON instead of a table")
    query.set_defaults(func=_query)

    from music_pipeline_tools.sql import add_parser as add_sql_parser

    add_sql_parser(sub).set_defaults(func=_sql)

    dep = sub.add_parser(
        "deploy",
        help="AWS: upload the Glue job script + library to <lake>/scripts, create/update the Glue jobs, "
        "the DynamoDB tables and the Glue catalog tables of the lake",
    )
    dep.add_argument("--role", help="IAM role ARN of the jobs (default: MUSIC_PIPELINE_GLUE_ROLE)")
    dep.add_argument("--workers", type=int, default=2)
    dep.add_argument("--worker-type", default="G.1X")
    dep.add_argument("--scripts-uri", help="s3:// folder for the script and library (default: <lake>/scripts)")
    dep.add_argument("--skip-tables", action="store_true", help="do not create missing DynamoDB tables")
    dep.add_argument("--skip-catalog", action="store_true", help="do not create/update the Glue database and tables")
    dep.set_defaults(func=_deploy)

    ret = sub.add_parser("retention", help="delete the folder lake's partitions past their retention period (docs/design.md 3)")
    ret.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    ret.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date(),
        help="the day to age partitions against, YYYY-MM-DD (default: today, UTC)",
    )
    ret.set_defaults(func=_retention)
    materialize.add_parser(sub, _materialize)
    rejects.add_parser(sub, _rejects)
    files.add_parser(sub, _files)

    doc = sub.add_parser(
        "doctor",
        help="preflight: lake, endpoints, tables and keys, Glue jobs and their script, "
        "credentials; one line per finding with its fix; exit 1 on a blocking finding",
    )
    doc.set_defaults(func=_doctor)

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "dev":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dagster_args = extra
    try:
        return args.func(args)
    except BrokenPipeError:  # `music-pipeline query ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
