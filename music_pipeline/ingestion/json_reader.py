"""The JSON readers of landed files: JSON lines (one object per line) and JSON arrays read element by
element with an incremental decoder, in bounded memory (rules: `csv_reader.py`)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import pyarrow as pa

from music_pipeline.core.contracts import Reason
from music_pipeline.ingestion.text_lines import (
    BATCH_ROWS,
    BOM,
    MAX_RECORD_BYTES,
    MAX_RECORD_LINES,
    TextBatch,
    iter_blocks,
    overlong_rejects,
    reject,
)

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
        self.rejects.append(reject(line, reason, detail, record, hint.group(1) if hint else None))

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


def iter_json_lines(open_stream, required, aliases) -> Iterator[TextBatch]:
    out = _JsonRows(required, aliases)
    with open_stream() as stream:
        for block in iter_blocks(stream):
            out.rejects.extend(overlong_rejects(block))
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
_skip_ws = cast(Callable[[str, int], re.Match[str]], _WS.match)  # a `*` pattern always matches
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
            self.pos = _skip_ws(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return

    def peek(self) -> str:
        return self.buf[self.pos] if self.pos < len(self.buf) else ""


def iter_json_array(open_stream, required, aliases) -> Iterator[TextBatch]:
    out = _JsonRows(required, aliases)
    raw_decode = json.JSONDecoder().raw_decode
    ws = _skip_ws
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
                obj: Any = None
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
