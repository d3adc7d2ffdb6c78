"""Checks of the reference tables, bronze and the validated listens beyond the generic ones."""

from __future__ import annotations

import json

import pyarrow as pa

from music_pipeline.core import layout
from music_pipeline.core import registry as tables
from music_pipeline.core.specs import ReferenceTable
from music_pipeline.core.sql import load_sql
from music_pipeline.ingestion import manifests
from music_pipeline.quality import generic, repeats
from music_pipeline.quality.context import CheckContext, check, day_files
from music_pipeline.quality.outcomes import SAMPLE_ROWS, WARN, Outcome, failed_rows, failing_query
from music_pipeline.quality.reading import count_rows


@check("rows_conserved", table="songs")
@check("rows_conserved", table="users")
def reference_rows_conserved(ctx: CheckContext) -> Outcome:
    t = ctx.checked
    assert isinstance(t, ReferenceTable)
    read, valid, bad = (count_rows(ctx.lake, [f.file_key]) for f in (t.bronze, t, t.rejects))
    counts = {"rows_read": read, "validated": valid, "rejected": bad}
    if read == valid + bad:
        return Outcome("rows_conserved", None, True, f"{read} rows read = {valid} validated + {bad} rejected", counts=counts)
    return Outcome(
        "rows_conserved", None, False, f"{read} rows read but {valid} validated + {bad} rejected = {valid + bad}", counts=counts
    )


@check("rows_conserved", table="raw_streams")
def bronze_rows_conserved(ctx: CheckContext) -> Outcome:
    lake, day = ctx.lake, ctx.the_day
    slices = {k.rsplit("/", 1)[1]: lake.parquet_rows(k) for k in ctx.keys}
    rejects = {k.rsplit("/", 1)[1]: lake.parquet_rows(k) for k in day_files(lake, tables.INGEST_REJECTS, day)}
    problems = []
    for name in sorted(set(slices) | set(rejects)):
        file_id = name[len("file=") : -len(".parquet")]
        mkey = f"{layout.BRONZE_MANIFESTS}/{file_id}.json"
        if not lake.exists(mkey):
            problems.append({"file": name, "source_file": None, "problem": "no manifest for this slice"})
            continue
        m = manifests.Manifest(**json.loads(lake.read_bytes(mkey)))
        row = {"file": name, "source_file": m.key}
        if m.rows_by_day.get(day, 0) != slices.get(name, 0):
            problems.append(
                {
                    **row,
                    "problem": f"manifest says {m.rows_by_day.get(day, 0)} rows of {day}, bronze slice has {slices.get(name, 0)}",
                }
            )
        if m.rejects_by_day.get(day, 0) != rejects.get(name, 0):
            problems.append(
                {
                    **row,
                    "problem": f"manifest says {m.rejects_by_day.get(day, 0)} rejects of {day}, "
                    f"bad-records has {rejects.get(name, 0)}",
                }
            )
        if m.rows_read != sum(m.rows_by_day.values()) + sum(m.rejects_by_day.values()):
            problems.append(
                {
                    **row,
                    "problem": f"rows read {m.rows_read} != bronze "
                    f"{sum(m.rows_by_day.values())} + rejected {sum(m.rejects_by_day.values())}",
                }
            )
    table = pa.Table.from_pylist(
        problems, schema=pa.schema([("file", pa.string()), ("source_file", pa.string()), ("problem", pa.string())])
    )
    return failed_rows(
        "rows_conserved",
        day,
        table,
        "files whose rows are not conserved",
        bronze_rows=sum(slices.values()),
        ingestion_rejects=sum(rejects.values()),
        files=len(set(slices) | set(rejects)),
    )


def _views(ctx: CheckContext, *names: str) -> None:
    """Register the day's files of tables (by name) as DuckDB views named as in the SQL."""
    for name in names:
        t = tables.table(name)
        ctx.sql.view(t.view_name, day_files(ctx.lake, t, ctx.day), t.contract)


@check("rows_conserved", table="validated_streams")
def validated_rows_conserved(ctx: CheckContext) -> Outcome:
    lake, day = ctx.lake, ctx.day
    bronze = count_rows(lake, day_files(lake, tables.RAW_STREAMS, day))
    valid = count_rows(lake, ctx.keys)
    bad = count_rows(lake, day_files(lake, tables.STREAM_REJECTS, day))
    counts = {"bronze_rows": bronze, "validated_rows": valid, "rejected_rows": bad}
    if bronze == valid + bad:
        return Outcome("rows_conserved", day, True, f"{bronze} bronze rows = {valid} validated + {bad} rejected", counts=counts)
    _views(ctx, "raw_streams", "validated_streams", "stream_rejects")
    files = ctx.sql.query(load_sql("rows_by_source_file"))
    return Outcome(
        "rows_conserved",
        day,
        False,
        f"{bronze} bronze rows but {valid} validated + {bad} rejected = {valid + bad} ({files.num_rows} source files differ)",
        counts=counts,
        sample=files.slice(0, SAMPLE_ROWS),
    )


