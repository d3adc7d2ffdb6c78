"""Streaming readers of landed text files (CSV, CSV.gz, JSON lines, JSON arrays) into batches of text columns.

Memory is bounded by the block size and the record bound below, never by the file's size.

Lines. A physical line ends at LF, CRLF or a lone CR (as pyarrow's CSV parser and Python's universal
newlines do), so CR-only files read like any other. Lines are numbered as in the file, from 1 (the CSV
header is line 1). A blank line (nothing but spaces or tabs) is no record and is not counted.

Records. A CSV record is one line, or several when a quoted value holds line breaks (RFC 4180). A
record may span at most MAX_RECORD_LINES physical lines and MAX_RECORD_BYTES bytes: a quote that is
not closed within that bound (or before the end of the file) makes its first line a `malformed_line`
and reading resumes at the next line, so one stray quote cannot swallow the rest of a file. A line
longer than MAX_RECORD_BYTES is a `malformed_line` too (its first bytes are kept as the record).
JSON lines: one object per line. A JSON array file (a `.json` file whose first character, after a
UTF-8 BOM and blanks, is `[`) is read element by element with an incremental decoder; an element's
`source_line` is its position in the array (1-based, the record number: an array written on one line
has every element on line 1), and the physical line where it starts is in a reject's detail. An element that is not valid JSON is delimited
by its brackets (strings respected) within the same bound and rejected as one record; if it cannot
be delimited within the bound, the rest of its first line is the rejected record and reading goes
on after it.

Every column is read as bytes and decoded here, so one record of bad UTF-8 becomes one rejected
record instead of a failed file. A UTF-8 BOM at the start of any file is dropped.
Rejected records carry a `listen_time` hint when one is readable in them, so ingestion can count a
malformed line in its own day.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from music_pipeline.core.contracts import Reason
from music_pipeline.ingestion import json_reader
from music_pipeline.ingestion.text_lines import (  # noqa: F401 (UnreadableFile, TextBatch, MAX_RECORD_*: the readers' interface)
    _BLANKS,
    BOM,
    JSON_SUFFIXES,
    MAX_RECORD_BYTES,
    MAX_RECORD_LINES,
    TextBatch,
    UnreadableFile,
    iter_blocks,
    overlong_rejects,
    reject,
)


def normalize_header(names: list[str], aliases: dict[str, str]) -> list[str]:
    out = []
    for name in names:
        n = name.strip().strip("\ufeff").lower()
        out.append(aliases.get(n, n))
    duplicated = sorted({n for n in out if out.count(n) > 1})
    if duplicated:
        raise UnreadableFile(f"header names a column twice: {', '.join(duplicated)}")
    return out


def iter_text_batches(
    open_stream: Callable[[], object], key: str, required: tuple[str, ...], aliases: dict[str, str] | None = None
) -> Iterator[TextBatch]:
    """Batches of a landed file: JSON when the key ends in .jsonl/.json/.ndjson(.gz), else CSV."""
    name = key.lower().removesuffix(".gz")
    aliases = aliases or {}
    if not name.endswith(JSON_SUFFIXES):
        yield from _iter_csv(open_stream, required, aliases)
    elif name.endswith(".json") and _first_char(open_stream) == b"[":
        yield from json_reader.iter_json_array(open_stream, required, aliases)
    else:
        yield from json_reader.iter_json_lines(open_stream, required, aliases)


def _first_char(open_stream) -> bytes:
    with open_stream() as stream:
        head = stream.read(1 << 16)
    return head.removeprefix(BOM).lstrip(b" \t\r\n")[:1]


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------
def _iter_csv(open_stream, required, aliases) -> Iterator[TextBatch]:
    with open_stream() as stream:
        blocks = iter_blocks(stream)
        header, carry, first = None, b"", 0  # `first`: the first line of `carry`, when there is one
        for block in blocks:
            data = carry + block.data if carry else block.data
            first_line = first if carry else block.first_line
            rejects = overlong_rejects(block)
            if header is None:
                if block.overlong and block.overlong[0][0] == 1:
                    raise UnreadableFile("the header line is longer than the record bound")
                if not data.strip(b" \t\n"):
                    if block.last:
                        raise UnreadableFile("the file is empty or its first line is blank (a header is required)")
                    carry, first = data, first_line
                    continue
                line_end = data.index(b"\n")
                raw_header = _header_fields(data[:line_end])
                header = normalize_header(raw_header, aliases)
                _check_required(header, required)
                data, first_line = data[line_end + 1 :], first_line + 1
            batch, carry, first = _csv_block(data, first_line, header, block.last)
            batch.rejects[:0] = rejects
            if batch.num_rows or batch.rejects:
                yield batch
        if header is None:
            raise UnreadableFile("the file is empty or its first line is blank (a header is required)")


def _header_fields(line: bytes) -> list[str]:
    if not line.strip(b" \t"):
        raise UnreadableFile("the file is empty or its first line is blank (a header is required)")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the header is not UTF-8: {exc}") from exc
    return next(csv.reader([text]))


def _check_required(header: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise UnreadableFile(f"missing required column(s) {', '.join(missing)}; header is {header}")


def _csv_block(data: bytes, first_line: int, header: list[str], last: bool) -> tuple[TextBatch, bytes, int]:
    """(batch, carried bytes, first line of the carry): a record still open at the block's end is
    carried into the next block."""
    if not data:
        return _empty(header), b"", first_line
    arr = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(arr == 10)
    starts = np.r_[0, ends[:-1] + 1]
    # blank lines: empty, or starting with a blank and holding nothing else (checked one by one: rare)
    nonblank = ends > starts
    maybe_blank = np.flatnonzero(
        nonblank & ((arr[np.minimum(starts, len(arr) - 1)] == 32) | (arr[np.minimum(starts, len(arr) - 1)] == 9))
    )
    for i in maybe_blank.tolist():
        if not data[starts[i] : ends[i]].strip(_BLANKS):
            nonblank[i] = False
    quotes = np.flatnonzero(arr == 34)
    odd = len(quotes) and (np.bincount(np.searchsorted(ends, quotes), minlength=len(ends)) % 2).any()
    if not odd:
        batch = _csv_fast(data, arr, ends, nonblank, first_line, header)
        if batch is not None:
            return batch, b"", first_line
    return _csv_slow(data.split(b"\n")[:-1], nonblank, first_line, header, last)


def _csv_fast(data, arr, ends, nonblank, first_line, header) -> TextBatch | None:
    """pyarrow over the block when no line can open a multi-line record; None when pyarrow's records
    are not the block's lines (a quote inside a value that pyarrow reads as an opening quote)."""
    lengths = np.diff(np.r_[-1, ends]) - 1
    starts = np.r_[0, ends[:-1] + 1]
    whitespace_only = (~nonblank) & (lengths > 0)
    if whitespace_only.any():  # pyarrow skips empty lines only: drop lines of blanks
        data = b"".join(data[s : e + 1] for s, e, keep in zip(starts.tolist(), ends.tolist(), nonblank.tolist()) if keep)
    record_lines = first_line + np.flatnonzero(nonblank)
    if not len(record_lines):
        return _empty(header)
    invalid: list = []

    def on_invalid(row) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=header, use_threads=False, block_size=max(len(data), 1 << 20)),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.binary() for c in header}, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows + len(invalid) != len(record_lines) or any(r.number is None for r in invalid):
        return None
    bad = np.zeros(len(record_lines), dtype=bool)
    rejects = []
    lt = header.index("listen_time") if "listen_time" in header else None
    for row in invalid:
        bad[row.number - 1] = True
        rejects.append(_malformed(int(record_lines[row.number - 1]), row.text, row.expected_columns, row.actual_columns, lt))
    if len(rejects) != int(bad.sum()):
        return None
    columns = {c: col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col for c, col in zip(header, table.columns)}
    return _decode(columns, record_lines[~bad], rejects)


