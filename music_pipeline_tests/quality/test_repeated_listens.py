"""`quality/sql/repeated_listens.sql` (near_duplicates and unique_keys of validated_streams) against a plain
Python oracle, on random days (Hypothesis): every listen closer than the threshold to its pair's previous one, or
an exact copy of its key, with that previous listen's time, and no other.

The query orders the day by a hash of the pair first and re-orders only the listens that ordering puts close
together. Its claim is to be exact whatever the hash does, so the same days also run with the hash replaced
by a constant (every pair shares it) and by the user id's length (some pairs share it).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from music_pipeline.core.sql import load_sql

SECONDS = 5
PAIR_HASH = "HASH(user_id, track_id)"
JOINED_PAIR_HASH = "HASH(v.user_id, v.track_id)"
HASHES = {
    "the hash": None,
    "every pair sharing one hash": "0",
    "pairs sharing a hash by the user id's length": "LENGTH({user})",
}
START = dt.datetime(2024, 6, 1, 12, 0, 0)


def _query(hash_expression: str | None) -> str:
    sql = load_sql("repeated_listens", seconds=SECONDS)
    assert sql.count(PAIR_HASH) == 1 and sql.count(JOINED_PAIR_HASH) == 1  # the test replaces both
    if hash_expression is None:
        return sql
    return sql.replace(PAIR_HASH, hash_expression.format(user="user_id")).replace(
        JOINED_PAIR_HASH, hash_expression.format(user="v.user_id")
    )


def _oracle(rows: list[dict]) -> set[tuple]:
    """Each pair's listens in (time, file, line) order, missing times last; a listen is reported when it copies
    the previous one's time or follows it by less than SECONDS."""
    by_pair: dict[tuple, list[dict]] = {}
    for row in rows:
        by_pair.setdefault((row["user_id"], row["track_id"]), []).append(row)
    found = set()
    for listens in by_pair.values():
        listens.sort(key=lambda r: (r["listen_time"] is None, r["listen_time"] or START, r["source_file"], r["source_line"]))
        for previous, row in zip(listens, listens[1:]):
            t, p = row["listen_time"], previous["listen_time"]
            is_copy = t == p
            if is_copy or (t is not None and p is not None and (t - p) < dt.timedelta(seconds=SECONDS)):
                found.add((row["user_id"], row["track_id"], t, row["source_file"], row["source_line"], p, is_copy))
    return found


def _run(rows: list[dict], hash_expression: str | None) -> set[tuple]:
    schema = pa.schema(
        [
            ("user_id", pa.string()),
            ("track_id", pa.string()),
            ("listen_time", pa.timestamp("us")),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("validated_streams", pa.Table.from_pylist(rows, schema=schema))
        return set(con.execute(_query(hash_expression)).fetchall())
    finally:
        con.close()


listen = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from(["u1", "u22", "u333", "u4"]),
        "track_id": st.sampled_from(["t1", "t2", "t3"]),
        # a few minutes of times, to the half second, so that gaps around the threshold and copies are common
        "listen_time": st.one_of(
            st.none(), st.integers(0, 600).map(lambda half_seconds: START + dt.timedelta(seconds=half_seconds / 2))
        ),
        "source_file": st.sampled_from(["raw/streams/a.csv", "raw/streams/b.csv"]),
    }
)


@pytest.mark.parametrize("hash_expression", list(HASHES.values()), ids=list(HASHES))
@settings(max_examples=60, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(listens=st.lists(listen, max_size=60))
def test_repeated_listens_are_exactly_the_oracles(hash_expression, listens):
    rows = [{**row, "source_line": line} for line, row in enumerate(listens, start=2)]
    assert _run(rows, hash_expression) == _oracle(rows)


def test_a_chain_of_close_listens_is_found_across_another_pair_sharing_the_hash():
    """Pair A at 0 s and 4 s with pair B at 2 s between them in the hash's order (every pair shares the hash):
    A's second listen is 4 s after A's first, not 2 s after B's."""
    at = lambda s: START + dt.timedelta(seconds=s)  # noqa: E731
    rows = [
        {"user_id": "a", "track_id": "t", "listen_time": at(0), "source_file": "f", "source_line": 2},
        {"user_id": "b", "track_id": "t", "listen_time": at(2), "source_file": "f", "source_line": 3},
        {"user_id": "a", "track_id": "t", "listen_time": at(4), "source_file": "f", "source_line": 4},
        {"user_id": "b", "track_id": "t", "listen_time": at(9), "source_file": "f", "source_line": 5},
        {"user_id": "a", "track_id": "t", "listen_time": at(4), "source_file": "f", "source_line": 6},
    ]
    expected = {("a", "t", at(4), "f", 4, at(0), False), ("a", "t", at(4), "f", 6, at(4), True)}
    assert _oracle(rows) == expected
    for hash_expression in HASHES.values():
        assert _run(rows, hash_expression) == expected
