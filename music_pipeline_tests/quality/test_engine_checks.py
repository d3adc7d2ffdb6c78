"""The checks on the spark engine (quality/engine_checks.py, engine_sql.py): a day corrupted in every way the
checks that read whole days detect (keys, near duplicates, references, conservation, contract and day) fails
the same checks with the same counts, breakdowns and failing rows on Spark as on DuckDB; the outcomes a Glue
job run sends back arrive unchanged. The Glue path through the Pipes launcher: engines/test_glue.py."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_pipeline.core import registry
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline.quality import catalog, engine_checks, rules
from music_pipeline.quality.engine_sql import SparkSql
from music_pipeline_tests.helpers import run_all_steps

DAY = "2024-06-02"
IDENTITY = ("user_id", "track_id", "listen_time", "genre", "listening_time_ms")


@pytest.fixture(scope="module")
def corrupted_lake(small_sample, tmp_path_factory) -> Path:
    """The sample's day computed by DuckDB, then its validated listens damaged by hand."""
    root = tmp_path_factory.mktemp("engine_checks") / "lake"
    shutil.copytree(small_sample[0], root)
    run_all_steps(root, [DAY])
    path = root / partition_key(registry.VALIDATED_STREAMS.prefix, DAY)
    before = pq.read_table(path)
    rows = before.to_pylist()
    rows[0].update({k: rows[1][k] for k in IDENTITY})  # a copied key (and a near duplicate 0 s apart)
    rows[2]["track_id"] = "no-such-track"  # an unknown reference
    rows[3]["listen_time"] += dt.timedelta(days=1)  # breaks the contract and leaves the day
    del rows[4]  # a listen vanished: bronze rows are no longer validated + rejected
    pq.write_table(pa.Table.from_pylist(rows, schema=before.schema), path)
    return root


def comparable(outcome: rules.Outcome) -> tuple:
    sample = outcome.sample.to_pylist() if outcome.sample is not None else None
    return outcome.check, outcome.passed, outcome.severity, outcome.description, dict(outcome.counts), outcome.breakdown, sample


@pytest.mark.slow  # Spark jobs (~10 s on the shared session)
def test_a_corrupted_day_fails_the_same_checks_with_the_same_rows_on_spark_as_on_duckdb(corrupted_lake, spark_engine):
    lake = Lake(str(corrupted_lake))
    on_duckdb = rules.evaluate("validated_streams", lake, [DAY])
    on_spark = engine_checks.evaluate_on(spark_engine, "validated_streams", lake, [DAY])
    assert {o.engine for o in on_duckdb} == {"duckdb"} and {o.engine for o in on_spark} == {"spark"}
    assert [comparable(o) for o in on_spark] == [comparable(o) for o in on_duckdb]

    failed = {o.check: o for o in on_spark if not o.passed}
    assert set(failed) == {"contract", "rows_in_day", "unique_keys", "rows_conserved", "known_references", "near_duplicates"}
    assert failed["unique_keys"].counts == {"failing_rows": 1, "duplicate_rows": 1}
    assert failed["known_references"].breakdown == {"unknown track_id": 1}
    assert failed["contract"].counts["failing_rows"] == failed["rows_in_day"].counts["failing_rows"] == 1
    assert failed["contract"].sample is not None and failed["contract"].sample.column("row").to_pylist() == [4]
    assert "(1 source files differ)" in failed["rows_conserved"].description


@pytest.mark.slow
def test_bronze_keys_are_proved_from_per_file_tasks_on_spark_as_in_process(corrupted_lake, spark_engine):
    """raw_streams' unique_keys reads each slice's source_line column: in a Spark task per file on the engine."""
    lake = Lake(str(corrupted_lake))
    on_duckdb = rules.evaluate("raw_streams", lake, [DAY])
    on_spark = rules.evaluate("raw_streams", lake, [DAY], sql=SparkSql(lake, spark_engine.session))
    assert [comparable(o) for o in on_spark] == [comparable(o) for o in on_duckdb]
    keys = {o.check: o for o in on_spark}["unique_keys"]
    assert all(o.passed for o in on_spark) and keys.description.endswith("lines in source order")


def test_serving_checks_and_the_duckdb_engine_stay_in_this_process():
    class Engine:
        def __init__(self, name: str):
            self.name = name

    assert engine_checks.on_engine("validated_streams", Engine("spark"))
    assert engine_checks.on_engine("genre_daily_kpis", Engine("glue"))
    assert not engine_checks.on_engine("validated_streams", Engine("duckdb"))
    assert not any(engine_checks.on_engine(asset, Engine("glue")) for asset in registry.SERVING_ASSETS)
    assert set(catalog.CHECKS) - set(registry.SERVING_ASSETS) == {t.name for t in registry.ASSETS}


def test_outcomes_come_back_from_a_glue_job_unchanged(corrupted_lake):
    """What a Glue job run writes (`outcome_to`, samples as Arrow IPC) reads back as the same outcomes, types too."""
    outcomes = rules.evaluate("validated_streams", Lake(str(corrupted_lake)), [DAY])
    back = [engine_checks.outcome_from(engine_checks.outcome_to(o)) for o in outcomes]
    assert [comparable(o) for o in back] == [comparable(o) for o in outcomes]
    for got, want in zip(back, outcomes):
        assert got.engine == want.engine
        if want.sample is not None:
            assert got.sample is not None and got.sample.schema.equals(want.sample.schema)
