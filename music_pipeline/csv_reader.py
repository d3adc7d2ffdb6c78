"""Streaming readers of landed text files (CSV, CSV.gz, JSON lines) into batches of text columns.

pyarrow parses CSV per RFC 4180 (doubled quotes, quoted commas and newlines) with bounded memory.
Every column is read as bytes and decoded here, so one line of bad UTF-8 becomes one rejected
record instead of a failed file. Lines are numbered as in the file (the header is line 1).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from music_pipeline.contracts import Reason

BLOCK_SIZE = 16 << 20


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (no header, missing required columns, not CSV/JSON)."""


@dataclass
class TextBatch:
    """Records of one block: text columns (null = absent), their line numbers, and rejected lines."""

    columns: dict[str, pa.Array]
    lines: np.ndarray
    rejects: list[dict] = field(default_factory=list)  # {source_line, reason, detail, record}

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


def iter_text_batches(open_stream: Callable[[], object], key: str, required: tuple[str, ...],
                      aliases: dict[str, str] | None = None) -> Iterator[TextBatch]:
    """Batches of a landed file; JSON lines when the key ends in .jsonl/.json(.gz), else CSV."""
    name = key.lower().removesuffix(".gz")
    reader = _iter_json_lines if name.endswith((".jsonl", ".json", ".ndjson")) else _iter_csv
    yield from reader(open_stream, required, aliases or {})


def _check_required(header: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise UnreadableFile(f"missing required column(s) {', '.join(missing)}; header is {header}")


def _read_header(open_stream) -> list[str]:
    with open_stream() as stream:
        head = stream.read(1 << 16)
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if not first.strip():
        raise UnreadableFile("the file is empty or its first line is blank (a header is required)")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the header is not UTF-8: {exc}") from exc
    return next(csv.reader([text]))


def _iter_csv(open_stream, required, aliases) -> Iterator[TextBatch]:
    raw_header = _read_header(open_stream)
    header = normalize_header(raw_header, aliases)
    _check_required(header, required)
    invalid: list[dict] = []

    def on_invalid(row) -> str:
        invalid.append({
            "source_line": row.number, "reason": Reason.MALFORMED_LINE,
            "detail": f"expected {row.expected_columns} fields, found {row.actual_columns}",
            "record": row.text,
        })
        return "skip"

    read_options = pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=BLOCK_SIZE, use_threads=False)
    convert = pacsv.ConvertOptions(column_types={c: pa.binary() for c in header},
                                   strings_can_be_null=False, quoted_strings_can_be_null=False)
    parse = pacsv.ParseOptions(invalid_row_handler=on_invalid)
    next_line = 2
    with open_stream() as stream:
        try:
            reader = pacsv.open_csv(stream, read_options=read_options, parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return
            raise UnreadableFile(f"not readable as CSV: {exc}") from exc
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise UnreadableFile(f"not readable as CSV: {exc}") from exc
            rejects, invalid[:] = list(invalid), []
            skipped = sorted(r["source_line"] for r in rejects if r["source_line"] is not None)
            lines, next_line = _number_lines(batch.num_rows, next_line, skipped)
            yield _decode(dict(zip(header, batch.columns)), lines, rejects)
        if invalid:  # malformed lines after the last batch
            yield TextBatch({c: pa.array([], pa.string()) for c in header}, np.empty(0, np.int64), list(invalid))


def _number_lines(n: int, first: int, skipped: list[int]) -> tuple[np.ndarray, int]:
    """Line numbers of n good records starting at `first`, stepping over the skipped lines."""
    lines = np.empty(n, dtype=np.int64)
    line, i, s = first, 0, 0
    while i < n:
        while s < len(skipped) and skipped[s] < line:
            s += 1
        if s < len(skipped) and skipped[s] == line:
            line += 1
            continue
        # a run with no skipped line in it can be filled at once
        end = skipped[s] if s < len(skipped) else line + (n - i)
        run = min(n - i, end - line)
        lines[i:i + run] = np.arange(line, line + run)
        i += run
        line += run
    while s < len(skipped) and skipped[s] == line:
        line += 1
        s += 1
    return lines, line


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
            rejects.append({"source_line": int(lines[i]), "reason": Reason.BAD_ENCODING,
                            "detail": "the line is not valid UTF-8", "record": record})
        keep = pa.array(~bad)
        raw = {c: v.filter(keep) for c, v in raw.items()}
        lines = lines[~bad]
    return TextBatch({c: v.cast(pa.string()) for c, v in raw.items()}, lines, rejects)


def _iter_json_lines(open_stream, required, aliases, batch_rows: int = 100_000) -> Iterator[TextBatch]:
    rows: list[dict] = []
    lines: list[int] = []
    rejects: list[dict] = []
    seen_columns: set[str] = set()

    def flush() -> TextBatch:
        cols = sorted(seen_columns | set(required))
        batch = TextBatch({c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols},
                          np.array(lines, dtype=np.int64), list(rejects))
        rows.clear(), lines.clear(), rejects.clear()
        return batch

    with open_stream() as stream:
        for number, raw in enumerate(io.BufferedReader(_Readable(stream)), start=1):
            if not raw.strip():
                continue
            text_line = raw.decode("utf-8", "replace").rstrip("\r\n")
            try:
                obj = json.loads(raw.decode("utf-8"))
                if not isinstance(obj, dict):
                    raise ValueError("a line must hold one JSON object")
            except UnicodeDecodeError:
                rejects.append({"source_line": number, "reason": Reason.BAD_ENCODING,
                                "detail": "the line is not valid UTF-8", "record": text_line})
                continue
            except ValueError as exc:
                rejects.append({"source_line": number, "reason": Reason.MALFORMED_LINE,
                                "detail": f"not a JSON object: {exc}", "record": text_line})
                continue
            record = {}
            for k, v in obj.items():
                name = normalize_header([k], aliases)[0]
                record[name] = None if v is None else (v if isinstance(v, str) else json.dumps(v))
            seen_columns.update(record)
            rows.append(record)
            lines.append(number)
            if len(rows) >= batch_rows:
                yield flush()
    if rows or rejects:
        yield flush()


class _Readable(io.RawIOBase):
    """Adapts a pyarrow input stream to io.RawIOBase so it can be read line by line."""

    def __init__(self, stream):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
