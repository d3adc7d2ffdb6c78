"""`music-pipeline query`: read the serving tables (docs/design.md section 6) the way applications do.

Each request is one of the tables' access patterns, run as DynamoDB queries (every page), never a
scan. Input is validated before anything is read: a bad date, range, genre, metric or dimension is
a `QueryError` with a one-line message (the CLI exits 2). Numbers come back from DynamoDB as
Decimal; integral ones are printed as integers, the others as floats.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from music_pipeline.core.specs import DynamoTable
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables, plain

# DESIGN section 6: DailyMetrics metric types; the `listens_by_*` and `top_artists` ones have one dimension
METRIC_DIMENSIONS: dict[str, str | None] = {
    "daily_active_users": None,
    "listens": None,
    "listens_per_user": None,
    "sessions": None,
    "avg_session_duration_ms": None,
    "completion_rate": None,
    "peak_hour": None,
    "listens_by_genre": "genre",
    "listens_by_device_type": "device_type",
    "listens_by_hour": "hour",
    "listens_by_country": "country",
    "listens_by_subscription_type": "subscription_type",
    "top_artists": "artist",
    "quality_completeness": None,
    "quality_validity": None,
    "quality_consistency": None,
    "quality_uniqueness": None,
    "quality_timeliness_seconds": None,
}
METRIC_TYPES = tuple(METRIC_DIMENSIONS)
_LAST = "\U0010ffff"  # sorts after every character: `<day>#<LAST>` bounds every metric_key of the day
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# columns shown first, per table (the others follow in name order)
_COLUMNS = {
    serving_tables.DAILY_GENRE_KPIS_SERVING.table.name: [
        "date",
        "genre",
        "listen_count",
        "unique_listeners",
        "listen_share",
        "total_listening_time_ms",
        "avg_listening_time_per_user_ms",
    ],
    serving_tables.TOP_GENRES_DAILY_SERVING.table.name: [
        "date",
        "rank",
        "genre",
        "listen_count",
        "unique_listeners",
        "listen_share",
        "total_listening_time_ms",
    ],
    serving_tables.TOP_SONGS_PER_GENRE_SERVING.table.name: [
        "date",
        "genre",
        "rank",
        "track_name",
        "artists",
        "play_count",
        "track_id",
    ],
    serving_tables.DAILY_METRICS_SERVING.table.name: ["date", "metric_type", "dimension", "value", "unit", "share", "rank"],
}
_HIDDEN = {
    serving_tables.DAILY_METRICS_SERVING.table.name: {"metric_key", "dimensions"},  # shown as `dimension`
    serving_tables.TOP_SONGS_PER_GENRE_SERVING.table.name: {"genre_rank", "expires_at"},  # genre and rank are shown
}


class QueryError(ValueError):
    """Invalid input: one line, for the user."""


@dataclass(frozen=True)
class Request:
    date: str
    until: str | None = None
    genre: str | None = None
    top_songs: bool = False  # TopSongsPerGenre: every genre's top songs, or `genre`'s alone
    top_genres: bool = False
    metric: str | None = None
    metrics: bool = False
    dimension: str | None = None

    @property
    def last(self) -> str:
        return self.until or self.date


def parse_day(value: str, option: str) -> str:
    """A real calendar day written YYYY-MM-DD (fromisoformat alone would take 20240601 too)."""
    if not _DATE.fullmatch(value or ""):
        raise QueryError(f"{option} {value!r}: expected a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise QueryError(f"{option} {value!r}: not a calendar date") from None


def validate(request: Request) -> Request:
    """The request, checked; raises QueryError with the first problem found."""
    date = parse_day(request.date, "--date")
    until = parse_day(request.until, "--until") if request.until is not None else None
    if until is not None and until < date:
        raise QueryError(f"--until {until} is before --date {date}")
    modes = [
        name
        for name, on in (
            ("--genre", request.genre is not None and not request.top_songs),
            ("--top-songs", request.top_songs),
            ("--top-genres", request.top_genres),
            ("--metric", request.metric is not None),
            ("--metrics", request.metrics),
        )
        if on
    ]
    if len(modes) > 1:
        raise QueryError(f"{' and '.join(modes)} cannot be combined: choose one")
    genre = request.genre
    if genre is not None:
        genre = genre.strip()
        if not genre:
            raise QueryError("--genre must not be empty")
    if request.metric is not None and request.metric not in METRIC_DIMENSIONS:
        raise QueryError(f"--metric {request.metric!r}: unknown metric type; expected one of {', '.join(METRIC_TYPES)}")
    if request.metrics and until is not None:
        raise QueryError("--metrics reads one day: drop --until (or use --metric NAME for a range)")
    if request.dimension is not None:
        if request.metric is None:
            raise QueryError("--dimension needs --metric (one of the listens_by_* metrics or top_artists)")
        name, sep, value = request.dimension.partition("=")
        expected = METRIC_DIMENSIONS[request.metric]
        if expected is None:
            raise QueryError(f"--dimension: metric {request.metric} has no dimension")
        if not sep or name.strip() != expected or not value.strip():
            raise QueryError(f"--dimension {request.dimension!r}: expected {expected}=<value> for {request.metric}")
    return Request(
        date=date,
        until=until,
        genre=genre,
        top_songs=request.top_songs,
        top_genres=request.top_genres,
        metric=request.metric,
        metrics=request.metrics,
        dimension=request.dimension,
    )


def run(tables: ServingTables, request: Request) -> tuple[DynamoTable, list[dict]]:
    """(the table read, its items) for a validated request, in a stable order."""
    r = request
    if r.top_songs:
        spec = serving_tables.TOP_SONGS_PER_GENRE_SERVING.table
        items = [i for day in _days(r.date, r.last) for i in tables.day_items(spec, day) if r.genre in (None, i["genre"])]
        return spec, sorted(items, key=lambda i: (i["date"], i["genre_rank"]))
    if r.top_genres:
        spec = serving_tables.TOP_GENRES_DAILY_SERVING.table
        items = [i for day in _days(r.date, r.last) for i in tables.day_items(spec, day)]
        return spec, sorted(items, key=lambda i: (i["date"], i["rank"]))
    if r.metric:
        spec = serving_tables.DAILY_METRICS_SERVING.table
        # one partition (the metric type), keys from `<date>` to `<until>#<anything>`
        condition = Key("metric_type").eq(r.metric) & Key("metric_key").between(r.date, f"{r.last}#{_LAST}")
        filter_expression = None
        if r.dimension:
            name, _, value = r.dimension.partition("=")
            filter_expression = Attr(f"dimensions.{name.strip()}").eq(value.strip())
        items = tables.query_items(spec, condition, filter_expression=filter_expression)
        return spec, sorted(items, key=lambda i: (i["date"], i.get("rank", 0), i["metric_key"]))
    if r.metrics:
        spec = serving_tables.DAILY_METRICS_SERVING.table
        items = tables.query_items(spec, Key("date").eq(r.date), index="date-index")
        return spec, sorted(items, key=lambda i: (i["metric_type"], i.get("rank", 0), i["metric_key"]))
    spec = serving_tables.DAILY_GENRE_KPIS_SERVING.table
    if r.genre:
        condition = Key("genre").eq(r.genre) & Key("date").between(r.date, r.last)
        return spec, tables.query_items(spec, condition, index="genre-date-index")
    items = [i for day in _days(r.date, r.last) for i in tables.day_items(spec, day)]
    return spec, items


def unknown_genre(tables: ServingTables, request: Request) -> str | None:
    """When a genre request found nothing because no day of its range has that genre: a one-line hint naming
    the genres that are there (a close spelling first); None when the genre is known or none was asked."""
    if request.genre is None:
        return None
    spec = serving_tables.DAILY_GENRE_KPIS_SERVING.table
    known = sorted({str(i["genre"]) for day in _days(request.date, request.last) for i in tables.day_items(spec, day)})
    if request.genre in known:
        return None
    span = request.date if request.last == request.date else f"{request.date}..{request.last}"
    close = [g for g in known if g.casefold() == request.genre.casefold()] or difflib.get_close_matches(request.genre, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(known[:20]) + (f", ... ({len(known)} in all)" if len(known) > 20 else "")
    return f"no genre {request.genre!r} on {span}; {hint}genres: {shown or 'none (nothing published)'}"


def _days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


# ------------------------------------------------------------------------------- output
def to_json(items: list[dict]) -> str:
    return json.dumps([plain(i) for i in items], indent=2, ensure_ascii=False)


def to_table(spec: DynamoTable, items: list[dict]) -> str:
    """An aligned text table (numbers right-aligned); 'no items' when there are none."""
    if not items:
        return "no items"
    rows = []
    for item in items:
        row: dict[str, Any] = plain(item)
        if spec is serving_tables.DAILY_METRICS_SERVING.table:
            row["dimension"] = ",".join(f"{k}={v}" for k, v in (row.get("dimensions") or {}).items())
        rows.append(row)
    hidden = _HIDDEN.get(spec.name, set())
    preferred = _COLUMNS.get(spec.name, [k for k in (spec.pk, spec.sk) if k])
    present = {k for row in rows for k in row} - hidden
    columns = [c for c in preferred if c in present] + sorted(present - set(preferred))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows) for c in columns]
    widths = [max(len(c), *(len(r[n]) for r in cells)) for n, c in enumerate(columns)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
