"""The listens of a day that repeat their (user, track) pair's previous listen (near_duplicates and unique_keys
of validated_streams): `materialize_repeated_listens` leaves them in the temporary table `repeated_listens`.

Ordering the whole day with its strings is what costs, so it is done in two stages. The first finds candidates:
listens that may repeat their pair's previous one, each with every listen of its pair between the two. The
second (quality/sql/repeated_listens.sql) orders only the candidates with their strings and keeps the exact
repeats. In this process the first stage sorts one 64-bit key per listen in numpy (quality/sql/listen_keys.sql:
the pair's hash, then the second); a 10M-listen day sorts in ~0.1 s, where a window over the same two values
takes DuckDB ~1 s. On Spark, and for a day too large to hold its keys here, the engine's own windows find them
(quality/sql/repeat_candidates_by_window.sql).

Exact whatever the hash does: along one pair the key never decreases as time goes on, and two listens less
than `seconds` apart have keys at most `seconds` apart, so in the sorted keys every step from a listen's key to
that of its close predecessor is at most `seconds`: both, and every key between them, are candidates. Pairs
sharing the hash's upper bits, and seconds held at either end of the key's range, only add candidates.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from music_pipeline.core.sorting import sorted_values
from music_pipeline.core.sql import load_sql
from music_pipeline.quality.reading import Queries

SECOND_BITS = 24  # the lower bits of a listen key: the second, counted from 2^23 s (~97 days) before the day starts
SORTED_KEYS_MAX_ROWS = 60_000_000  # 8 bytes a listen, two arrays of them at once: at most ~1 GB in this process
BLOCK = 1 << 20


def materialize_repeated_listens(sql: Queries, day: str, rows: int, seconds: int) -> None:
    """The temporary table `repeated_listens` of the day (`rows` validated listens, in the view
    validated_streams): each listen that repeats its pair's previous listen by less than `seconds` seconds or
    copies its time, with that previous time and `is_copy`."""
    if sql.distributed or rows > SORTED_KEYS_MAX_ROWS:
        sql.define("repeat_candidates", load_sql("repeat_candidates_by_window", seconds=seconds))
    else:
        _candidates_by_sorted_keys(sql, day, seconds)
    sql.materialize("repeated_listens", load_sql("repeated_listens", seconds=seconds))


def _candidates_by_sorted_keys(sql: Queries, day: str, seconds: int) -> None:
    """The view `repeat_candidates`: the listens whose key (listen_keys.sql) is within `seconds` of the key
    before or after it in the sorted keys of the day."""
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)
    first_us = (int(start.timestamp()) - 2 ** (SECOND_BITS - 1)) * 1_000_000
    last_second = 2**SECOND_BITS - 1
    sql.define("listen_keys", load_sql("listen_keys", first_us=first_us, second_bits=SECOND_BITS, last_second=last_second))
    keys = sorted_values(sql.query("SELECT listen_key FROM listen_keys").column(0))
    close = np.zeros(len(keys), dtype=bool)
    for first in range(0, len(keys), BLOCK):  # the steps a block at a time: no second array of the day's size
        steps = first + np.flatnonzero(np.diff(keys[first : first + BLOCK + 1]) <= seconds)  # key i + 1 near key i
        close[steps] = True
        close[steps + 1] = True
    sql.table("close_listen_keys", pa.table({"listen_key": keys[close]}))
    sql.define("repeat_candidates", load_sql("repeat_candidates_by_key"))
