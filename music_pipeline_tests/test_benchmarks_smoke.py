"""Smoke test of the benchmark harness at its tiny size (CI never runs the full sizes).

It runs `python -m benchmarks --tiny` as `make bench` would, on the duckdb engine (Spark is
benchmarked by `make bench` itself; its parity is covered by test_engine_parity.py), and checks
that every section of the report holds measured numbers and that the outputs were verified.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_tiny_benchmark_reports_every_section(tmp_path):
    out = tmp_path / "RESULTS.md"
    # the benchmark starts its own local endpoints: no endpoint variable an earlier test of this worker left behind
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny", "--engines", "duckdb", "--work", str(tmp_path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert done.stdout.strip().startswith("# Benchmark results")
    assert re.search(r"\d+ cores, [\d.]+ GB RAM", text)

    data = json.loads(out.with_suffix(".json").read_text())["results"]
    engine = data["engine"][0]
    assert engine["compare"]["identical"] is True and engine["compare"]["validated_rows"] > 0
    assert engine["project"]["seconds"] > 0 and engine["hand"]["seconds"] > 0
    ingest = data["ingest"][0]
    assert ingest["project"]["rows"] == ingest["bare"]["rows"] == 5000 and ingest["project"]["mb_per_s"] > 0
    backfill = data["backfill"][0]
    assert backfill["range"]["runs"] == 1 and backfill["daily"]["runs"] == 3
    assert data["publish"]["items"] == data["publish"]["expected_items"] > 0 and data["publish"]["missing_items"] == 0
    assert data["load"]["imports"][0]["pyspark_imported"] is False and data["load"]["validate"]["seconds"] > 0
    checks = {k["asset"]: k for k in data["checks"]}
    assert set(checks) >= {
        "songs",
        "users",
        "raw_streams",
        "validated_streams",
        "genre_daily_kpis",
        "top_songs_per_genre",
        "top_genres_daily",
    }
    assert all(k["checks"] >= 2 and k["peak_rss_mb"] > 0 for k in checks.values())
    assert checks["raw_streams"]["rows_checked"] == 5000  # the day's bronze rows, read by the contract check
    # the generated data is clean: no blocking (ERROR) check may fail on it
    assert not [f for k in checks.values() for f in k["failed"] if "(ERROR)" in f], checks

    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert [s.split(".", 1)[0] for s in sections] == ["1", "2", "3", "4", "5", "6", "7"]
    for section in sections:
        title = section.splitlines()[0]
        lines = section.splitlines()
        headers = {i - 1 for i, ln in enumerate(lines) if ln.startswith("|---")}
        table_rows = [ln for i, ln in enumerate(lines) if ln.startswith("| ") and i not in headers]
        assert table_rows and all(re.search(r"\d", row) for row in table_rows), title
    assert data["sensor"] is not None  # the sensor exists: its figures are required
    if data["sensor"] is not None:
        ticks = data["sensor"]["ticks"]
        assert [t["claimed"] for t in ticks] == [t["new"] for t in ticks]
