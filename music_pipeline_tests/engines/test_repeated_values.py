"""Views of repeated values (`plan.repeated`): the DuckDB engine's numpy sort finds exactly the values the view's
GROUP BY finds, and gives the view back to the GROUP BY when the values are too many or include a null."""

from __future__ import annotations

import collections

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_pipeline.engines import duckdb as duckdb_engine
from music_pipeline.engines.plan import repeated

VIEW = repeated("repeated_numbers", "SELECT number AS value FROM numbers")


def _connection(numbers: list[int | None]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("numbers", pa.table({"number": pa.array(numbers, pa.uint64())}))
    return con


def _values(con: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    return sorted(value for (value,) in con.execute(sql).fetchall())


@settings(max_examples=80, derandomize=True, deadline=None, database=None)
@given(numbers=st.lists(st.one_of(st.integers(0, 20), st.integers(0, 2**64 - 1)), max_size=80))
def test_the_sorted_repeats_are_the_group_bys(numbers):
    expected = sorted(n for n, times in collections.Counter(numbers).items() if times > 1)
    con = _connection(numbers)
    try:
        assert _values(con, VIEW.sql) == expected  # the view's own SQL (Spark runs it; DuckDB beyond the limit)
        assert duckdb_engine._register_repeated(con, VIEW)
        assert _values(con, f"SELECT value FROM {VIEW.name}") == expected
    finally:
        con.close()


@pytest.mark.parametrize("limit, numbers", [(3, [1, 2, 2, 3]), (10, [1, 1, None])], ids=["too many", "a null"])
def test_too_many_values_or_a_null_leave_the_view_to_its_group_by(monkeypatch, limit, numbers):
    monkeypatch.setattr(duckdb_engine, "SORTED_VALUES_MAX_ROWS", limit)
    con = _connection(numbers)
    try:
        assert not duckdb_engine._register_repeated(con, VIEW)
        with pytest.raises(duckdb.CatalogException):
            con.execute(f"SELECT * FROM {VIEW.name}").fetchall()
    finally:
        con.close()
