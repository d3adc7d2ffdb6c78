"""`music-pipeline`: generate sample data, run the demo, start the UI, query the serving tables."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys

from music_pipeline.settings import PROJECT_ROOT, Settings

SAMPLE_START = dt.date(2024, 6, 1)
SAMPLE_DAYS = 7


def _generate(args: argparse.Namespace) -> int:
    from music_pipeline.sample_data import generate_lake

    lake = args.lake or Settings.from_env().lake
    summary = generate_lake(lake, seed=args.seed, start_date=args.start, days=args.days,
                            listens_per_day=args.listens_per_day)
    print(f"wrote {len(summary.files)} files, {summary.stream_rows} stream rows over {len(summary.days)} days "
          f"({summary.days[0]}...{summary.days[-1]}) into {lake}")
    print("injected bad rows: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.injected_bad_rows.items())))
    return 0


def _materialize(select: str, first: str, last: str, *extra: str) -> int:
    """Run the real Dagster CLI, as a user would, over a partition range (one run)."""
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "music_pipeline.definitions",
               "--select", select, "--partition-range", f"{first}...{last}", *extra]
    print("$ " + " ".join(command[2:]), flush=True)
    return subprocess.call(command, cwd=PROJECT_ROOT)


def _demo(args: argparse.Namespace) -> int:
    from music_pipeline.local_stack import local_dynamodb
    from music_pipeline.sample_data import generate_lake

    settings = Settings.from_env()
    summary = generate_lake(settings.lake, seed=args.seed, start_date=SAMPLE_START, days=SAMPLE_DAYS)
    print(f"sample lake: {settings.lake} ({summary.stream_rows} stream rows in {len(summary.files)} files)")
    first, last = summary.days[0], summary.days[-1]
    with local_dynamodb():
        code = _materialize("*", first, last)
        if code != 0:
            print(f"materialization failed (exit {code})", file=sys.stderr)
            return code
        print_top_lists(settings, summary.days)
    return 0


def _check(args: argparse.Namespace) -> int:
    """CI: the whole graph with every asset check over the sample days, in a fresh lake and a
    fresh Dagster instance; exits 1 on any ERROR-severity check failure (printing check, day, why)."""
    import shutil
    import tempfile

    from dagster import DagsterInstance

    from music_pipeline.local_stack import environment, local_dynamodb
    from music_pipeline.quality import report
    from music_pipeline.sample_data import generate_lake

    lake = args.lake or str(PROJECT_ROOT / ".data" / "check" / "lake")
    if not args.lake:
        shutil.rmtree(lake, ignore_errors=True)
    summary = generate_lake(lake, seed=args.seed, start_date=SAMPLE_START, days=args.days)
    print(f"sample lake: {lake} ({summary.stream_rows} stream rows in {len(summary.files)} files)")
    home = tempfile.mkdtemp(prefix="music-pipeline-check-")  # the instance the results are read from
    try:
        with environment({"DAGSTER_HOME": home, "MUSIC_PIPELINE_LAKE": lake}):
            with local_dynamodb():
                code = _materialize("*", summary.days[0], summary.days[-1])
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


def print_top_lists(settings: Settings, days: list[str]) -> None:
    """Read the top genres and top songs of each day back from DynamoDB and print them."""
    from music_pipeline.storage import dynamodb

    tables = dynamodb.ServingTables(prefix=settings.table_prefix, endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
    for day in days:
        genres = sorted(tables.day_items(dynamodb.TOP_GENRES_DAILY, day), key=lambda i: i["rank"])
        songs = tables.day_items(dynamodb.TOP_SONGS_PER_GENRE, day)
        print(f"\n== {day}: top genres (from {tables.name(dynamodb.TOP_GENRES_DAILY)}) ==")
        for g in genres:
            print(f"  {int(g['rank'])}. {g['genre']:<12} listens={int(g['listen_count']):>6} "
                  f"listeners={int(g['unique_listeners']):>5}")
            for s in sorted((s for s in songs if s["genre"] == g["genre"]), key=lambda s: s["rank"]):
                print(f"       #{int(s['rank'])} {s.get('track_name', '')[:40]:<40} {s['track_id']}  plays={int(s['play_count'])}")


def _dev(args: argparse.Namespace) -> int:
    from music_pipeline.local_stack import local_dynamodb

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
    with local_dynamodb():
        command = [sys.executable, "-m", "dagster", "dev", "-m", "music_pipeline.definitions", *args.dagster_args]
        # dagster dev started from a background job ignores SIGINT unless default handlers are back
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, preexec_fn=_default_signals)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _query(args: argparse.Namespace) -> int:
    from music_pipeline.storage import dynamodb
    from boto3.dynamodb.conditions import Key

    settings = Settings.from_env()
    tables = dynamodb.ServingTables(prefix=settings.table_prefix, endpoint_url=settings.dynamodb_endpoint)
    if args.genre:
        table = tables.table(dynamodb.DAILY_GENRE_KPIS)
        items = table.query(IndexName=dynamodb.GENRE_INDEX,
                            KeyConditionExpression=Key("genre").eq(args.genre) & Key("date").between(args.date, args.until or args.date))["Items"]
    else:
        items = tables.day_items(dynamodb.DAILY_GENRE_KPIS, args.date)
    for item in items:
        print({k: (float(v) if hasattr(v, "as_tuple") else v) for k, v in sorted(item.items())})
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from music_pipeline.deploy import run_cli

    return run_cli(args)


def _doctor(args: argparse.Namespace) -> int:
    from music_pipeline.doctor import run

    return run(Settings.from_env())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="music-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write deterministic sample raw data into a lake folder")
    gen.add_argument("--lake", help="lake folder (default: MUSIC_PIPELINE_LAKE or .data/lake)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--start", type=dt.date.fromisoformat, default=SAMPLE_START)
    gen.add_argument("--days", type=int, default=SAMPLE_DAYS)
    gen.add_argument("--listens-per-day", type=int, default=3000)
    gen.set_defaults(func=_generate)

    demo = sub.add_parser("demo", help="generate sample data, materialize every layer, print the top lists")
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_demo)

    chk = sub.add_parser("check", help="CI: materialize the sample days with every asset check; exit 1 on any ERROR")
    chk.add_argument("--seed", type=int, default=42)
    chk.add_argument("--lake", help="lake folder (default: a fresh .data/check/lake)")
    chk.add_argument("--days", type=int, default=SAMPLE_DAYS, help="sample days to generate and check")
    chk.set_defaults(func=_check)

    dev = sub.add_parser("dev", help="dagster dev against the local stack (extra args go to dagster dev)")
    dev.set_defaults(func=_dev)

    query = sub.add_parser("query", help="read DailyGenreKPIs: all genres of a day, or one genre over a range")
    query.add_argument("--date", required=True)
    query.add_argument("--genre")
    query.add_argument("--until")
    query.set_defaults(func=_query)

    dep = sub.add_parser("deploy", help="AWS: upload the Glue job script + library to <lake>/scripts, create/update the Glue jobs")
    dep.add_argument("--role", help="IAM role ARN of the jobs (default: MUSIC_PIPELINE_GLUE_ROLE)")
    dep.add_argument("--workers", type=int, default=2)
    dep.add_argument("--worker-type", default="G.1X")
    dep.add_argument("--scripts-uri", help="s3:// folder for the script and library (default: <lake>/scripts)")
    dep.add_argument("--skip-tables", action="store_true", help="do not create missing DynamoDB tables")
    dep.set_defaults(func=_deploy)

    doc = sub.add_parser("doctor", help="preflight: lake, endpoints, tables and keys, Glue jobs and their script, "
                         "credentials; one line per finding with its fix; exit 1 on a blocking finding")
    doc.set_defaults(func=_doctor)

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "dev":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dagster_args = extra
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
