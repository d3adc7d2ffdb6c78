"""Footer screening of the contract check (quality/screening.py): a clean day is proved from its
Parquet footers without a scan; every kind of violation falls back to the scan, which still fails."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_pipeline.core import registry as tables
from music_pipeline.ingestion.tables import RAW_STREAMS
from music_pipeline.kpis.models import PlatformUsageDaily
from music_pipeline.kpis.tables import PLATFORM_USAGE_DAILY
from music_pipeline.lake.store import Lake
from music_pipeline.quality import generic, screening
from music_pipeline.validation.models import ValidatedStreams
from music_pipeline.validation.tables import VALIDATED_STREAMS

DAY = "2024-06-01"


def _rows(n: int = 50) -> dict:
    base = dt.datetime(2024, 6, 1, 0, 0, 0)
    return {
        "date": [dt.date(2024, 6, 1)] * n,
        "user_id": [f"u{k % 7}" for k in range(n)],
        "track_id": [f"t{k}" for k in range(n)],
        "listen_time": [base + dt.timedelta(minutes=20 * k) for k in range(n)],
        "genre": ["rock"] * n,
        "listening_time_ms": [1000 + k for k in range(n)],
        "stream_id": [None] * n,
        "completed": [None] * n,
        "device_type": ["mobile"] * n,
        "source_file": ["raw/streams/a.csv"] * n,
        "source_line": list(range(2, n + 2)),
    }


def _write(lake: Lake, rows: dict, **options) -> list[str]:
    key = tables.VALIDATED_STREAMS.day_key(DAY)
    path = lake.local_path(key)
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.table(rows, schema=VALIDATED_STREAMS.contract), path, row_group_size=10, **options)
    return [key]


def _proved(lake: Lake, keys: list[str]) -> int | None:
    schema = generic._batch_schema(ValidatedStreams)
    return screening.proves(lake, schema, VALIDATED_STREAMS.contract, keys, DAY)


def test_a_clean_day_is_proved_from_its_footers(tmp_path):
    lake = Lake(str(tmp_path))
    keys = _write(lake, _rows())
    assert _proved(lake, keys) == 50
    scan = generic.scan_contract(lake, ValidatedStreams, keys, DAY, VALIDATED_STREAMS.contract)
    assert (scan.rows, scan.failing_rows, scan.out_of_day) == (50, 0, 0)


def _set(column: str, index: int, value):
    def change(rows: dict) -> dict:
        rows[column][index] = value
        return rows

    return change


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (_set("user_id", 33, ""), "user_id: str_length"),
        (_set("listening_time_ms", 7, -1), "listening_time_ms: greater_than_or_equal_to"),
        (_set("source_line", 48, 0), "source_line: greater_than_or_equal_to"),
        (_set("genre", 12, None), "genre: not_nullable"),
        (_set("date", 21, dt.date(2024, 6, 2)), "(row): date is not the UTC day"),
    ],
)
def test_a_violation_is_not_proved_and_the_scan_reports_it(tmp_path, change, rule):
    lake = Lake(str(tmp_path))
    keys = _write(lake, change(_rows()))
    assert _proved(lake, keys) is None
    scan = generic.scan_contract(lake, ValidatedStreams, keys, DAY, VALIDATED_STREAMS.contract)
    assert scan.failing_rows == 1
    assert any(key.startswith(rule) for key in scan.failures), scan.failures


def test_rows_of_another_day_are_not_proved_for_this_day(tmp_path):
    lake = Lake(str(tmp_path))
    rows = _rows()
    rows["date"] = [dt.date(2024, 6, 2)] * 50
    rows["listen_time"] = [t + dt.timedelta(days=1) for t in rows["listen_time"]]
    keys = _write(lake, rows)
    assert _proved(lake, keys) is None
    scan = generic.scan_contract(lake, ValidatedStreams, keys, DAY, VALIDATED_STREAMS.contract)
    assert scan.out_of_day == 50 and not scan.failures


def test_files_without_statistics_or_with_another_schema_are_scanned(tmp_path):
    lake = Lake(str(tmp_path))
    keys = _write(lake, _rows(), write_statistics=False)
    assert _proved(lake, keys) is None
    assert generic.scan_contract(lake, ValidatedStreams, keys, DAY, VALIDATED_STREAMS.contract).rows == 50
    key = keys[0]
    table = pq.read_table(lake.local_path(key))
    pq.write_table(table.set_column(10, "source_line", table.column("source_line").cast(pa.int32())), lake.local_path(key))
    assert _proved(lake, keys) is None


def test_a_rule_the_footers_cannot_decide_is_scanned(tmp_path):
    # platform_usage_daily's `dimension` has an `isin` rule: min/max cannot prove membership
    lake = Lake(str(tmp_path))
    key = tables.PLATFORM_USAGE_DAILY.day_key(DAY)
    import os

    os.makedirs(os.path.dirname(lake.local_path(key)), exist_ok=True)
    rows = {
        "date": [dt.date(2024, 6, 1)],
        "dimension": ["device_type"],
        "value": ["mobile"],
        "listen_count": [3],
        "unique_listeners": [2],
        "total_listening_time_ms": [10],
        "listen_share": [1.0],
    }
    pq.write_table(pa.table(rows, schema=PLATFORM_USAGE_DAILY.contract), lake.local_path(key))
    schema = generic._batch_schema(PlatformUsageDaily)
    assert screening.proves(lake, schema, PLATFORM_USAGE_DAILY.contract, [key], DAY) is None


def _bronze(lake: Lake, slices: dict[str, tuple[str, list[int]]]) -> list[str]:
    """Bronze slices of DAY: {slice name: (source_file, source lines)}."""
    import os

    keys = []
    for name, (source, lines) in slices.items():
        n = len(lines)
        rows = {
            "date": [dt.date(2024, 6, 1)] * n,
            "user_id": ["u1"] * n,
            "track_id": ["t1"] * n,
            "listen_time": [dt.datetime(2024, 6, 1, 1, 0, k) for k in range(n)],
            "listen_duration_ms": [None] * n,
            "stream_id": [None] * n,
            "completed": [None] * n,
            "device_type": ["unknown"] * n,
            "source_file": [source] * n,
            "source_line": lines,
        }
        key = f"{tables.RAW_STREAMS.prefix}/date={DAY}/file={name}.parquet"
        os.makedirs(os.path.dirname(lake.local_path(key)), exist_ok=True)
        pq.write_table(pa.table(rows, schema=RAW_STREAMS.contract), lake.local_path(key), row_group_size=3)
        keys.append(key)
    return keys


@pytest.mark.parametrize(
    ("slices", "proved", "passes"),
    [
        ({"a": ("raw/a.csv", [2, 3, 5, 9]), "b": ("raw/b.csv", [2, 3])}, True, True),
        ({"a": ("raw/a.csv", [2, 3, 3, 9])}, False, False),  # a line twice: the full check fails
        ({"a": ("raw/a.csv", [2, 3]), "b": ("raw/a.csv", [4, 5])}, False, True),  # one source file in two slices
        ({"a": ("raw/a.csv", [5, 3, 9])}, False, True),  # not in source order: decided by the full check
        # row groups of 3 lines, each in order, read one at a time: the order across them counts too
        ({"a": ("raw/a.csv", [2, 3, 5, 4, 6, 7])}, False, True),
        ({"a": ("raw/a.csv", [2, 3, 5, 5, 6])}, False, False),
    ],
)
def test_bronze_keys_are_proved_unique_only_in_source_order(tmp_path, slices, proved, passes):
    from music_pipeline.quality import rules

    lake = Lake(str(tmp_path))
    keys = _bronze(lake, slices)
    assert screening.source_order_unique(lake, keys) is proved
    (outcome,) = rules.evaluate("raw_streams", lake, [DAY], only={"unique_keys"})
    assert outcome.passed is passes
