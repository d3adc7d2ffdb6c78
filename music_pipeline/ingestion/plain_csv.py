"""The fast path of ingestion (issue 25): a plain CSV delivery read by DuckDB's parallel CSV reader.

A file is plain when the careful reader (csv_reader.py + stream_typing.py) would read every line of it as one
record with nothing to decide: a local `.csv` file (no gzip), no UTF-8 BOM, a header of exactly the required
columns (aliases and case as the careful reader normalizes them; no optional column), and no `"`, CR, NUL byte or
empty line anywhere. Then record i is line i + 2 and the careful reader's only remaining work is typing, which the
SQL (`sql/plain_csv_listens.sql`) does for the one spelling it accepts, `YYYY-MM-DD[ T]HH:MM:SS`.

Every doubt raises `NotPlain` and the caller reads the whole file again with the careful reader, writing nothing
of this attempt: a row the careful reader would reject (another listen_time spelling or an impossible one, a
future or early listen, a wrong field count, bad UTF-8), a line near the record bound, any DuckDB error. So every
rejected row, line number and manifest still comes from the careful reader, and a file this path reads gives the
same bronze rows, in the same order, as the careful reader would (`test_ingest_properties.py` runs both).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pyarrow as pa

from music_pipeline.core import contracts as c
from music_pipeline.core.arrow_compute import pc
from music_pipeline.core.settings import Settings
from music_pipeline.core.sql import load_sql
from music_pipeline.ingestion.csv_reader import normalize_header
from music_pipeline.ingestion.stream_typing import listen_time_bounds
from music_pipeline.ingestion.tables import RAW_STREAMS
from music_pipeline.ingestion.text_lines import BOM, MAX_RECORD_BYTES, UnreadableFile
from music_pipeline.lake.store import Lake

ENABLED = True  # tests turn it off to compare both paths
SCAN_BYTES = 8 << 20
BATCH_ROWS = 1 << 20
NOT_PLAIN_BYTES = (b'"', b"\r", b"\x00")
PREFETCH_BATCHES = 1
_END = object()
LINE_MARGIN = 64  # a record this close to the record bound goes to the careful reader


class NotPlain(Exception):
    """The file is not one the fast path reads exactly as the careful reader would."""


def plain_columns(path: str) -> tuple[list[str], int] | None:
    """The header's column names (normalized, in file order) and the number of records after it when the file at
    `path` is plain as far as bytes tell, else None. Empty lines are found later: a file whose records DuckDB reads
    are fewer than its lines has one (counting newlines costs a tenth of searching for two in a row)."""
    with open(path, "rb") as stream:
        data = stream.read(SCAN_BYTES)
        header_end = data.find(b"\n")
        if data.startswith(BOM) or header_end <= 0:
            return None
        try:
            names = normalize_header(data[:header_end].decode("utf-8").split(","), c.STREAM_COLUMN_ALIASES)
        except (UnicodeDecodeError, UnreadableFile):
            return None
        if sorted(names) != sorted(c.STREAM_REQUIRED_COLUMNS):
            return None
        newlines, last = 0, b""
        while data:
            if any(pattern in data for pattern in NOT_PLAIN_BYTES):
                return None
            newlines += data.count(b"\n")
            last, data = data[-1:], stream.read(SCAN_BYTES)
    lines = newlines + (last != b"\n")
    return names, lines - 1


_SCANS: dict[str, Future] = {}  # path -> its `plain_columns`, started by `scanned_alongside`
_SCANS_LOCK = threading.Lock()


@contextmanager
def scanned_alongside(lake: Lake, key: str) -> Iterator[None]:
    """Within the block the byte scan of `key` (`plain_columns`) runs in a thread from the start, overlapping what
    the caller reads the file for meanwhile (its SHA-256: hashlib releases the GIL, the scan holds it), and
    `bronze_tables` takes that result for the file instead of scanning again. A 488 MB file: 0.42 s of hashing and
    0.47 s of scanning, one after the other before. Nothing is started for a file the fast path cannot read."""
    path = lake.local_input_path(key) if ENABLED else None
    if path is None or not key.lower().endswith(".csv"):
        yield
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="plain-csv-scan") as pool:
        with _SCANS_LOCK:
            _SCANS[path] = pool.submit(plain_columns, path)
        try:
            yield
        finally:
            with _SCANS_LOCK:
                _SCANS.pop(path, None)


def _plain(path: str) -> tuple[list[str], int] | None:
    with _SCANS_LOCK:
        scan = _SCANS.get(path)
    return scan.result() if scan is not None else plain_columns(path)


def bronze_tables(lake: Lake, source: str, key: str, landed_at: float, start_date: dt.date) -> Iterator[pa.Table]:
    """The bronze rows of landed file `key` (its bytes at `source`), in file order, in batches. Raises NotPlain
    before any batch when the file is not plain, and after some when a record would not be a bronze row of the
    careful reader (the caller throws those batches away)."""
    path = lake.local_input_path(source) if ENABLED else None
    if path is None or not (key.lower().endswith(".csv") and source.lower().endswith(".csv")):
        raise NotPlain("not a local .csv file")
    plain = _plain(path)
    if plain is None:
        raise NotPlain("not a plain CSV file")
    names, records = plain
    return _prefetched(_read(path, names, records, key, *listen_time_bounds(landed_at, start_date)))


def _read(path: str, names: list[str], records: int, key: str, start_us: int, limit_us: int) -> Iterator[pa.Table]:
    import duckdb  # here: the Glue job imports bronze with pyarrow only (infra/cloudformation.yaml), and reads S3

    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
    con = duckdb.connect(config={"preserve_insertion_order": True})  # record i is line i + 2
    try:
        con.execute("SET TimeZone = 'UTC'")
        memory_limit = _memory_limit()
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        quoted = "'" + path.replace("'", "''") + "'"
        reader = con.sql(load_sql("plain_csv_listens", path=quoted, columns=columns)).to_arrow_reader(BATCH_ROWS)
        line = 2
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                if line - 2 != records:  # DuckDB skips empty lines: the careful reader rejects them, by line
                    raise NotPlain(f"{line - 2} records read from {records} lines after the header (an empty line)") from None
                return
            table = _bronze(batch, key, line, start_us, limit_us)
            line += table.num_rows
            yield table
    except duckdb.Error as exc:  # a field count, bad UTF-8, an overlong line, ...: the careful reader says which
        raise NotPlain(f"DuckDB: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()


def _prefetched(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """`tables` read one batch ahead in a thread: DuckDB parses the next batch while the caller writes this one
    (both release the GIL). Errors, NotPlain included, reach the caller in order; closing stops the reading."""
    ready: queue.Queue = queue.Queue(maxsize=PREFETCH_BATCHES)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for table in tables:
                if not put(table):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)
        finally:
            getattr(tables, "close", lambda: None)()

    reader = threading.Thread(target=produce, name="plain-csv-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _memory_limit() -> str | None:
    try:
        return Settings.from_env().duckdb_memory_limit
    except ValueError:  # a bad setting is reported where it matters (the engine), not by ingestion
        return None


def _bronze(batch: pa.RecordBatch, source_file: str, first_line: int, start_us: int, limit_us: int) -> pa.Table:
    n = batch.num_rows
    if n == 0:
        return RAW_STREAMS.contract.empty_table()
    listen_time = batch.column("listen_time").cast(pa.timestamp("us"))
    if listen_time.null_count:
        raise NotPlain("a listen_time not spelled YYYY-MM-DD[ T]HH:MM:SS or not a real instant")
    micros = listen_time.cast(pa.int64())
    bounds = pc.min_max(micros)
    if bounds["min"].as_py() < start_us or bounds["max"].as_py() > limit_us:
        raise NotPlain("a listen before the start date or later than the landing time + 24 h")
    user_id, track_id = batch.column("user_id").cast(pa.string()), batch.column("track_id").cast(pa.string())
    widest = pc.max(pc.add(pc.binary_length(user_id), pc.binary_length(track_id))).as_py()
    if widest + 21 > MAX_RECORD_BYTES - LINE_MARGIN:
        raise NotPlain("a line near the record bound")
    return pa.table(
        {
            "date": listen_time.cast(pa.date32()),
            "user_id": user_id,
            "track_id": track_id,
            "listen_time": listen_time,
            "listen_duration_ms": pa.nulls(n, pa.int64()),
            "stream_id": pa.nulls(n, pa.string()),
            "completed": pa.nulls(n, pa.bool_()),
            "device_type": pa.repeat(pa.scalar(c.STREAM_UNKNOWN_DEVICE, pa.string()), n),
            "source_file": pa.repeat(pa.scalar(source_file, pa.string()), n),
            "source_line": pa.array(np.arange(first_line, first_line + n, dtype=np.int64)),
        },
        schema=RAW_STREAMS.contract,
    )
