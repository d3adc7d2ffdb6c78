"""Typing a batch of landed text fields into bronze rows (docs/design.md section 3): the strict ISO-8601 parser of
listen_time, durations, completed flags and device types, and the row-level rejects with their reasons.
Vectorized over Arrow/NumPy arrays: a 10M-row file is typed without a Python loop per row."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from music_pipeline.core import contracts as c
from music_pipeline.core.arrow_compute import pc
from music_pipeline.core.contracts import Reason
from music_pipeline.ingestion.csv_reader import TextBatch
from music_pipeline.ingestion.tables import INGEST_REJECTS, RAW_STREAMS

# Accepted listen_time spellings (docs/design.md section 3): YYYY-MM-DD, `T` or a space, HH:MM:SS, an
# optional fraction of 1-9 digits (kept to the microsecond, truncated), an optional offset `Z`,
# `+HH:MM` or `+HHMM` (`-` too); no offset means UTC. Every field is range-checked against the
# calendar (no Sep 31, Feb 29 only in leap years, hour <= 23, minute and second <= 59), so the same
# instant gives the same value in any spelling and an impossible one is never moved to another day.
TIME_WIDTH = 36  # longer than the longest accepted spelling (35 characters)
_DIGIT = np.arange(48, 58, dtype=np.uint8)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_MIN_US = -62135596800 * 1_000_000  # 0001-01-01T00:00:00 UTC
_MAX_US = 253402300799 * 1_000_000 + 999_999  # 9999-12-31T23:59:59.999999 UTC


def parse_listen_time(text: pa.Array) -> pa.Array:
    """ISO-8601 text -> naive UTC timestamp[us]; null where not an accepted spelling of a real instant."""
    n = len(text)
    if n == 0:
        return pa.array([], pa.timestamp("us"))
    text = pc.utf8_trim_whitespace(text.cast(pa.string()))
    length = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    usable = pc.fill_null(pc.and_(pc.string_is_ascii(text), pc.less_equal(pc.binary_length(text), TIME_WIDTH)), False).to_numpy(
        zero_copy_only=False
    )
    fixed = pc.utf8_rpad(pc.if_else(pa.array(usable), text, pa.scalar("", pa.string())), TIME_WIDTH, " ")
    fixed = fixed.combine_chunks() if isinstance(fixed, pa.ChunkedArray) else fixed
    offsets = np.frombuffer(fixed.buffers()[1], np.int32)[fixed.offset : fixed.offset + n + 1]
    raw = np.frombuffer(fixed.buffers()[2], np.uint8)[offsets[0] : offsets[0] + n * TIME_WIDTH].reshape(n, TIME_WIDTH)
    ok = usable & (length >= 19)
    digit = (raw >= 48) & (raw <= 57)

    def number(a: int, b: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        for i in range(a, b):
            out = out * 10 + (raw[:, i].astype(np.int64) - 48)
        return out

    for i in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        ok &= digit[:, i]
    ok &= (raw[:, 4] == 45) & (raw[:, 7] == 45) & ((raw[:, 10] == 84) | (raw[:, 10] == 32))
    ok &= (raw[:, 13] == 58) & (raw[:, 16] == 58)
    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    hour, minute, second = number(11, 13), number(14, 16), number(17, 19)
    # fraction: "." then 1-9 digits
    rows = np.arange(n)
    has_fraction = raw[:, 19] == 46
    micros = np.zeros(n, dtype=np.int64)
    zone = np.full(n, 19, dtype=np.int64)
    if has_fraction.any():
        run = np.zeros(n, dtype=np.int64)  # leading digits after the dot
        alive = has_fraction.copy()
        for k in range(9):
            alive &= digit[:, 20 + k]
            run += alive
        ok &= ~has_fraction | (run >= 1)
        for k in range(6):
            micros = micros * 10 + np.where(run > k, raw[:, 20 + k].astype(np.int64) - 48, 0)
        zone = np.where(has_fraction, 20 + run, 19)
    rest = length - zone
    ok &= rest >= 0
    offset = np.zeros(n, dtype=np.int64)
    if (rest > 0).any():
        col = lambda j: raw[rows, np.minimum(zone + j, TIME_WIDTH - 1)]  # noqa: E731
        dig = lambda j: digit[rows, np.minimum(zone + j, TIME_WIDTH - 1)]  # noqa: E731
        val = lambda j: col(j).astype(np.int64) - 48  # noqa: E731
        z = col(0)
        signed = (z == 43) | (z == 45)
        colon = signed & (rest == 6) & dig(1) & dig(2) & (col(3) == 58) & dig(4) & dig(5)
        compact = signed & (rest == 5) & dig(1) & dig(2) & dig(3) & dig(4)
        ok &= (rest == 0) | ((rest == 1) & (z == 90)) | colon | compact
        off_h = val(1) * 10 + val(2)
        off_m = np.where(colon, val(4) * 10 + val(5), val(3) * 10 + val(4))
        offset = np.where(colon | compact, np.where(z == 45, -1, 1) * (off_h * 60 + off_m), 0)
        ok &= (off_h <= 23) | ~signed
        ok &= (off_m <= 59) | ~signed
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 1)] + ((month == 2) & leap)
    ok &= (year >= 1) & month_ok & (day >= 1) & (day <= last_day) & (hour <= 23) & (minute <= 59) & (second <= 59)
    seconds = _days_from_civil(year, np.where(month_ok, month, 1), day) * 86_400 + hour * 3600 + minute * 60 + second
    value = (seconds - offset * 60) * 1_000_000 + micros
    ok &= (value >= _MIN_US) & (value <= _MAX_US)
    return pa.array(np.where(ok, value, 0), pa.int64(), mask=~ok).cast(pa.timestamp("us"))


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), vectorized."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


_DURATION = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def parse_duration_ms(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`duration` seconds text -> int64 ms (null when blank) and a mask of invalid values: not a
    decimal number, or outside 0 <= seconds <= STREAM_DURATION_MAX_SECONDS (1e20 and inf included)."""
    text = pc.utf8_trim_whitespace(text.cast(pa.string()))
    present = pc.fill_null(pc.greater(pc.binary_length(text), 0), False)
    number = pc.fill_null(pc.match_substring_regex(text, _DURATION), False)
    seconds = pc.cast(pc.if_else(number, text, pa.scalar(None, pa.string())), pa.float64())
    values = pc.fill_null(seconds, np.nan).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        in_range = (values >= 0) & (values <= c.STREAM_DURATION_MAX_SECONDS)
    present = present.to_numpy(zero_copy_only=False)
    invalid = present & ~in_range
    ms = np.rint(np.where(in_range, values, 0) * 1000).astype(np.int64)
    return pa.array(ms, pa.int64(), mask=~(present & in_range)), invalid


