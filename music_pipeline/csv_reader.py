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

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from music_pipeline.contracts import Reason

BLOCK_SIZE = 8 << 20
MAX_RECORD_LINES = 16
MAX_RECORD_BYTES = 1 << 20
BATCH_ROWS = 20_000  # JSON records per batch
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
BOM = b"\xef\xbb\xbf"
_BLANKS = b" \t"


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (no header, missing required columns, not CSV/JSON)."""


@dataclass
class TextBatch:
    """Records of one block: text columns (null = absent), their line numbers, and rejected records."""

    columns: dict[str, pa.Array]
    lines: np.ndarray
    rejects: list[dict] = field(default_factory=list)  # {source_line, reason, detail, record, listen_time?}
    records: pa.Array | None = None  # the source text of each record (JSON); CSV records are rebuilt from the fields

    @property
    def num_rows(self) -> int:
        return len(self.lines)


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
        yield from _iter_json_array(open_stream, required, aliases)
    else:
        yield from _iter_json_lines(open_stream, required, aliases)


def _reject(line: int, reason: str, detail: str, record: str, listen_time: str | None = None) -> dict:
    return {"source_line": line, "reason": reason, "detail": detail, "record": record, "listen_time": listen_time}


def _first_char(open_stream) -> bytes:
    with open_stream() as stream:
        head = stream.read(1 << 16)
    return head.removeprefix(BOM).lstrip(b" \t\r\n")[:1]


# ---------------------------------------------------------------------------------------------
# physical lines, in blocks
# ---------------------------------------------------------------------------------------------
@dataclass
class Block:
    """Whole lines of a file, LF-terminated (CRLF and lone CR turned into LF), from line `first_line`.
    A line longer than MAX_RECORD_BYTES is left empty in `data` and listed in `overlong`."""

    data: bytes
    first_line: int
    overlong: list[tuple[int, bytes]]
    last: bool

    @property
    def num_lines(self) -> int:
        return self.data.count(b"\n")


def iter_blocks(stream, block_size: int = BLOCK_SIZE) -> Iterator[Block]:
    rest = b""
    line = 1
    start = True
    skipping = None  # (line, prefix) of an overlong line whose end is not read yet
    eof = False
    while not eof:
        chunk = stream.read(block_size)
        eof = not chunk
        if start and chunk:
            chunk, start = chunk.removeprefix(BOM), False
        if skipping is not None:
            end = _first_line_end(chunk)
            if end < 0 and not eof:
                continue
            yield Block(b"\n", line, [(line, skipping)], False)
            line += 1
            skipping = None
            if end >= 0 and chunk[end : end + 2] == b"\r\n":
                end += 1
            chunk = chunk[end + 1 :] if end >= 0 else b""
        buf = rest + chunk
        cut = len(buf) if eof else max(buf.rfind(b"\n"), buf.rfind(b"\r", 0, len(buf) - 1)) + 1
        if cut == 0 and eof:
            yield Block(b"", line, [], True)
            break
        if cut == 0:
            if len(buf) > MAX_RECORD_BYTES:  # one line longer than the bound: keep its start, skip the rest
                skipping, rest = buf[:MAX_RECORD_BYTES], b""
            else:
                rest = buf
            continue
        data, rest = buf[:cut], buf[cut:]
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if data and not data.endswith(b"\n"):
            data += b"\n"
        overlong = []
        if len(data) > MAX_RECORD_BYTES:
            data, overlong = _cut_overlong(data, line)
        block = Block(data, line, overlong, eof)
        line += block.num_lines
        yield block
    if skipping is not None:
        yield Block(b"\n", line, [(line, skipping)], True)


def _first_line_end(chunk: bytes) -> int:
    ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
    return min(ends) if ends else -1


def _cut_overlong(data: bytes, first_line: int) -> tuple[bytes, list[tuple[int, bytes]]]:
    arr = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(arr == 10)
    lengths = np.diff(np.r_[-1, ends]) - 1
    long = np.flatnonzero(lengths > MAX_RECORD_BYTES)
    if not len(long):
        return data, []
    starts = np.r_[0, ends[:-1] + 1]
    overlong, parts, pos = [], [], 0
    for i in long.tolist():
        overlong.append((first_line + i, data[starts[i] : starts[i] + MAX_RECORD_BYTES]))
        parts.append(data[pos : starts[i]])
        pos = int(ends[i])  # keep the line's LF: the line stays, empty
    parts.append(data[pos:])
    return b"".join(parts), overlong


def _overlong_rejects(block: Block) -> list[dict]:
    return [
        _reject(
            line, Reason.MALFORMED_LINE, f"the line is longer than {MAX_RECORD_BYTES} bytes", prefix.decode("utf-8", "replace")
        )
        for line, prefix in block.overlong
    ]


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------
def _iter_csv(open_stream, required, aliases) -> Iterator[TextBatch]:
    with open_stream() as stream:
        blocks = iter_blocks(stream)
        header, carry, first = None, b"", None
        for block in blocks:
            data = carry + block.data if carry else block.data
            first_line = first if carry else block.first_line
            rejects = _overlong_rejects(block)
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
    return _reject(line, Reason.MALFORMED_LINE, f"expected {expected} fields, found {actual}", text, hint)


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
                _reject(
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
                _reject(
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
            rejects.append(_reject(int(lines[i]), Reason.BAD_ENCODING, "the line is not valid UTF-8", record, hint))
        keep = pa.array(~bad)
        raw = {c: v.filter(keep) for c, v in raw.items()}
        lines = lines[~bad]
    return TextBatch({c: v.cast(pa.string()) for c, v in raw.items()}, lines, rejects)


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------
_JSON_TIME = re.compile(r'"\s*(?:listen_time|timestamp)\s*"\s*:\s*"([^"\n]*)"', re.IGNORECASE)


class _JsonRows:
    """Objects -> text columns (a non-string value is kept as its JSON text), in batches."""

    def __init__(self, required, aliases):
        self.required, self.aliases = required, aliases
        self.columns: dict[str, list] = {}
        self.by_key: dict[str, list] = {}  # a key as written -> its column
        self.n = 0
        self.lines: list[int] = []
        self.texts: list[str] = []
        self.rejects: list[dict] = []

    def _column(self, key: str) -> list:
        name = key.strip().strip("\ufeff").lower()
        name = self.aliases.get(name, name)
        if name not in self.columns:
            self.columns[name] = [None] * self.n
        self.by_key[key] = self.columns[name]
        return self.by_key[key]

    def add(self, obj: dict, line: int, text: str) -> None:
        n, by_key, filled = self.n, self.by_key, 0
        for k, v in obj.items():
            col = by_key.get(k) or self._column(k)
            cls = v.__class__
            if v is None or cls is str:
                pass
            elif cls is bool:
                v = "true" if v else "false"
            elif cls is int or cls is float:
                v = repr(v)
            else:
                v = json.dumps(v)
            if len(col) > n:  # two keys for one column (an alias and its name): the later one wins
                col[n] = v
            else:
                col.append(v)
                filled += 1
        self.n = n + 1
        if filled != len(self.columns):
            for col in self.columns.values():
                if len(col) <= n:
                    col.append(None)
        self.lines.append(line)
        self.texts.append(text)

    def reject(self, line: int, reason: str, detail: str, record: str) -> None:
        hint = _JSON_TIME.search(record)
        self.rejects.append(_reject(line, reason, detail, record, hint.group(1) if hint else None))

    @property
    def full(self) -> bool:
        return self.n + len(self.rejects) >= BATCH_ROWS

    def flush(self) -> TextBatch:
        cols = {c: pa.array(v, pa.string()) for c, v in self.columns.items()}
        for c in self.required:
            cols.setdefault(c, pa.nulls(self.n, pa.string()))
        batch = TextBatch(
            dict(sorted(cols.items())), np.array(self.lines, dtype=np.int64), self.rejects, pa.array(self.texts, pa.string())
        )
        self.columns, self.by_key, self.n = {}, {}, 0
        self.lines, self.texts, self.rejects = [], [], []
        return batch


def _iter_json_lines(open_stream, required, aliases) -> Iterator[TextBatch]:
    out = _JsonRows(required, aliases)
    with open_stream() as stream:
        for block in iter_blocks(stream):
            out.rejects.extend(_overlong_rejects(block))
            for number, raw in enumerate(block.data.split(b"\n")[:-1], start=block.first_line):
                if not raw.strip(b" \t"):
                    continue
                try:
                    text = raw.decode("utf-8")
                    obj = json.loads(text)
                    if not isinstance(obj, dict):
                        raise ValueError("a line must hold one JSON object")
                except UnicodeDecodeError:
                    out.reject(number, Reason.BAD_ENCODING, "the line is not valid UTF-8", raw.decode("utf-8", "replace"))
                    continue
                except (ValueError, RecursionError) as exc:
                    out.reject(number, Reason.MALFORMED_LINE, f"not a JSON object: {exc}", raw.decode("utf-8", "replace"))
                    continue
                out.add(obj, number, text)
                if out.full:
                    yield out.flush()
    if out.n or out.rejects:
        yield out.flush()


_WS = re.compile(r"[ \t\n]*")
_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{}\[\],\n]')
_SURROGATE = re.compile("[\udc80-\udcff]")


class _TextWindow:
    """The decoded text of a stream, read on demand: at least `need` characters ahead of `pos`
    when the file has them; the consumed prefix is dropped, so memory stays bounded."""

    def __init__(self, stream, chunk: int = 4 << 20):
        self.stream, self.chunk = stream, chunk
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.buf, self.pos, self.eof = "", 0, False
        self.line, self.counted = 1, 0  # line number at buf[counted]
        self.pending_cr = False
        self.dirty = False  # the window holds undecodable bytes
        self.started = False

    def ensure(self, need: int) -> None:
        while not self.eof and len(self.buf) - self.pos < need:
            data = self.stream.read(self.chunk)
            if not self.started:
                data, self.started = data.removeprefix(BOM), True
            self.eof = not data
            text = self.decoder.decode(data, final=self.eof)
            if self.pending_cr:
                text, self.pending_cr = "\r" + text, False
            if text.endswith("\r") and not self.eof:
                text, self.pending_cr = text[:-1], True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if self.pos > (8 << 20) or self.pos > len(self.buf) // 2:
                self.line_at(self.pos)
                self.buf, self.counted, self.pos = self.buf[self.pos :], 0, 0
            self.buf += text
            self.dirty = bool(_SURROGATE.search(self.buf))

    def line_at(self, pos: int) -> int:
        self.line += self.buf.count("\n", self.counted, pos)
        self.counted = pos
        return self.line

    def skip_ws(self) -> None:
        while True:
            self.ensure(1)
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return

    def peek(self) -> str:
        return self.buf[self.pos] if self.pos < len(self.buf) else ""


def _iter_json_array(open_stream, required, aliases) -> Iterator[TextBatch]:
    out = _JsonRows(required, aliases)
    raw_decode = json.JSONDecoder().raw_decode
    ws = _WS.match
    with open_stream() as stream:
        w = _TextWindow(stream)
        w.skip_ws()
        w.pos += 1  # the opening [ (see iter_text_batches)
        in_array = True
        number = 0  # records are numbered by position (an array on one line has every element on line 1)
        while True:
            w.ensure(2 * MAX_RECORD_BYTES)
            buf, pos = w.buf, w.pos
            # every element starting before `safe` is whole in the window (or the file ends)
            safe = len(buf) if w.eof else len(buf) - MAX_RECORD_BYTES
            line, counted = w.line, w.counted
            while pos < safe:
                pos = ws(buf, pos).end()
                if pos >= len(buf):
                    break
                ch = buf[pos]
                if in_array and ch == ",":  # a stray comma adds no record
                    pos += 1
                    continue
                if in_array and ch == "]":
                    pos += 1
                    in_array = False
                    continue
                line += buf.count("\n", counted, pos)
                counted = start = pos
                number += 1
                if not in_array:  # anything after the closing bracket: one malformed record per line
                    end = _line_end(buf, start)
                    out.reject(
                        number,
                        Reason.MALFORMED_LINE,
                        f"text after the end of the JSON array (line {line})",
                        _shown(buf[start:end]),
                    )
                    pos = max(end, start + 1)
                    continue
                try:
                    obj, end = raw_decode(buf, start)
                    error = None if obj.__class__ is dict else "an array element must be a JSON object"
                except (ValueError, RecursionError) as exc:
                    end, error = _element_end(buf, start), f"not a JSON object: {exc}"
                end = max(end, start + 1)
                text = buf[start:end]
                if w.dirty and _SURROGATE.search(text):
                    out.reject(number, Reason.BAD_ENCODING, f"the element (line {line}) is not valid UTF-8", _shown(text))
                elif error:
                    out.reject(number, Reason.MALFORMED_LINE, f"{error} (line {line})", _shown(text))
                else:
                    out.add(obj, number, text)
                pos = end
                if out.full:
                    yield out.flush()
            w.pos, w.line, w.counted = pos, line, counted
            if w.eof and pos >= len(buf):
                break
    if out.n or out.rejects:
        yield out.flush()


def _shown(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _line_end(buf: str, start: int) -> int:
    end = buf.find("\n", start)
    return len(buf) if end < 0 else end


def _element_end(buf: str, start: int) -> int:
    """End of an invalid element: the first `,` or `]` outside brackets and strings, within the bound;
    else the end of its first line (reading goes on from there)."""
    depth, lines = 0, 0
    limit = min(len(buf), start + MAX_RECORD_BYTES)
    for m in _STRUCTURE.finditer(buf, start, limit):
        token = m.group()
        if token == "\n":
            lines += 1
            if lines >= MAX_RECORD_LINES:
                break
        elif token in "{[":
            depth += 1
        elif token in "}]":
            if depth == 0:
                return m.start()
            depth -= 1
        elif token == ",":
            if depth == 0:
                return m.start()
    return max(_line_end(buf, start), start + 1)
