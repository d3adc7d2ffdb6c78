"""Typed settings read from the environment (DESIGN.md section 7).

Every component reads configuration through `Settings.from_env()`, so one place documents the
variables and their defaults.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("duckdb", "spark", "glue")


@dataclass(frozen=True)
class Settings:
    lake: str
    engine: str
    table_prefix: str
    start_date: dt.date
    dynamodb_endpoint: str | None
    s3_endpoint: str | None
    duckdb_memory_limit: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        engine = env.get("MUSIC_PIPELINE_ENGINE", "duckdb").strip().lower()
        if engine not in ENGINES:
            raise ValueError(f"MUSIC_PIPELINE_ENGINE={engine!r}: expected one of {', '.join(ENGINES)}")
        start = env.get("MUSIC_PIPELINE_START_DATE", "2024-01-01")
        try:
            start_date = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise ValueError(f"MUSIC_PIPELINE_START_DATE={start!r} is not an ISO date (YYYY-MM-DD)") from exc
        return cls(
            lake=env.get("MUSIC_PIPELINE_LAKE") or str(PROJECT_ROOT / ".data" / "lake"),
            engine=engine,
            table_prefix=env.get("MUSIC_PIPELINE_TABLE_PREFIX", ""),
            start_date=start_date,
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None,
            s3_endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            duckdb_memory_limit=_memory_size(env.get("MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT", "").strip()) or None,
        )


def _memory_size(value: str) -> str:
    """'' (DuckDB's default, 80% of RAM) or a DuckDB size such as '4GB' / '512MiB'."""
    if value and not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", value, flags=re.IGNORECASE):
        raise ValueError(f"MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT={value!r}: expected a size such as 4GB or 512MiB")
    return value