def parse_completed(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """true/false, 1/0, yes/no, t/f (any case, blanks around ignored) -> bool; blank -> null (unknown);
    anything else -> invalid."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(text.cast(pa.string())))
    true = pc.is_in(text, value_set=pa.array(c.STREAM_COMPLETED_TRUE))
    false = pc.is_in(text, value_set=pa.array(c.STREAM_COMPLETED_FALSE))
    blank = pc.fill_null(pc.equal(text, ""), True)
    known = pc.or_(true, false)
    invalid = pc.and_(pc.invert(known), pc.invert(blank)).to_numpy(zero_copy_only=False)
    return pc.if_else(known, true, pa.scalar(None, pa.bool_())), invalid


def _text(cols: dict[str, pa.Array], name: str, n: int) -> pa.Array:
    return cols[name] if name in cols else pa.nulls(n, pa.string())


def listen_time_bounds(landed_at: float, start_date: dt.date) -> tuple[int, int]:
    """(start, limit) in microseconds: a listen before start is before_start_date, one after limit (the landing
    time + 24 h) is future_listen_time."""
    limit_us = int((landed_at + c.STREAM_FUTURE_TOLERANCE_SECONDS) * 1_000_000)
    start_us = int(dt.datetime.combine(start_date, dt.time()).replace(tzinfo=dt.UTC).timestamp()) * 1_000_000
    return start_us, limit_us


def type_stream_batch(batch: TextBatch, source_file: str, landed_at: float, start_date: dt.date) -> tuple[pa.Table, list[dict]]:
    """Text records -> bronze rows. Rules, the first failing one is the reason: unparseable
    listen_time, future_listen_time (later than landed_at + 24 h), before_start_date,
    invalid_duration, invalid_completed."""
    n = batch.num_rows
    cols = batch.columns
    listen_time = parse_listen_time(cols["listen_time"]) if n else pa.array([], pa.timestamp("us"))
    micros = listen_time.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    bad_time = listen_time.is_null().to_numpy(zero_copy_only=False)
    start_us, limit_us = listen_time_bounds(landed_at, start_date)
    future = ~bad_time & (micros > limit_us)
    early = ~bad_time & ~future & (micros < start_us)
    duration_ms, bad_duration = parse_duration_ms(_text(cols, c.STREAM_DURATION_COLUMN, n))
    completed, bad_completed = parse_completed(_text(cols, "completed", n))
    stream_id = pc.utf8_trim_whitespace(_text(cols, "stream_id", n))
    stream_id = pc.if_else(pc.fill_null(pc.equal(stream_id, ""), True), pa.scalar(None, pa.string()), stream_id)
    device = pc.utf8_lower(pc.utf8_trim_whitespace(_text(cols, "device_type", n)))
    device = pc.if_else(pc.fill_null(pc.equal(device, ""), True), pa.scalar(c.STREAM_UNKNOWN_DEVICE), device)
    dates = listen_time.cast(pa.date32())
    rules = [
        (bad_time, Reason.UNPARSEABLE_LISTEN_TIME, lambda i: f"listen_time {cols['listen_time'][i].as_py()!r}"),
        (
            future,
            Reason.FUTURE_LISTEN_TIME,
            lambda i: (
                f"listen_time {cols['listen_time'][i].as_py()!r} is later than the file's landing time "
                f"{dt.datetime.fromtimestamp(landed_at, dt.UTC).isoformat(timespec='seconds')} + 24 h"
            ),
        ),
        (
            early,
            Reason.BEFORE_START_DATE,
            lambda i: f"listen_time {cols['listen_time'][i].as_py()!r} is before the start date {start_date.isoformat()}",
        ),
        (bad_duration, Reason.INVALID_DURATION, lambda i: f"duration {cols[c.STREAM_DURATION_COLUMN][i].as_py()!r}"),
        (bad_completed, Reason.INVALID_COMPLETED, lambda i: f"completed {cols['completed'][i].as_py()!r}"),
    ]
    rejects = [dict(r) for r in batch.rejects]
    taken = np.zeros(n, dtype=bool)
    day_values = None
    for mask, reason, detail in rules:
        hit = mask & ~taken
        if not hit.any():
            continue
        day_values = dates.to_pylist() if day_values is None else day_values
        for i in np.flatnonzero(hit):
            record = (
                batch.records[i].as_py()
                if batch.records is not None
                else ",".join("" if cols[k][i].as_py() is None else cols[k][i].as_py() for k in cols)
            )
            rejects.append(
                {
                    "date": day_values[i],
                    "source_line": int(batch.lines[i]),
                    "reason": reason,
                    "detail": detail(i),
                    "record": record,
                }
            )
        taken |= hit
    table = pa.table(
        {
            "date": dates,
            "user_id": cols["user_id"],
            "track_id": cols["track_id"],
            "listen_time": listen_time,
            "listen_duration_ms": duration_ms,
            "stream_id": stream_id,
            "completed": completed,
            "device_type": device,
            "source_file": pa.repeat(pa.scalar(source_file, pa.string()), n),
            "source_line": pa.array(batch.lines, pa.int64()),
        },
        schema=RAW_STREAMS.contract,
    )
    return (table if not taken.any() else table.filter(pa.array(~taken))), rejects


def reject_days(rejects: list[dict]) -> None:
    """The day of each rejected record whose listen_time is readable (malformed lines included)."""
    hinted = [r for r in rejects if "date" not in r]
    if not hinted:
        return
    days = parse_listen_time(pa.array([r.get("listen_time") for r in hinted], pa.string())).cast(pa.date32()).to_pylist()
    for r, day in zip(hinted, days):
        r["date"] = day


def rejects_table(rejects: list[dict], source_file: str) -> pa.Table:
    rows = [
        {"date": r.get("date"), "source_file": source_file, **{k: r[k] for k in ("source_line", "reason", "detail", "record")}}
        for r in rejects
    ]
    return pa.Table.from_pylist(rows, schema=INGEST_REJECTS.contract)
