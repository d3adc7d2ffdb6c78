"""The transforms of the asset graph, described once and run by whichever engine is configured.

Each function builds an engine `Transform` from the package's SQL files and the lake's tables;
the local engines, the Glue job script and the tests all call these, so no step is written twice.
"""
from __future__ import annotations

import pyarrow as pa

from music_pipeline import contracts as c
from music_pipeline import layout
from music_pipeline.csv_reader import iter_text_batches
from music_pipeline.engines.base import Engine, Input, Output, Transform, View, load_sql, project
from music_pipeline.storage.lake import Lake, partition_key

REFERENCE = {
    # dataset: (raw key, bronze, validated, rejects, required columns, validated contract)
    "songs": (layout.RAW_SONGS, layout.BRONZE_SONGS, layout.VALIDATED_SONGS, layout.SONG_REJECTS,
              c.SONGS_REQUIRED_COLUMNS, c.VALIDATED_SONGS),
    "users": (layout.RAW_USERS, layout.BRONZE_USERS, layout.VALIDATED_USERS, layout.USER_REJECTS,
              c.USERS_REQUIRED_COLUMNS, c.VALIDATED_USERS),
}


def stage_reference_csv(lake: Lake, dataset: str) -> int:
    """raw/<dataset>.csv -> bronze/<dataset>/data.parquet (text + line numbers). Returns rows read."""
    raw_key, bronze, _, _, required, _ = REFERENCE[dataset]
    if not lake.exists(raw_key):
        raise FileNotFoundError(f"{dataset}: no reference file at {lake.uri}/{raw_key}")
    schema = c.bronze_reference_schema(required)
    tables = []
    for batch in iter_text_batches(lambda: lake.open_input(raw_key), raw_key, required):
        n = batch.num_rows
        good = {name: batch.columns[name] for name in required}
        good.update(source_line=pa.array(batch.lines, pa.int64()), ingest_reason=pa.nulls(n, pa.string()),
                    record=pa.nulls(n, pa.string()))
        tables.append(pa.table(good, schema=schema))
        if batch.rejects:
            bad = {name: [None] * len(batch.rejects) for name in required}
            bad.update(source_line=[r["source_line"] for r in batch.rejects],
                       ingest_reason=[r["reason"] for r in batch.rejects], record=[r["record"] for r in batch.rejects])
            tables.append(pa.table(bad, schema=schema))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    lake.write_parquet(f"{bronze}/data.parquet", table.sort_by("source_line"))
    return table.num_rows


def validate_reference(engine: Engine, lake: Lake, dataset: str) -> dict[str, int]:
    """Stage and validate songs or users. Returns rows read, validated and rejected."""
    _, bronze, validated, rejects, required, contract = REFERENCE[dataset]
    rows_read = stage_reference_csv(lake, dataset)
    classified = f"classified_{dataset}"
    written = engine.run(lake, Transform(
        inputs=[Input(f"bronze_{dataset}", [lake.engine_uri(f"{bronze}/data.parquet")], c.bronze_reference_schema(required))],
        views=[View(classified, load_sql(f"validate_{dataset}"), materialize=True)],
        outputs=[
            Output(validated, project(classified, contract, "reason IS NULL"), contract, partitioned=False),
            Output(rejects, project(classified, c.REFERENCE_REJECTS, "reason IS NOT NULL"), c.REFERENCE_REJECTS,
                   partitioned=False),
        ],
    ))
    return {"rows_read": rows_read, "validated": written[validated][""], "rejected": written[rejects][""]}


def _day_files(lake: Lake, table: str, days: list[str]) -> list[str]:
    keys = [partition_key(table, d) for d in days]
    return [lake.engine_uri(k) for k in keys if lake.exists(k)]


def _reference_input(lake: Lake, dataset: str) -> Input:
    _, _, validated, _, _, contract = REFERENCE[dataset]
    key = f"{validated}/data.parquet"
    if not lake.exists(key):
        raise FileNotFoundError(f"{dataset} has not been validated yet ({lake.uri}/{key} is missing): "
                                f"materialize the `{dataset}` asset first")
    return Input(dataset, [lake.engine_uri(key)], contract)


