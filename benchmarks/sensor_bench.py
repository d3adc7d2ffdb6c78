"""One `stream_files_sensor` tick with many already-processed landed files and a few new ones.

The landing zone is a folder lake holding `processed` files in day folders (1,000 per folder);
the cursor points after the last of them, as it would after the ticks that processed them. For
each count of new files, that many files land in a new folder and one tick runs through Dagster's
`build_sensor_context` with the real resources (folder lake, ledger on moto server). Counted
during the tick: directory listings (`os.scandir`, the local equivalent of a list request) and
DynamoDB requests (ledger reads and claims).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

PER_FOLDER = 1000
DESCRIPTION = (
    "One tick of `stream_files_sensor` through `build_sensor_context` (folder lake; ledger on moto "
    "server). *list requests* = directory listings (`os.scandir`) during the tick; the processed files are "
    "{per_folder:,} per day folder; a normal tick (not the periodic rescan). DynamoDB requests made by the "
    "tick are shown apart (moto server: ~10 ms each, one conditional claim per new file)."
)


def _write_files(root: Path, first_day: dt.date, count: int, tag: str) -> None:
    body = b"user_id,track_id,listen_time\nu00001,t1,2024-06-01 00:00:00\n"
    for k in range(count):
        day = first_day + dt.timedelta(days=k // PER_FOLDER)
        folder = root / f"raw/streams/{day:%Y/%m/%d}"
        if k % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{tag}-{k:06d}.csv").write_bytes(body)


def run(root: str, processed: int, new_counts: list[int]) -> dict:
    from botocore.client import BaseClient
    from dagster import DagsterInstance, build_sensor_context

    from music_pipeline.core.resources import DynamoDBResource, LakeResource
    from music_pipeline.core.settings import Settings
    from music_pipeline.definitions import build_definitions
    from music_pipeline.ingestion.discovery import Cursor
    from music_pipeline.lake import landing
    from music_pipeline.lake.store import Lake
    from music_pipeline_tools.local_stack import local_dynamodb

    lake_root = Path(root)
    shutil.rmtree(lake_root, ignore_errors=True)
    t0 = time.perf_counter()
    _write_files(lake_root, dt.date(2024, 1, 1), processed, "processed")
    setup_seconds = time.perf_counter() - t0
    last = landing.list_new(Lake(str(lake_root)), "raw/streams", "", None)[-1].key if processed else ""

    stream_files_sensor = build_definitions(Settings.from_env()).resolve_sensor_def("stream_files_sensor")
    ticks = []
    listings = [0]
    real_scandir, real_call = os.scandir, BaseClient._make_api_call

    def counting_scandir(*args, **kwargs):
        listings[0] += 1
        return real_scandir(*args, **kwargs)

    with local_dynamodb(verbose=False) as url, DagsterInstance.ephemeral() as instance:
        dynamodb = DynamoDBResource(endpoint_url=url)
        dynamodb.get().ensure()
        cursor = Cursor(after=last, rescanned_at=time.time())
        new_day = dt.date(2030, 1, 1)
        for n in new_counts:
            _write_files(lake_root, new_day, n, f"new{n}")
            new_day += dt.timedelta(days=n // PER_FOLDER + 1)
            requests = [0]

            def counting_call(client, operation, params, requests=requests):
                if client.meta.service_model.service_name == "dynamodb":
                    requests[0] += 1
                return real_call(client, operation, params)

            context = build_sensor_context(
                cursor=cursor.dump(),
                instance=instance,
                resources={"lake": LakeResource(uri=str(lake_root)), "dynamodb_tables": dynamodb},
            )
            listings[0] = 0
            os.scandir, BaseClient._make_api_call = counting_scandir, counting_call
            try:
                s0 = time.perf_counter()
                result = stream_files_sensor(context)  # the code location's sensor (built below)
                seconds = time.perf_counter() - s0
            finally:
                os.scandir, BaseClient._make_api_call = real_scandir, real_call
            run_requests = list(getattr(result, "run_requests", None) or [])
            claimed = sum(
                len(r.run_config["ops"]["ingest_claimed_files"]["config"]["files"])
                for r in run_requests
                if r.job_name == "ingest_stream_files"
            )
            if claimed != n:
                raise RuntimeError(f"the tick claimed {claimed} files, {n} were new")
            ticks.append(
                {
                    "processed": processed,
                    "new": n,
                    "seconds": seconds,
                    "list_requests": listings[0],
                    "dynamodb_requests": requests[0],
                    "claimed": claimed,
                    "run_requests": len(run_requests),
                }
            )
            cursor = Cursor(**{**json.loads(result.cursor), "pending": {}})  # next tick: only the next new files
    return {"ticks": ticks, "setup_seconds": setup_seconds, "description": DESCRIPTION.format(per_folder=PER_FOLDER)}
