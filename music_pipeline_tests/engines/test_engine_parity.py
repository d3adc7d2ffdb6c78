"""Differential test: the generated sample through the duckdb and spark engines, in two separate
lakes, gives identical validated rows, rejected rows and gold tables."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from music_pipeline.core import layout, registry
from music_pipeline.core.specs import ValidatingStep
from music_pipeline.engines.duckdb import DuckDBEngine
from music_pipeline_tests.helpers import read_all, run_all_steps

# every table an engine writes: each step's table and its rejects (the engagement, artist and platform KPIs included)
TABLES = tuple(
    t.prefix for step in registry.steps().values() for t in (step, *([step.rejects] if isinstance(step, ValidatingStep) else []))
)


@pytest.fixture(scope="module")
def both_engines(small_sample, spark_engine, tmp_path_factory):
    src, summary = small_sample
    lakes = {}
    for name, engine in (("duckdb", DuckDBEngine()), ("spark", spark_engine)):
        root = tmp_path_factory.mktemp(f"parity_{name}")
        shutil.copytree(src / "raw", root / "raw")
        with open(root / layout.RAW_USERS, "a") as fh:  # the sample's users.csv has no bad row
            fh.write("u00001,again,33,US,2020-01-01 00:00:00\n ,blank,20,US,2020-01-01 00:00:00\nu99,x\n")
        run_all_steps(root, summary.days, engine)
        lakes[name] = root
    return lakes, summary


def frame(root, table) -> pd.DataFrame:
    df = read_all(root, table).to_pandas()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_and_spark_give_identical_tables(both_engines, table):
    lakes, summary = both_engines
    duck, spark = frame(lakes["duckdb"], table), frame(lakes["spark"], table)
    assert len(duck) > 0
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)


def test_both_engines_publish_the_same_files_and_schemas(both_engines):
    lakes, summary = both_engines
    for table in TABLES:
        duck = read_all(lakes["duckdb"], table)
        spark = read_all(lakes["spark"], table)
        assert duck.schema.equals(spark.schema), table
    listing = {
        name: sorted(str(p.relative_to(root)) for t in TABLES for p in (root / t).rglob("*.parquet"))
        for name, root in lakes.items()
    }
    assert listing["duckdb"] == listing["spark"]
    assert {f"{registry.GENRE_DAILY_KPIS.prefix}/date={d}/data.parquet" for d in summary.days} <= set(listing["duckdb"])
