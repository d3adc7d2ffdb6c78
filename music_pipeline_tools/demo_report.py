"""What the demo prints: each day's top lists, engagement, devices and scorecard, read back from DynamoDB."""

from __future__ import annotations

from music_pipeline.core.settings import Settings
from music_pipeline.serving import tables as serving_tables


def print_top_lists(settings: Settings, days: list[str]) -> None:
    """Read the top genres and top songs of each day back from DynamoDB and print them."""
    from music_pipeline.serving import dynamodb

    # the endpoint the command started (it set AWS_ENDPOINT_URL_DYNAMODB after `settings` was read)
    tables = dynamodb.ServingTables(prefix=settings.table_prefix, endpoint_url=Settings.from_env().dynamodb_endpoint)
    for day in days:
        genres = sorted(tables.day_items(serving_tables.TOP_GENRES_DAILY_SERVING.table, day), key=lambda i: i["rank"])
        songs = tables.day_items(serving_tables.TOP_SONGS_PER_GENRE_SERVING.table, day)
        print(f"\n== {day}: top genres (from {tables.name(serving_tables.TOP_GENRES_DAILY_SERVING.table)}) ==")
        for g in genres:
            print(
                f"  {int(g['rank'])}. {g['genre']:<12} listens={int(g['listen_count']):>6} "
                f"listeners={int(g['unique_listeners']):>5}"
            )
            for s in sorted((s for s in songs if s["genre"] == g["genre"]), key=lambda s: s["rank"]):
                print(
                    f"       #{int(s['rank'])} {s.get('track_name', '')[:40]:<40} {s['track_id']}  plays={int(s['play_count'])}"
                )
        print_engagement(tables, day)


def print_engagement(tables, day: str) -> None:
    """The day's engagement, top artists and device split, read back from DailyMetrics (date-index)."""
    metrics = tables.day_items(serving_tables.DAILY_METRICS_SERVING.table, day)
    one = {m["metric_type"]: m["value"] for m in metrics if not m["dimensions"]}
    if not one:
        return
    completion = f"{float(one['completion_rate']):.1%}" if "completion_rate" in one else "unknown"
    print(
        f"  engagement (from {tables.name(serving_tables.DAILY_METRICS_SERVING.table)}): "
        f"DAU={int(one['daily_active_users'])} sessions={int(one['sessions'])} "
        f"avg session={float(one['avg_session_duration_ms']) / 60000:.1f} min completion={completion} "
        f"peak hour={int(one['peak_hour']):02d}:00 UTC"
    )
    artists = sorted((m for m in metrics if m["metric_type"] == "top_artists"), key=lambda m: m["rank"])[:3]
    print("  top artists: " + ", ".join(f"{int(m['rank'])}. {m['dimensions']['artist']} ({int(m['value'])})" for m in artists))
    devices = sorted((m for m in metrics if m["metric_type"] == "listens_by_device_type"), key=lambda m: -m["value"])
    print("  devices: " + ", ".join(f"{m['dimensions']['device_type']} {float(m['share']):.0%}" for m in devices))
    if "quality_completeness" in one:  # the day's data-quality scorecard (docs/data-quality.md)
        timeliness = (
            f" timeliness={float(one['quality_timeliness_seconds']):.0f} s" if "quality_timeliness_seconds" in one else ""
        )
        print(
            "  quality: "
            + " ".join(
                f"{name}={float(one['quality_' + name]):.2%}"
                for name in ("completeness", "validity", "consistency", "uniqueness")
            )
            + timeliness
        )
