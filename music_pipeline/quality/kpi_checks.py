"""Checks of the gold tables against the validated listens (or the table they rank)."""

from __future__ import annotations

from music_pipeline.core.sql import load_sql
from music_pipeline.quality.context import CheckContext, check
from music_pipeline.quality.outcomes import Outcome, failing_query
from music_pipeline.quality.stream_checks import _views

SHARE_TOLERANCE = 1e-9


@check("matches_validated_streams", table="genre_daily_kpis")
def genre_kpis_match(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "genre_daily_kpis")
    total = ctx.sql.query(
        "SELECT (SELECT CAST(COALESCE(SUM(listen_count), 0) AS BIGINT) FROM genre_daily_kpis) AS kpi_listens, "
        "(SELECT COUNT(*) FROM validated_streams) AS validated_rows, "
        "(SELECT COALESCE(SUM(listen_share), 0) FROM genre_daily_kpis) AS share_sum"
    ).to_pylist()[0]
    result = failing_query(
        ctx.sql,
        "matches_validated_streams",
        ctx.day,
        load_sql("genre_kpis_match_validated"),
        "genres whose KPIs differ from validated listens",
        sum_listen_count=total["kpi_listens"],
        validated_rows=total["validated_rows"],
    )
    conserved = total["kpi_listens"] == total["validated_rows"]
    shares = total["validated_rows"] == 0 or abs(total["share_sum"] - 1) <= SHARE_TOLERANCE
    result.passed = result.passed and conserved and shares
    result.description = (
        f"sum of listen_count {total['kpi_listens']} {'=' if conserved else '!='} "
        f"{total['validated_rows']} validated rows; " + result.description + f"; listen_share sums to {total['share_sum']:.9f}"
    )
    return result


@check("top_n_ranks", table="top_songs_per_genre")
def top_songs_ranks(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "top_songs_per_genre")
    return failing_query(
        ctx.sql, "top_n_ranks", ctx.day, load_sql("top_songs_ranks", **ctx.params.as_dict()), "top-song problems"
    )


@check("top_n_ranks", table="top_genres_daily")
def top_genres_ranks(ctx: CheckContext) -> Outcome:
    _views(ctx, "genre_daily_kpis", "top_genres_daily")
    return failing_query(
        ctx.sql, "top_n_ranks", ctx.day, load_sql("top_genres_ranks", **ctx.params.as_dict()), "top-genre problems"
    )


@check("matches_validated_streams", table="daily_user_engagement")
def engagement_matches(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "daily_user_engagement")
    return failing_query(
        ctx.sql,
        "matches_validated_streams",
        ctx.day,
        load_sql("engagement_match_validated"),
        "engagement figures that differ from the validated listens",
    )


@check("artist_ranks", table="artist_daily_popularity")
def artist_ranks(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "songs", "artist_daily_popularity")
    return failing_query(ctx.sql, "artist_ranks", ctx.day, load_sql("artist_ranks"), "artist ranking problems")


@check("dimensions_sum_to_listens", table="platform_usage_daily")
def dimensions_sum(ctx: CheckContext) -> Outcome:
    _views(ctx, "validated_streams", "platform_usage_daily")
    return failing_query(
        ctx.sql,
        "dimensions_sum_to_listens",
        ctx.day,
        load_sql("dimensions_sum_to_listens", tolerance=SHARE_TOLERANCE),
        "dimensions whose listens or shares do not add up",
    )
