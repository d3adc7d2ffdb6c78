"""Gold tables: daily genre KPIs, top songs per genre, top genres per day."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from music_pipeline import layout
from music_pipeline.defs.metadata import markdown_table, per_day
from music_pipeline.defs.partitions import daily_partitions, days_of, single_run
from music_pipeline.defs.policies import engine_retry_policy
from music_pipeline.defs.reference import songs
from music_pipeline.defs.streams import validated_streams
from music_pipeline.resources import EngineResource, LakeResource
from music_pipeline.storage.lake import partition_key


def gold_asset(name: str, table: str, deps: list, description: str) -> AssetsDefinition:
    @asset(name=name, partitions_def=daily_partitions, backfill_policy=single_run, group_name="kpis",
           kinds={"sql", "parquet"}, deps=deps, code_version="1", description=description,
           retry_policy=engine_retry_policy())
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        the_lake = lake.get()
        days = days_of(context)
        rows = engine.run_step(context, the_lake, name, days)
        last = the_lake.read_parquet([partition_key(table, days[-1])])
        return MaterializeResult(metadata={
            "dagster/row_count": sum(rows.values()),
            "rows_by_day": per_day(rows),
            f"preview_{days[-1]}": markdown_table(last),
            "engine": engine.kind,
        })

    return _asset


genre_daily_kpis = gold_asset(
    "genre_daily_kpis", layout.GENRE_DAILY_KPIS, [validated_streams],
    "Per (date, genre): listen_count, unique_listeners, total_listening_time_ms, "
    "avg_listening_time_per_user_ms = total / unique_listeners.",
)
top_songs_per_genre = gold_asset(
    "top_songs_per_genre", layout.TOP_SONGS_PER_GENRE, [validated_streams, songs],
    "Exactly min(3, tracks) songs per (date, genre), by play count desc then track_id asc.",
)
top_genres_daily = gold_asset(
    "top_genres_daily", layout.TOP_GENRES_DAILY, [genre_daily_kpis],
    "Exactly min(5, genres) genres per date, by listen_count desc then genre asc.",
)
