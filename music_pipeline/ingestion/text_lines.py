"""What the readers of landed text files share: the bounds on a record, the batch they yield, and the
file's physical lines in blocks (LF, CRLF or a lone CR end a line; lines numbered from 1; an overlong
line becomes a `malformed_line` reject). See `csv_reader.py` for the rules of both formats."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from music_pipeline.core.contracts import Reason

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


def reject(line: int, reason: str, detail: str, record: str, listen_time: str | None = None) -> dict:
    return {"source_line": line, "reason": reason, "detail": detail, "record": record, "listen_time": listen_time}


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


def overlong_rejects(block: Block) -> list[dict]:
    return [
        reject(
            line, Reason.MALFORMED_LINE, f"the line is longer than {MAX_RECORD_BYTES} bytes", prefix.decode("utf-8", "replace")
        )
        for line, prefix in block.overlong
    ]
