"""Serving: each gold table's day published into its DynamoDB table, replacing that day."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from music_pipeline import layout
from music_pipeline.defs.kpis import genre_daily_kpis, top_genres_daily, top_songs_per_genre
from music_pipeline.defs.metadata import per_day
from music_pipeline.defs.partitions import daily_partitions, days_of, single_run
from music_pipeline.resources import DynamoDBResource, LakeResource
from music_pipeline.storage import dynamodb
from music_pipeline.storage.lake import partition_key


def serving_asset(name: str, gold: AssetsDefinition, table: str, spec: dynamodb.TableSpec) -> AssetsDefinition:
    @asset(name=name, partitions_def=daily_partitions, backfill_policy=single_run, group_name="serving",
           kinds={"dynamodb"}, deps=[gold], code_version="1",
           description=f"The day's items of the DynamoDB table {spec.name} (key {spec.pk}, {spec.sk}), "
           f"equal to the day's {gold.key.to_user_string()} rows; stale items of the day are deleted.")
    def _asset(context: AssetExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource) -> MaterializeResult:
        the_lake, tables = lake.get(), dynamodb_tables.get()
        tables.ensure()
        written, deleted = {}, {}
        for day in days_of(context):
            items = dynamodb.rows_to_items(spec, the_lake.read_parquet([partition_key(table, day)]))
            result = tables.replace_day(spec, day, items)
            written[day], deleted[day] = result["written"], result["deleted"]
        return MaterializeResult(metadata={
            "table": tables.name(spec),
            "dagster/row_count": sum(written.values()),
            "items_by_day": per_day(written),
            "stale_items_deleted": sum(deleted.values()),
        })

    return _asset


dynamodb_daily_genre_kpis = serving_asset(
    "dynamodb_daily_genre_kpis", genre_daily_kpis, layout.GENRE_DAILY_KPIS, dynamodb.DAILY_GENRE_KPIS)
dynamodb_top_songs_per_genre = serving_asset(
    "dynamodb_top_songs_per_genre", top_songs_per_genre, layout.TOP_SONGS_PER_GENRE, dynamodb.TOP_SONGS_PER_GENRE)
dynamodb_top_genres_daily = serving_asset(
    "dynamodb_top_genres_daily", top_genres_daily, layout.TOP_GENRES_DAILY, dynamodb.TOP_GENRES_DAILY)
