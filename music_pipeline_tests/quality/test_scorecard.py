"""The daily data-quality scorecard (issue 24): on the sample lake (every kind of bad row), each day's
`data_quality_daily` row equals a plain-Python count over its bronze and bad-records files, reaches
DynamoDB as `quality_*` DailyMetrics items, and is shown as per-day metadata; a day with no rows read has no
scorecard. One real Dagster range run; DynamoDB over in-process moto."""

from __future__ import annotations

import collections
import json

import pyarrow.parquet as pq

from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import materializations, materialize_days

FIRST, LAST = "2024-06-01", "2024-06-09"  # the sample's 7 days (and a file spanning midnight), then nothing
# the definitions, written out here independently of the code
DIMENSIONS = {
    "completeness": {"missing_user_id", "missing_track_id"},
    "validity": {
        "malformed_line",
        "bad_encoding",
        "unparseable_listen_time",
        "invalid_duration",
        "invalid_completed",
        "future_listen_time",
        "before_start_date",
    },
    "consistency": {"unknown_track_id", "unknown_user_id"},
    "uniqueness": {"duplicate_listen"},
}


def files(root, prefix: str, day: str) -> list:
    folder = root / prefix / f"date={day}"
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def expected_scorecard(root, day: str) -> dict | None:
    bronze = sum(pq.ParquetFile(f).metadata.num_rows for f in files(root, "bronze/streams", day))
    ingest = [r for f in files(root, "bad-records/raw_streams", day) for r in pq.read_table(f)["reason"].to_pylist()]
    stream = [r for f in files(root, "bad-records/validated_streams", day) for r in pq.read_table(f)["reason"].to_pylist()]
    read = bronze + len(ingest)
    if read == 0:
        return None
    reasons = collections.Counter(ingest + stream)
    figures = {d: 1 - sum(n for r, n in reasons.items() if r in rs) / read for d, rs in DIMENSIONS.items()}
    validated = sum(pq.ParquetFile(f).metadata.num_rows for f in files(root, "validated/streams", day))
    return {
        "rows_read": read,
        "rows_validated": validated,
        "rows_rejected": len(ingest) + len(stream),
        "reasons": reasons,
        **figures,
    }


def test_the_scorecard_of_each_day_equals_its_bad_records_counts(small_sample, copy_lake, mocked_aws):
    src, _ = small_sample
    root = copy_lake(src)
    result = materialize_days(root, FIRST, LAST)
    assert result.success
    meta = materializations(result)
    days = [f"2024-06-{d:02d}" for d in range(1, 10)]
    items = {(i["metric_type"], i["date"]): i for i in ServingTables().all_items(serving_tables.DAILY_METRICS_SERVING.table)}
    scored = 0
    for day in days:
        expected = expected_scorecard(root, day)
        path = root / "processed/data_quality_daily" / f"date={day}" / "data.parquet"
        if expected is None:
            assert not path.exists() and meta[("data_quality_daily", day)]["dagster/row_count"] == 0
            assert not any(m.startswith("quality_") and d == day for m, d in items)
            continue
        scored += 1
        [row] = pq.read_table(path).to_pylist()
        assert {k: row[k] for k in ("rows_read", "rows_validated", "rows_rejected")} == {
            k: expected[k] for k in ("rows_read", "rows_validated", "rows_rejected")
        }
        assert row["rows_read"] == row["rows_validated"] + row["rows_rejected"]  # nothing lost on the way
        assert json.loads(row["rejected_by_reason"]) == dict(expected["reasons"])
        for dimension in DIMENSIONS:
            assert row[dimension] == expected[dimension], (day, dimension)
            assert float(items[(f"quality_{dimension}", day)]["value"]) == expected[dimension]
            assert meta[("data_quality_daily", day)][dimension] == expected[dimension]
        assert row["timeliness_seconds"] > 0  # landed when the lake was written, published by this run
        assert float(items[("quality_timeliness_seconds", day)]["value"]) == row["timeliness_seconds"]
    assert scored >= 7
    assert any(expected_scorecard(root, d)["completeness"] < 1 for d in days[:7])  # the sample's bad rows count