def _malformed(line: int, text: str, expected: int, actual: int, listen_time_index: int | None) -> dict:
    hint = None
    if listen_time_index is not None:
        try:
            fields = next(csv.reader([text.replace("\n", " ")]), [])
            hint = fields[listen_time_index] if listen_time_index < len(fields) else None
        except csv.Error:
            hint = None
    return reject(line, Reason.MALFORMED_LINE, f"expected {expected} fields, found {actual}", text, hint)


class _Unbounded(Exception):
    pass


def _csv_slow(
    lines: list[bytes], nonblank: np.ndarray, first_line: int, header: list[str], last: bool
) -> tuple[TextBatch, bytes, int]:
    """Python's csv reader, one record at a time, each bounded to MAX_RECORD_LINES / MAX_RECORD_BYTES."""
    texts = [ln.decode("utf-8", "surrogateescape") for ln in lines]
    n, width = len(lines), len(header)
    lt = header.index("listen_time") if "listen_time" in header else None
    values: list[list[bytes]] = [[] for _ in header]
    good_lines: list[int] = []
    rejects: list[dict] = []
    i = 0
    while i < n:
        if not nonblank[i]:
            i += 1
            continue
        state = {"ran_out": False, "used": 0}

        def pull(start=i, state=state):
            size = 0
            for k in range(start, n):
                if k - start >= MAX_RECORD_LINES or size > MAX_RECORD_BYTES:
                    raise _Unbounded
                size += len(lines[k]) + 1
                state["used"] = k - start + 1
                yield texts[k] + "\n"
            state["ran_out"] = True

        try:
            fields = next(csv.reader(pull()), [])
            unbounded = False
        except (_Unbounded, csv.Error):
            fields, unbounded = [], True
        used = state["used"]
        if state["ran_out"] and not last and not unbounded:  # open at the block's end: read on in the next block
            return _build(values, header, good_lines, rejects), b"\n".join(lines[i:]) + b"\n", first_line + i
        if unbounded or state["ran_out"]:  # a quote not closed within the bound or before the end of the file
            record = lines[i].decode("utf-8", "replace")
            rejects.append(
                reject(
                    first_line + i,
                    Reason.MALFORMED_LINE,
                    f"a quoted value is not closed within {MAX_RECORD_LINES} lines "
                    f"({MAX_RECORD_BYTES} bytes) or before the end of the file",
                    record,
                    _hint_from_text(record, lt),
                )
            )
            i += 1
            continue
        record_text = "\n".join(texts[i : i + used])
        if len(fields) != width:
            shown = record_text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            rejects.append(
                reject(
                    first_line + i,
                    Reason.MALFORMED_LINE,
                    f"expected {width} fields, found {len(fields)}",
                    shown,
                    fields[lt] if lt is not None and lt < len(fields) else None,
                )
            )
        else:
            for col, v in zip(values, fields):
                col.append(v.encode("utf-8", "surrogateescape"))
            good_lines.append(first_line + i)
        i += used
    return _build(values, header, good_lines, rejects), b"", first_line + n


