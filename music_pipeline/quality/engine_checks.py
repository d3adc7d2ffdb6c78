"""Where an asset's checks run, by engine: the check op calls `evaluate_on(engine, ...)`.

- duckdb: `rules.evaluate` in this process, its queries in a DuckDB `Sql` (as before).
- spark: `rules.evaluate` in this process with its queries on the engine's Spark session (`SparkSql`): the
  check SQL and the contract scans run on Spark; this process gets counts, breakdowns and samples only.
- glue: `rules.evaluate` itself runs in a Glue job run (engines/glue_job.py `--step checks`), launched through
  the engine's Pipes client like every Glue step, its queries on Glue's Spark; the job's arguments go as a
  lake file (`<scratch>/job.json`), its outcomes come back as one (`outcomes.json`, samples as Arrow IPC).

The check functions are the same on every engine; only where their queries run changes. Serving assets'
checks (DynamoDB items against the day's few gold rows) stay in this process on every engine.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

import pyarrow as pa

from music_pipeline.core import registry
from music_pipeline.core.settings import Thresholds
from music_pipeline.core.specs import Params
from music_pipeline.engines.base import STAGING
from music_pipeline.lake.store import Lake
from music_pipeline.quality import rules
from music_pipeline.quality.engine_sql import SparkSql
from music_pipeline.quality.outcomes import Outcome

SCRATCH = f"{STAGING}/checks"  # below the lake, hidden from its listings
JOB_FILE, OUTCOMES_FILE = "job.json", "outcomes.json"


def on_engine(asset: str, engine: Any) -> bool:
    """Whether an asset's checks run on the engine (table assets with the spark and glue engines)."""
    return asset not in registry.SERVING_ASSETS and getattr(engine, "name", "duckdb") in ("spark", "glue")


def evaluate_on(engine: Any, asset: str, lake: Lake, days: list[str] | None, context=None, **kwargs) -> list[Outcome]:
    """`rules.evaluate(asset, lake, days, **kwargs)` where the engine runs it (module docstring)."""
    if not on_engine(asset, engine):
        return rules.evaluate(asset, lake, days, **kwargs)
    if getattr(engine, "name", None) == "spark":
        return rules.evaluate(asset, lake, days, sql=SparkSql(lake, engine.session), **kwargs)
    return _on_glue(engine, asset, lake, days, context, **kwargs)


def _on_glue(
    engine: Any,
    asset: str,
    lake: Lake,
    days: list[str] | None,
    context,
    thresholds: Thresholds | None = None,
    only: set[str] | None = None,
    params: Params | None = None,
    retention_days: int | None = None,
    serving_tables=None,
) -> list[Outcome]:
    scratch = f"{SCRATCH}/{uuid.uuid4().hex}"
    job = {
        "asset": asset,
        "days": days,
        "only": sorted(only) if only is not None else None,
        "thresholds": asdict(thresholds or Thresholds()),
        "params": asdict(params or Params()),
        "retention_days": retention_days,
    }
    try:
        lake.write_bytes(f"{scratch}/{JOB_FILE}", json.dumps(job).encode())
        engine.run_checks(lake, f"{scratch}/{JOB_FILE}", context)
        return [outcome_from(o) for o in json.loads(lake.read_bytes(f"{scratch}/{OUTCOMES_FILE}"))]
    finally:
        lake.delete_dir(scratch)


def run_job_file(session_factory: Callable[[], object], lake: Lake, job_key: str, engine: str = "glue") -> dict:
    """The Glue side of `_on_glue`: evaluate the job's checks on the session, leave the outcomes next to the job.
    Returns the counts the job reports over Pipes (checks evaluated, failed)."""
    job = json.loads(lake.read_bytes(job_key))
    kwargs: dict[str, Any] = {
        "thresholds": Thresholds(**job["thresholds"]),
        "params": Params(**job["params"]),
        "only": set(job["only"]) if job["only"] is not None else None,
    }
    if job["retention_days"] is not None:
        kwargs["retention_days"] = job["retention_days"]
    outcomes = rules.evaluate(job["asset"], lake, job["days"], sql=SparkSql(lake, session_factory(), engine), **kwargs)
    folder = job_key.rsplit("/", 1)[0]
    lake.write_bytes(f"{folder}/{OUTCOMES_FILE}", json.dumps([outcome_to(o) for o in outcomes]).encode())
    return {"checks": {"evaluated": len(outcomes), "failed": sum(1 for o in outcomes if not o.passed)}}


def outcome_to(o: Outcome) -> dict:
    """An outcome as JSON (its sample as base64 Arrow IPC, so types survive)."""
    record = {f.name: getattr(o, f.name) for f in fields(o) if f.name != "sample"}
    record["counts"] = dict(o.counts)
    record["sample"] = _ipc(o.sample) if o.sample is not None else None
    return record


def outcome_from(record: dict) -> Outcome:
    sample = record.pop("sample")
    return Outcome(**record, sample=_table(sample) if sample is not None else None)


def _ipc(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode()


def _table(text: str) -> pa.Table:
    return pa.ipc.open_stream(base64.b64decode(text)).read_all()
