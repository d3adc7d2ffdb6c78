"""The hand-written PySpark reference: the same outputs as the project's spark engine, written
directly with the DataFrame API in one script (no SQL files, no staging, no per-day publishing).

The session is configured like the project's local session (local[*], 4g driver, 8 shuffle
partitions, AQE, UTC) so the comparison measures the code, not the settings.
"""

from __future__ import annotations

SPARK_CONF = {
    "spark.master": "local[*]",
    "spark.app.name": "handwritten",
    "spark.driver.memory": "4g",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def session():
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(
    spark, bronze_files: list[str], songs_file: str, users_file: str, out: str, top_songs: int = 3, top_genres: int = 5
) -> None:
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    songs = spark.read.parquet(songs_file).select("track_id", "genre", "duration_ms", "track_name", "artists")
    users = spark.read.parquet(users_file).select(F.col("user_id").alias("known_user"))
    listens = (
        spark.read.parquet(*bronze_files).withColumn("user_id", F.trim("user_id")).withColumn("track_id", F.trim("track_id"))
    )
    first = Window.partitionBy("user_id", "track_id", "listen_time").orderBy("source_file", "source_line")
    classified = (
        listens.withColumn("occurrence", F.row_number().over(first))
        .join(songs.select("track_id", "genre", "duration_ms", F.col("track_id").alias("known_track")), "track_id", "left")
        .join(users, F.col("user_id") == F.col("known_user"), "left")
        .withColumn("listening_time_ms", F.coalesce("listen_duration_ms", "duration_ms"))
        .withColumn(
            "reason",
            F.when(F.col("user_id").isNull() | (F.col("user_id") == ""), "missing_user_id")
            .when(F.col("track_id").isNull() | (F.col("track_id") == ""), "missing_track_id")
            .when(F.col("known_track").isNull(), "unknown_track_id")
            .when(F.col("known_user").isNull(), "unknown_user_id")
            .when(F.col("occurrence") > 1, "duplicate_listen"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        valid = classified.where(F.col("reason").isNull())
        (
            valid.select(
                "date",
                "user_id",
                "track_id",
                "listen_time",
                "genre",
                "listening_time_ms",
                "source_file",
                "source_line",
                F.col("date").cast("string").alias("day"),
            )
            .repartition("day")
            .write.partitionBy("day")
            .mode("overwrite")
            .parquet(f"{out}/validated_streams")
        )
        (
            classified.where(F.col("reason").isNotNull())
            .select(
                "date",
                "user_id",
                "track_id",
                "listen_time",
                "source_file",
                "source_line",
                "reason",
                F.col("date").cast("string").alias("day"),
            )
            .write.partitionBy("day")
            .mode("overwrite")
            .parquet(f"{out}/stream_rejects")
        )
        kpis = (
            valid.groupBy("date", "genre")
            .agg(
                F.count("*").alias("listen_count"),
                F.countDistinct("user_id").alias("unique_listeners"),
                F.sum("listening_time_ms").alias("total_listening_time_ms"),
            )
            .withColumn("avg_listening_time_per_user_ms", F.col("total_listening_time_ms") / F.col("unique_listeners"))
            .persist()
        )
        kpis.coalesce(1).write.mode("overwrite").parquet(f"{out}/genre_daily_kpis")
        by_plays = Window.partitionBy("date", "genre").orderBy(F.desc("play_count"), "track_id")
        (
            valid.groupBy("date", "genre", "track_id")
            .agg(F.count("*").alias("play_count"))
            .withColumn("rank", F.row_number().over(by_plays))
            .where(F.col("rank") <= top_songs)
            .join(songs.select("track_id", "track_name", "artists"), "track_id", "left")
            .select("date", "genre", "rank", "track_id", "track_name", "artists", "play_count")
            .coalesce(1)
            .write.mode("overwrite")
            .parquet(f"{out}/top_songs_per_genre")
        )
        by_count = Window.partitionBy("date").orderBy(F.desc("listen_count"), "genre")
        (
            kpis.withColumn("rank", F.row_number().over(by_count))
            .where(F.col("rank") <= top_genres)
            .select("date", "rank", "genre", "listen_count", "unique_listeners", "total_listening_time_ms")
            .coalesce(1)
            .write.mode("overwrite")
            .parquet(f"{out}/top_genres_daily")
        )
        kpis.unpersist()
    finally:
        classified.unpersist()