def _hint_from_text(text: str, index: int | None) -> str | None:
    if index is None:
        return None
    fields = text.split(",")
    return fields[index] if index < len(fields) else None


def _build(values, header, lines, rejects) -> TextBatch:
    columns = {c: pa.array(v, pa.binary()) for c, v in zip(header, values)}
    return _decode(columns, np.array(lines, dtype=np.int64), rejects)


def _empty(header) -> TextBatch:
    return TextBatch({c: pa.array([], pa.string()) for c in header}, np.empty(0, np.int64), [])


def _decode(raw: dict[str, pa.Array], lines: np.ndarray, rejects: list[dict]) -> TextBatch:
    """Bytes columns -> text columns; records with invalid UTF-8 become bad_encoding rejects."""
    bad = np.zeros(len(lines), dtype=bool)
    for values in raw.values():
        try:
            values.cast(pa.string())
        except pa.ArrowInvalid:
            for i, v in enumerate(values.to_pylist()):
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
    if bad.any():
        for i in np.flatnonzero(bad):
            record = ",".join(raw[c][i].as_py().decode("utf-8", "replace") for c in raw)
            hint = raw["listen_time"][i].as_py().decode("utf-8", "replace") if "listen_time" in raw else None
            rejects.append(reject(int(lines[i]), Reason.BAD_ENCODING, "the line is not valid UTF-8", record, hint))
        keep = pa.array(~bad)
        raw = {c: v.filter(keep) for c, v in raw.items()}
        lines = lines[~bad]
    return TextBatch({c: v.cast(pa.string()) for c, v in raw.items()}, lines, rejects)
