"""`raw_streams` on the spark and glue engines: the landed files of a sync are read, typed, split by day and
written as bronze slices by Spark tasks, one task per file, on as many executors as the cluster has.

What stays on the Python side (the Dagster run process), as with the duckdb engine: which files must be read
(`bronze.ingest_landed_file`'s decisions: landing refusals, unchanged files, content hashes, duplicates of
another key's content), the manifests, the content index and the replacement of a key's earlier slices. Only
the reading of a file's rows moves: each Spark task runs `bronze.ingest_file` (the same readers and typing as
the duckdb engine: aliases, optional columns, strict ISO-8601, reject reasons with file and line, bounded
records) into a scratch lake of its own under `.staging/ingest/`, and returns the file's manifest. The run
process then publishes each file as `ingest_file` does: the `publishing` manifest, one rename (a server-side
copy on S3) per slice, the earlier content's slices dropped, the manifest, the content index. So both engines
write the same slices by construction, and the differential test (test_engine_parity.py) holds them equal.

A file whose task fails (unreadable, truncated, a transient I/O error) is not published from Spark: it goes
through `bronze.ingest_landed_file` in the run process, which retries what passes and records the failure
with its reason exactly as the duckdb engine does. Two new keys with the same content in one sync: the
second is read in a later round, after the first is published, so it is a `duplicate` as it would be with
the duckdb engine.

Parallelism is across files: a day landed as many files reads on many executors; one large file is one task
(bounded memory, the single-process reader's speed: docs/scale.md).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Protocol

from music_pipeline.core.layout import IGNORED_SUFFIXES
from music_pipeline.core.settings import Settings
from music_pipeline.ingestion import bronze, manifests
from music_pipeline.lake.store import Lake, LakeFile, partition_key

SCRATCH = ".staging/ingest"  # below the lake, hidden from its listings
DEFERRED, POSTPONED = "deferred", "postponed"  # placeholder statuses of the decision pass (never written)


@dataclass(frozen=True)
class FileTask:
    """One landed file a Spark task reads (JSON-able: it travels to executors and to a Glue job)."""

    key: str
    size: int
    modified: float
    digest: str

    @property
    def landed(self) -> LakeFile:
        return LakeFile(self.key, self.size, self.modified)


@dataclass(frozen=True)
class ReadJob:
    """What every task of one sync shares: the lake, where tasks write, the start date."""

    lake_uri: str
    scratch: str  # lake prefix of this sync's scratch lakes
    start_date: str
    s3_endpoint: str | None = None
    region: str | None = None
    tasks: list[FileTask] = field(default_factory=list)


class ScratchLake(Lake):
    """A lake rooted at a scratch prefix of `source`, whose landed files are read from `source`."""

    def __init__(self, source: Lake, prefix: str):
        super().__init__(f"{source.uri}/{prefix}", s3_endpoint=source.s3_endpoint, region=source.region)
        self.source = source

    def open_input(self, key: str, decompress: bool = True):
        return self.source.open_input(key, decompress)

    def local_input_path(self, key: str) -> str | None:
        return self.source.local_input_path(key)


def scratch_prefix(job: ReadJob, key: str) -> str:
    return f"{job.scratch}/{manifests.file_id(key)}"


def read_file(job: ReadJob, task: FileTask) -> dict:
    """One Spark task: the file through `bronze.ingest_file` into its scratch lake. Returns {key, manifest}
    or {key, error}; a failed file leaves nothing it wrote (ingest_file publishes nothing until the end)."""
    started, cpu = time.monotonic(), time.process_time()
    source = Lake(job.lake_uri, s3_endpoint=job.s3_endpoint, region=job.region)
    scratch = ScratchLake(source, scratch_prefix(job, task.key))
    try:
        manifest = bronze.ingest_file(scratch, task.landed, task.digest, None, dt.date.fromisoformat(job.start_date))
    except Exception as exc:  # noqa: BLE001 - the run process reads it again and records why it fails
        scratch.delete_dir("")
        return {"key": task.key, "error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - started}
    spent = {"seconds": time.monotonic() - started, "cpu_seconds": time.process_time() - cpu}
    return {"key": task.key, "manifest": asdict(manifest), **spent}


def read_partition(job: ReadJob, tasks) -> list[dict]:
    """A Spark partition of file tasks (dicts), one after the other."""
    return [read_file(job, FileTask(**task)) for task in tasks]


class FileReader(Protocol):
    """Runs `read_file` for every task of a job somewhere (local Spark, a Glue job) and returns the results."""

    name: str

    def read_files(self, job: ReadJob) -> list[dict]: ...


class SparkFileReader:
    """One Spark task per file on a session (local, spark-submit or Glue)."""

    name = "spark"

    def __init__(self, session_factory: Callable[[], object]):
        self._session = session_factory

    def read_files(self, job: ReadJob) -> list[dict]:
        from typing import Any

        session: Any = self._session()
        tasks = [asdict(t) for t in job.tasks]
        header = ReadJob(job.lake_uri, job.scratch, job.start_date, job.s3_endpoint, job.region)  # tasks travel apart
        rdd = session.sparkContext.parallelize(tasks, max(len(tasks), 1))
        return rdd.mapPartitions(partial(read_partition, header)).collect()


class GlueFileReader:
    """The same Spark tasks in a Glue job run (engines/glue_job.py), launched through the engine's Pipes client:
    the job goes to the run as a lake file (`<scratch>/job.json`), the results come back as one (`results.json`)."""

    name = "glue"

    def __init__(self, engine, context):
        self.engine, self.context = engine, context

    def read_files(self, job: ReadJob) -> list[dict]:
        lake = Lake(job.lake_uri, s3_endpoint=job.s3_endpoint, region=job.region)
        lake.write_bytes(f"{job.scratch}/{JOB_FILE}", json.dumps(asdict(job)).encode())
        self.engine.run_ingestion(lake, f"{job.scratch}/{JOB_FILE}", self.context)
        return json.loads(lake.read_bytes(f"{job.scratch}/{RESULTS_FILE}"))


JOB_FILE, RESULTS_FILE = "job.json", "results.json"


def run_job_file(session_factory: Callable[[], object], lake: Lake, job_key: str) -> dict[str, dict[str, int]]:
    """The Glue side of `GlueFileReader`: read the job's files on the session, leave the results next to the job.
    Returns the counts the job reports over Pipes (files read, failed)."""
    spec = json.loads(lake.read_bytes(job_key))
    job = ReadJob(**{**spec, "tasks": [FileTask(**t) for t in spec["tasks"]]})
    results = SparkFileReader(session_factory).read_files(job)
    lake.write_bytes(f"{job.scratch}/{RESULTS_FILE}", json.dumps(results).encode())
    failed = sum(1 for r in results if "manifest" not in r)
    return {"raw_streams": {"files_read": len(results) - failed, "files_failed": failed}}


def file_reader(engine: object, context=None) -> FileReader | None:
    """The reader of landed files of an engine: Spark tasks on the spark engine's session, a Glue job run on
    the glue engine; None for the duckdb engine (today's reader, in this process)."""
    from music_pipeline.engines.glue import GlueEngine
    from music_pipeline.engines.spark import SparkEngine

    if isinstance(engine, SparkEngine):
        return SparkFileReader(lambda: engine.session)
    if isinstance(engine, GlueEngine):
        return GlueFileReader(engine, context)
    return None


def read_job_of(lake: Lake, tasks: list[FileTask], start_date: dt.date) -> ReadJob:
    return ReadJob(
        lake_uri=lake.uri,
        scratch=f"{SCRATCH}/{uuid.uuid4().hex}",
        start_date=start_date.isoformat(),
        s3_endpoint=lake.s3_endpoint,
        region=lake.region,
        tasks=tasks,
    )


# ---------------------------------------------------------------------------------------------
# the run process: decide, read on the engine, publish
# ---------------------------------------------------------------------------------------------
def _placeholder(landed: LakeFile, digest: str, status: str) -> manifests.Manifest:
    return manifests.Manifest(key=landed.key, content_hash=digest, size=landed.size, modified=landed.modified, status=status)


def publish(
    lake: Lake, job: ReadJob, landed: LakeFile, previous: manifests.Manifest | None, manifest: manifests.Manifest
) -> None:
    """Move a file's slices from its scratch lake into place, as the end of `bronze.ingest_file` does."""
    name = manifests.slice_name(landed.key)
    prefix = scratch_prefix(job, landed.key)
    manifests.write_manifest(
        lake,
        bronze._publishing(  # noqa: SLF001 - the same in-between manifest as the duckdb engine's
            landed, manifest.content_hash, previous, Counter(manifest.rows_by_day), Counter(manifest.rejects_by_day)
        ),
    )
    for table, days in ((bronze.BRONZE_STREAMS, manifest.rows_by_day), (bronze.INGEST_REJECTS, manifest.rejects_by_day)):
        for day in days:
            key = partition_key(table, day, name)
            lake.rename(f"{prefix}/{key}", key)
    if previous is not None:
        bronze.drop_slices(lake, previous, keep=manifest)
    manifests.write_manifest(lake, manifest)
    manifests.record_content(lake, manifest.content_hash, landed.key)


class _Round:
    """The decision pass over some landed files: which ones a reader must read (and the outcome each will have)."""

    def __init__(self) -> None:
        self.deferred: dict[str, tuple[LakeFile, str, manifests.Manifest | None, str]] = {}  # (landed, digest, previous, outcome)
        self.digests: set[str] = set()
        self.postponed: list[LakeFile] = []

    def defer(
        self, _lake: Lake, landed: LakeFile, digest: str, previous: manifests.Manifest | None, _start
    ) -> manifests.Manifest:
        """`bronze.IngestFile` that reads nothing: the file is read with the others of the round."""
        if digest in self.digests:  # the same content as a file of this round: decided again once that one is published
            return _placeholder(landed, digest, POSTPONED)
        self.digests.add(digest)
        self.deferred[landed.key] = (landed, digest, previous, "")
        return _placeholder(landed, digest, DEFERRED)


def sync_landed_streams(
    lake: Lake,
    reader: FileReader,
    keys: list[str] | None = None,
    *,
    start_date: dt.date | None = None,
    ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES,
    log: Callable[[str], None] | None = None,
) -> bronze.SyncReport:
    """`bronze.sync_landed_streams` with the files' rows read by `reader` (one task per file)."""
    start_date = start_date or Settings.from_env().start_date
    report = bronze.SyncReport()
    pending = bronze.landed_deliveries(lake, keys, ignored_suffixes)
    while pending:
        round_ = _Round()
        for f in pending:
            outcome, manifest = bronze.ingest_landed_file(lake, f, start_date=start_date, ingest=round_.defer)
            if manifest.status == POSTPONED:
                round_.postponed.append(f)
            elif manifest.status == DEFERRED:
                landed, digest, previous, _ = round_.deferred[f.key]
                round_.deferred[f.key] = (landed, digest, previous, outcome)
            else:
                report.add(outcome, manifest)
        if round_.deferred:
            _read_and_publish(lake, reader, start_date, round_, report, log)
        pending = round_.postponed
    return report


def _read_and_publish(
    lake: Lake, reader: FileReader, start_date: dt.date, round_: _Round, report: bronze.SyncReport, log
) -> None:
    tasks = [
        FileTask(key, landed.size, landed.modified, digest) for key, (landed, digest, _, _) in sorted(round_.deferred.items())
    ]
    job = read_job_of(lake, tasks, start_date)
    started = time.monotonic()
    try:
        results = {r["key"]: r for r in reader.read_files(job)}
        if log:
            busy = sum(r.get("seconds", 0.0) for r in results.values())
            cpu = sum(r.get("cpu_seconds", 0.0) for r in results.values())
            log(
                f"{reader.name}: {len(tasks)} landed file(s) read in {time.monotonic() - started:.1f} s "
                f"({busy:.1f} s in the tasks, {cpu:.1f} s of CPU)"
            )
        for task in tasks:
            landed, _digest, previous, outcome = round_.deferred[task.key]
            result = results.get(task.key, {"error": "no result from the engine"})
            if "manifest" not in result:  # read again here: retries what passes, records why it fails
                if log:
                    log(f"{task.key}: {result['error']}; read by the run process")
                report.add(*bronze.ingest_landed_file(lake, landed, start_date=start_date))
                continue
            manifest = manifests.Manifest(**result["manifest"])
            # a failure from here leaves the `publishing` manifest: the next sync reads the file again
            publish(lake, job, landed, previous, manifest)
            report.add(outcome, manifest)
    finally:
        lake.delete_dir(job.scratch)