def validate_streams(engine: Engine, lake: Lake, days: list[str]) -> dict[str, dict[str, int]]:
    """Bronze slices of the days + songs + users -> validated streams and rejected listens."""
    slices = [lake.engine_uri(f.key) for d in days for f in lake.list(f"{layout.BRONZE_STREAMS}/date={d}")]
    classified = "classified_streams"
    return engine.run(lake, Transform(
        inputs=[Input("bronze_streams", slices, c.BRONZE_STREAMS), _reference_input(lake, "songs"),
                _reference_input(lake, "users")],
        views=[View(classified, load_sql("validate_streams"), materialize=True)],
        outputs=[
            Output(layout.VALIDATED_STREAMS, project(classified, c.VALIDATED_STREAMS, "reason IS NULL"), c.VALIDATED_STREAMS),
            Output(layout.STREAM_REJECTS, project(classified, c.STREAM_REJECTS, "reason IS NOT NULL"), c.STREAM_REJECTS),
        ],
        days=days,
    ))


GOLD = {
    # table: (sql name, contract, upstream views: name -> (lake table or reference dataset))
    layout.GENRE_DAILY_KPIS: ("genre_daily_kpis", c.GENRE_DAILY_KPIS, {}),
    layout.TOP_SONGS_PER_GENRE: ("top_songs_per_genre", c.TOP_SONGS_PER_GENRE, {"top_n": c.TOP_SONGS_N}),
    layout.TOP_GENRES_DAILY: ("top_genres_daily", c.TOP_GENRES_DAILY, {"top_n": c.TOP_GENRES_N}),
}


def compute_gold(engine: Engine, lake: Lake, table: str, days: list[str]) -> dict[str, int]:
    """One gold table for the days, from validated streams (and songs) or from genre KPIs."""
    sql_name, contract, params = GOLD[table]
    if table == layout.TOP_GENRES_DAILY:
        inputs = [Input("genre_daily_kpis", _day_files(lake, layout.GENRE_DAILY_KPIS, days), c.GENRE_DAILY_KPIS)]
    else:
        inputs = [Input("validated_streams", _day_files(lake, layout.VALIDATED_STREAMS, days), c.VALIDATED_STREAMS),
                  _reference_input(lake, "songs")]
    view = View(sql_name, load_sql(sql_name, **params))
    written = engine.run(lake, Transform(inputs=inputs, views=[view], outputs=[Output(table, project(sql_name, contract), contract)],
                                         days=days))
    return written[table]


# Every engine-backed step of the asset graph, by name. The local engines run them in-process;
# the Glue job script runs the same functions on Glue's Spark with `--step NAME --days ...`.
STEPS = {
    "songs": lambda engine, lake, days: validate_reference(engine, lake, "songs"),
    "users": lambda engine, lake, days: validate_reference(engine, lake, "users"),
    "validated_streams": validate_streams,
    "genre_daily_kpis": lambda engine, lake, days: compute_gold(engine, lake, layout.GENRE_DAILY_KPIS, days),
    "top_songs_per_genre": lambda engine, lake, days: compute_gold(engine, lake, layout.TOP_SONGS_PER_GENRE, days),
    "top_genres_daily": lambda engine, lake, days: compute_gold(engine, lake, layout.TOP_GENRES_DAILY, days),
}


def run_step(engine: Engine, lake: Lake, step: str, days: list[str]):
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
    return STEPS[step](engine, lake, days)


def day_rows(lake: Lake, table: str, days: list[str]) -> dict[str, int]:
    """Rows of each day's file of a partitioned table (from Parquet footers; 0 when absent)."""
    return {d: (lake.parquet_rows(partition_key(table, d)) if lake.exists(partition_key(table, d)) else 0) for d in days}


