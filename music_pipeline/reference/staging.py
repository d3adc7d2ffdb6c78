"""Reference CSVs (songs, users) -> bronze text tables, whatever the shape of the file.

A reference file is recognised by its header (docs/design.md section 3): the shape whose columns are all
present (tables.SONG_SHAPES / USER_SHAPES) maps its columns onto the canonical text columns, absent
ones null. The short songs shape gives its duration in seconds: it is converted to milliseconds here,
the one place a reference unit is converted. Lines that cannot be read are kept with their reason, so
the SQL's rejects hold every rejected line of the file.
"""

from __future__ import annotations

import csv
import io
import math

import pyarrow as pa

from music_pipeline.core.specs import ReferenceTable
from music_pipeline.ingestion.csv_reader import UnreadableFile, iter_text_batches
from music_pipeline.lake.store import Lake
from music_pipeline.reference.tables import SONG_COLUMNS, SONG_SHAPES, USER_COLUMNS, USER_SHAPES

SHAPES = {"songs": (SONG_SHAPES, SONG_COLUMNS), "users": (USER_SHAPES, USER_COLUMNS)}


def header_of(lake: Lake, key: str) -> list[str]:
    with lake.open_input(key) as stream:
        head = stream.read(1 << 16)
    first = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace").lstrip("\ufeff")
    return [name.strip().lower() for name in next(csv.reader(io.StringIO(first)), [])]


def recognise(dataset: str, header: list[str]) -> tuple[str, dict[str, str]]:
    """(shape name, {canonical column: file column}) of the first shape whose columns the header has."""
    shapes, _ = SHAPES[dataset]
    for name, mapping in shapes.items():
        if all(column in header for column in mapping.values()):
            return name, mapping
    missing = "; ".join(f"{name}: missing {', '.join(c for c in m.values() if c not in header)}" for name, m in shapes.items())
    expected = "; ".join(f"{name}: {', '.join(m.values())}" for name, m in shapes.items())
    raise UnreadableFile(f"the header {header} matches no {dataset} shape ({missing}); expected the columns of one of {expected}")


def seconds_to_ms(text: pa.Array) -> pa.Array:
    """Duration in seconds (text) -> milliseconds (text). Values that are not a finite number stay as
    written, so that the SQL rejects them as invalid durations with the text in the record."""
    out = []
    for value in text.to_pylist():
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            out.append(value)
            continue
        out.append(str(round(seconds * 1000)) if math.isfinite(seconds) and abs(seconds) < 1e12 else value)
    return pa.array(out, pa.string())


def stage(lake: Lake, spec: ReferenceTable) -> int:
    """raw/<dataset>/<dataset>.csv -> bronze/<dataset>/data.parquet (canonical text columns + line
    numbers). Returns the rows read."""
    key = spec.source_csv
    if not lake.exists(key):
        raise FileNotFoundError(f"{spec.name}: no reference file at {lake.uri}/{key}")
    _, columns = SHAPES[spec.name]
    _, mapping = recognise(spec.name, header_of(lake, key))
    schema = spec.bronze.contract
    tables = []
    for batch in iter_text_batches(lambda: lake.open_input(key), key, tuple(mapping.values())):
        n = batch.num_rows
        good = {name: batch.columns[mapping[name]] if name in mapping else pa.nulls(n, pa.string()) for name in columns}
        if "duration_seconds" in mapping:
            good["duration_ms"] = seconds_to_ms(batch.columns[mapping["duration_seconds"]])
        good.update(
            source_line=pa.array(batch.lines, pa.int64()), ingest_reason=pa.nulls(n, pa.string()), record=pa.nulls(n, pa.string())
        )
        tables.append(pa.table(good, schema=schema))
        if batch.rejects:
            bad = {name: [None] * len(batch.rejects) for name in columns}
            bad.update(
                source_line=[r["source_line"] for r in batch.rejects],
                ingest_reason=[r["reason"] for r in batch.rejects],
                record=[r["record"] for r in batch.rejects],
            )
            tables.append(pa.table(bad, schema=schema))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    lake.write_parquet(spec.bronze.file_key, table.sort_by("source_line"))
    return table.num_rows