@check("known_references", table="validated_streams")
def known_references(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "songs", "users")
    return failing_query(
        ctx.sql,
        "known_references",
        ctx.day,
        load_sql("known_references"),
        "listens with unknown references",
        breakdown_by="problem",
        screen=load_sql("known_references_screen"),
    )


def rejected_share_of(ctx: CheckContext) -> dict:
    """The day's rows read, rows rejected (ingestion + validation) and their share."""
    lake, day = ctx.lake, ctx.day
    bronze = count_rows(lake, day_files(lake, tables.RAW_STREAMS, day))
    bad = count_rows(lake, day_files(lake, tables.STREAM_REJECTS, day))
    unreadable = count_rows(lake, day_files(lake, tables.INGEST_REJECTS, day))
    read = bronze + unreadable
    return {"rows_read": read, "rejected_rows": bad + unreadable, "rejected_share": (bad + unreadable) / read if read else 0.0}


@check("rejected_share", table="validated_streams")
def rejected_share(ctx: CheckContext) -> Outcome:
    limit = ctx.thresholds.max_rejected_share
    figures = rejected_share_of(ctx)
    share, read = figures["rejected_share"], figures["rows_read"]
    _views(ctx, "stream_rejects", "ingest_rejects")
    reasons = ctx.sql.query(
        "SELECT reason, COUNT(*) AS n FROM (SELECT reason FROM stream_rejects UNION ALL "
        "SELECT reason FROM ingest_rejects) GROUP BY reason ORDER BY n DESC, reason"
    )
    counts = {
        "rows_read": read,
        "rejected_rows": figures["rejected_rows"],
        "rejected_share": round(share, 6),
        "max_rejected_share": limit,
    }
    verdict = "within" if share <= limit else "above"
    text = f"{share:.2%} of {read} rows rejected, {verdict} the limit {limit:.2%} (MUSIC_PIPELINE_MAX_REJECTED_SHARE)"
    if share > limit:  # the check blocks: the day is held (docs/design.md section 3)
        text = f"held: {text}; the day is not published until it passes"
    return Outcome(
        "rejected_share",
        ctx.day,
        share <= limit,
        text,
        counts=counts,
        sample=reasons if share > limit else None,
        breakdown=dict(zip(reasons["reason"].to_pylist(), reasons["n"].to_pylist())),
    )


# the key copied_listen_keys.sql and repeated_listens.sql name: the registry's key of validated_streams
LISTEN_KEY = ("user_id", "track_id", "listen_time")
if tables.VALIDATED_STREAMS.key != LISTEN_KEY:  # a registry change must change these SQL files too
    raise ImportError(f"validated_streams' key {tables.VALIDATED_STREAMS.key} is not {LISTEN_KEY} (stream_checks.py)")


def _repeated_listens(ctx: CheckContext) -> None:
    """The day's listens that repeat their pair's previous one within the threshold, exact copies included, as
    the temporary table `repeated_listens` (quality/repeats.py): computed once per day for near_duplicates and
    unique_keys."""
    if "repeated_listens" not in ctx.cache:
        _views(ctx, "validated_streams")
        rows = count_rows(ctx.lake, ctx.keys)
        repeats.materialize_repeated_listens(ctx.sql, ctx.the_day, rows, ctx.thresholds.near_duplicate_seconds)
        ctx.cache["repeated_listens"] = True


@check("near_duplicates", table="validated_streams")
def near_duplicates(ctx: CheckContext) -> Outcome:
    seconds = ctx.thresholds.near_duplicate_seconds
    _repeated_listens(ctx)
    return failing_query(
        ctx.sql,
        "near_duplicates",
        ctx.day,
        load_sql("near_duplicates", seconds=seconds),
        f"listens repeating the same user and track within {seconds} s",
        severity=WARN,
    )


@check("unique_keys", table="validated_streams")
def unique_listen_keys(ctx: CheckContext) -> Outcome:
    """`unique_keys` of validated_streams (key: user_id, track_id, listen_time) from the sort near_duplicates
    makes anyway, instead of a second pass over the day (generic.unique_keys_outcome reports it the same way)."""
    _repeated_listens(ctx)
    return generic.unique_keys_outcome(ctx.sql, list(LISTEN_KEY), ctx.day, load_sql("copied_listen_keys"))


@check("listens_longer_than_track", table="validated_streams")
def listens_longer_than_track(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "songs")
    return failing_query(
        ctx.sql,
        "listens_longer_than_track",
        ctx.day,
        load_sql("listens_longer_than_track"),
        "listens longer than their track (kept)",
        severity=WARN,
        screen=load_sql("listens_longer_than_track_screen"),
    )
