"""`music-pipeline files`: the landed stream files by status with their reasons, and `--retry KEY` to have one
failed file read again (music_pipeline/ingestion/files.py)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from botocore.exceptions import ClientError

from music_pipeline.core.settings import Settings
from music_pipeline.ingestion import files
from music_pipeline.ingestion.ledger import STATUSES, Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import ServingTables

MANIFEST_STATUSES = ("landed", "duplicate", "publishing")


def add_parser(sub, func) -> None:
    """The subcommand; `func` prepares the local state (lake, DynamoDB endpoint) and calls `run`."""
    cmd = sub.add_parser(
        "files",
        help="the landed stream files by status, with reasons; --retry KEY reads one failed file again",
        description="List the files under raw/streams (and those the ledger or bronze know) with their status: the "
        "ProcessedStreams ledger's when the arrival sensors follow them, else the bronze manifest's. A file that "
        "failed for a reason that passes is `retrying` until its retries are spent, then `failed`. --retry KEY "
        "makes a failed file be read again by the next sync or sensor rescan.",
    )
    cmd.add_argument("--status", choices=sorted({*STATUSES, *MANIFEST_STATUSES}), help="only files in this status")
    cmd.add_argument("--retry", metavar="KEY", help="read this failed file again (its key, e.g. raw/streams/x.csv)")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=func)


def ledger_of(settings: Settings, endpoint_url: str | None) -> Ledger | None:
    """The ledger, None when its table does not exist (nothing ran the arrival sensors)."""
    tables = ServingTables(prefix=settings.table_prefix, endpoint_url=endpoint_url or settings.dynamodb_endpoint)
    ledger = Ledger(tables)
    try:
        ledger.table.load()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return ledger


def run(args: argparse.Namespace, endpoint_url: str | None) -> int:
    settings = Settings.from_env()
    lake = Lake(settings.lake)
    ledger = ledger_of(settings, endpoint_url)
    if args.retry:
        try:
            done = files.retry_file(lake, ledger, args.retry)
        except ValueError as exc:
            print(f"music-pipeline files: error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.retry}: " + "; ".join(done))
        return 0
    found = files.file_statuses(lake, ledger, args.status)
    if args.json:
        print(json.dumps([asdict(f) for f in found], indent=1))
        return 0
    if not found:
        print("no files" + (f" in status {args.status}" if args.status else ""))
    for status in sorted({f.status for f in found}):
        group = [f for f in found if f.status == status]
        print(f"{status}: {len(group)}")
        for f in group:
            print("  " + f.line())
    return 0
