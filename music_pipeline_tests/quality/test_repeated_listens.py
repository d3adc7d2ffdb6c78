"""The repeated listens of a day (`quality/repeats.py`: near_duplicates and unique_keys of validated_streams)
against a plain Python oracle, on random days (Hypothesis): every listen closer than the threshold to its pair's
previous one, or an exact copy of its key, with that previous listen's time, and no other.

Both ways of finding the candidates run: the numpy sort of listen keys (this process) and the engine's windows
(Spark, and days too large to sort here). Each orders the day by a hash of the pair first, and claims to be exact
whatever the hash does, so the same days also run with the hash replaced by a constant (every pair shares it) and
by the user id's length (some pairs share it). Times far from the day (beyond the ~97 days a listen key counts)
are drawn too: the key holds them at its ends.
"""

from __future__ import annotations

import datetime as dt
import tempfile

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from music_pipeline.core import sql as sql_files
from music_pipeline.lake.store import Lake
from music_pipeline.quality import repeats
from music_pipeline.quality.reading import Sql

SECONDS = 5
DAY = "2024-06-01"
HASHES = {
    "the hash": None,
    "every pair sharing one hash": "0",
    "pairs sharing a hash by the user id's length": "(CAST(LENGTH({user}) AS UBIGINT) << 40)",
}
PAIR_HASHES = {"HASH(user_id, track_id)": "user_id", "HASH(v.user_id, v.track_id)": "v.user_id"}
WAYS = ("sorted keys", "windows")
START = dt.datetime(2024, 6, 1, 12, 0, 0)
LAKE = Lake(tempfile.gettempdir())  # the queries read only the table the test registers


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


def _run(rows: list[dict], hash_expression: str | None, way: str, monkeypatch: pytest.MonkeyPatch) -> set[tuple]:
    schema = pa.schema(
        [
            ("user_id", pa.string()),
            ("track_id", pa.string()),
            ("listen_time", pa.timestamp("us")),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    )

    def load_sql(name: str, **params: object) -> str:
        text = sql_files.load_sql(name, **params)
        if hash_expression is not None:
            for pair_hash, user in PAIR_HASHES.items():
                text = text.replace(pair_hash, hash_expression.format(user=user))
        return text

    monkeypatch.setattr(repeats, "load_sql", load_sql)
    monkeypatch.setattr(repeats, "SORTED_KEYS_MAX_ROWS", len(rows) if way == "sorted keys" else len(rows) - 1)
    monkeypatch.setattr(repeats, "BLOCK", 3)  # the sorted keys' steps are taken a block at a time: many blocks here
    with Sql(LAKE) as sql:
        sql.table("validated_streams", pa.Table.from_pylist(rows, schema=schema))
        repeats.materialize_repeated_listens(sql, DAY, len(rows), SECONDS)
        return set(sql.con.execute("SELECT * FROM repeated_listens").fetchall())


def test_the_hash_is_replaced_wherever_the_queries_use_it():
    """The queries name the pair's hash only as the test replaces it."""
    for name in ("listen_keys", "repeat_candidates_by_window"):
        text = sql_files.load_sql(name, seconds=SECONDS, first_us=0, second_bits=24, last_second=2**24 - 1)
        assert text.count("HASH(") == sum(text.count(h) for h in PAIR_HASHES) > 0, name


listen = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from(["u1", "u22", "u333", "u4"]),
        "track_id": st.sampled_from(["t1", "t2", "t3"]),
        # half a minute of times, to the half second, so that gaps around the threshold and copies are common; now
        # and then as far from the day as the listen key's ends (2^23 s) or beyond
        "listen_time": st.one_of(
            st.none(),
            st.builds(
                lambda far, half_seconds: START + dt.timedelta(days=far, seconds=half_seconds / 2),
                st.sampled_from([0, 0, 0, 0, -98, 97, 200]),
                st.integers(0, 60),
            ),
        ),
        "source_file": st.sampled_from(["raw/streams/a.csv", "raw/streams/b.csv"]),
    }
)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("hash_expression", list(HASHES.values()), ids=list(HASHES))
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(listens=st.lists(listen, max_size=60))
def test_repeated_listens_are_exactly_the_oracles(hash_expression, way, listens, monkeypatch):
    rows = [{**row, "source_line": line} for line, row in enumerate(listens, start=2)]
    assert _run(rows, hash_expression, way, monkeypatch) == _oracle(rows)


@pytest.mark.parametrize("way", WAYS)
def test_a_chain_of_close_listens_is_found_across_another_pair_sharing_the_hash(way, monkeypatch):
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
        assert _run(rows, hash_expression, way, monkeypatch) == expected


@pytest.mark.parametrize("way", WAYS)
def test_a_repeat_across_more_whole_seconds_than_its_gap_is_found(way, monkeypatch):
    """4.5 s after a listen at 0.5 s is second 5 of the key, as far as the threshold: still a repeat; 5 s after
    it is not."""
    at = lambda s: START + dt.timedelta(seconds=s)  # noqa: E731
    rows = [
        {"user_id": "a", "track_id": "t", "listen_time": at(0.5), "source_file": "f", "source_line": 2},
        {"user_id": "a", "track_id": "t", "listen_time": at(5), "source_file": "f", "source_line": 3},
        {"user_id": "a", "track_id": "t", "listen_time": at(10), "source_file": "f", "source_line": 4},
    ]
    expected = {("a", "t", at(5), "f", 3, at(0.5), False)}
    assert _oracle(rows) == expected
    assert _run(rows, None, way, monkeypatch) == expected
