"""The hand-written PySpark reference: the same outputs as the project's spark engine (validated and rejected
listens, the genre family and the engagement, artist and platform KPIs), written directly with the DataFrame
API in one script (no SQL files, no staging, no per-day publishing), from the same bronze slices and
validated songs and users.

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
    spark,
    bronze_files: list[str],
    songs_file: str,
    users_file: str,
    out: str,
    top_songs: int = 3,
    top_genres: int = 5,
    session_gap_minutes: int = 30,
) -> None:
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    songs = spark.read.parquet(songs_file).select("track_id", "genre", "duration_ms", "track_name", "artists")
    users = spark.read.parquet(users_file).select("user_id", "user_country", "subscription_type")
    listens = spark.read.parquet(*bronze_files).select(
        "date",
        F.trim("user_id").alias("user_id"),
        F.trim("track_id").alias("track_id"),
        "listen_time",
        "listen_duration_ms",
        F.nullif(F.trim("stream_id"), F.lit("")).alias("stream_id"),
        "completed",
        F.coalesce(F.nullif(F.lower(F.trim("device_type")), F.lit("")), F.lit("unknown")).alias("device_type"),
        "source_file",
        "source_line",
    )
    # duplicates: the first (source_file, source_line) of an exact (user, track, time) is kept, and of a
    # non-blank stream_id of the day; only listens that have a stream_id are windowed by it
    first = Window.partitionBy("user_id", "track_id", "listen_time").orderBy("source_file", "source_line")
    by_stream = Window.partitionBy("date", "stream_id").orderBy("source_file", "source_line")
    numbered = listens.withColumn("occurrence", F.row_number().over(first))
    numbered = (
        numbered.where(F.col("stream_id").isNotNull())
        .withColumn("stream_occurrence", F.row_number().over(by_stream))
        .unionByName(numbered.where(F.col("stream_id").isNull()).withColumn("stream_occurrence", F.lit(None).cast("int")))
    )
    classified = (
        numbered.join(
            songs.select("track_id", "genre", "duration_ms", F.col("track_id").alias("known_track")), "track_id", "left"
        )
        .join(users.select(F.col("user_id").alias("known_user")), F.col("user_id") == F.col("known_user"), "left")
        .withColumn("listening_time_ms", F.coalesce("listen_duration_ms", "duration_ms"))
        .withColumn(
            "reason",
            F.when(F.col("user_id").isNull() | (F.col("user_id") == ""), "missing_user_id")
            .when(F.col("track_id").isNull() | (F.col("track_id") == ""), "missing_track_id")
            .when(F.col("known_track").isNull(), "unknown_track_id")
            .when(F.col("known_user").isNull(), "unknown_user_id")
            .when((F.col("occurrence") > 1) | (F.col("stream_occurrence") > 1), "duplicate_listen"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    cached = [classified]
    try:
        valid = classified.where(F.col("reason").isNull()).select(
            "date",
            "user_id",
            "track_id",
            "listen_time",
            "genre",
            "listening_time_ms",
            "stream_id",
            "completed",
            "device_type",
            "source_file",
            "source_line",
        )
        valid.withColumn("day", F.col("date").cast("string")).repartition("day").write.partitionBy("day").mode(
            "overwrite"
        ).parquet(f"{out}/validated_streams")
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
        valid = valid.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(valid)
        day_listens = Window.partitionBy("date")

        # the genre family
        kpis = (
            valid.groupBy("date", "genre")
            .agg(
                F.count("*").alias("listen_count"),
                F.countDistinct("user_id").alias("unique_listeners"),
                F.sum("listening_time_ms").alias("total_listening_time_ms"),
            )
            .withColumn("avg_listening_time_per_user_ms", F.col("total_listening_time_ms") / F.col("unique_listeners"))
            .withColumn("listen_share", F.col("listen_count").cast("double") / F.sum("listen_count").over(day_listens))
            .persist()
        )
        cached.append(kpis)
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

        # engagement: sessions of a user's day in (listen_time, source_file, source_line) order; a gap of more
        # than the session gap starts one; a session lasts from its first listen_time to its last listen's
        # listen_time + listening time
        in_order = Window.partitionBy("date", "user_id").orderBy("listen_time", "source_file", "source_line")
        gap = F.expr(f"INTERVAL {int(session_gap_minutes)} MINUTES")
        previous = F.lag("listen_time").over(in_order)
        sessions = (
            valid.select("date", "user_id", "listen_time", "source_file", "source_line", "listening_time_ms")
            .withColumn("starts", F.when(previous.isNull() | (F.col("listen_time") > previous + gap), 1).otherwise(0))
            .withColumn("session", F.sum("starts").over(in_order.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
            .groupBy("date", "user_id", "session")
            .agg(
                F.min("listen_time").alias("started"),
                F.max(F.struct("listen_time", "source_file", "source_line", "listening_time_ms")).alias("last"),
            )
            .select(
                "date",
                (
                    F.floor(
                        (
                            F.unix_micros(F.col("last.listen_time").cast("timestamp"))
                            - F.unix_micros(F.col("started").cast("timestamp"))
                        )
                        / 1000
                    ).cast("long")
                    + F.col("last.listening_time_ms")
                ).alias("duration_ms"),
            )
            .groupBy("date")
            .agg(
                F.count("*").alias("sessions"),
                (F.sum("duration_ms").cast("double") / F.count("*")).alias("avg_session_duration_ms"),
            )
        )
        peak = (
            valid.groupBy("date", F.hour("listen_time").alias("hour"))
            .agg(F.count("*").alias("n"))
            .groupBy("date")
            .agg(F.max(F.struct("n", (-F.col("hour")).alias("earlier"))).alias("top"))
            .select("date", (-F.col("top.earlier")).cast("long").alias("peak_hour"))
        )
        (
            valid.groupBy("date")
            .agg(
                F.countDistinct("user_id").alias("daily_active_users"),
                F.count("*").alias("listens"),
                F.sum(F.when(F.col("completed"), 1).otherwise(0)).alias("completed_listens"),
                F.count("completed").alias("completion_known_listens"),
            )
            .join(sessions, "date")
            .join(peak, "date")
            .select(
                "date",
                "daily_active_users",
                "listens",
                (F.col("listens").cast("double") / F.col("daily_active_users")).alias("listens_per_user"),
                "sessions",
                "avg_session_duration_ms",
                F.when(
                    F.col("completion_known_listens") > 0,
                    F.col("completed_listens").cast("double") / F.col("completion_known_listens"),
                ).alias("completion_rate"),
                "completion_known_listens",
                "peak_hour",
            )
            .coalesce(1)
            .write.mode("overwrite")
            .parquet(f"{out}/daily_user_engagement")
        )

        # artists: each distinct trimmed name of a song's `;`-separated credits gets the whole listen; a song
        # crediting nobody credits 'unknown'; every artist of the day ranked by listen_count desc, artist asc
        names = F.array_distinct(F.filter(F.transform(F.split(F.coalesce("artists", F.lit("")), ";"), F.trim), lambda a: a != ""))
        credits = songs.select(
            "track_id", F.explode(F.when(F.size(names) > 0, names).otherwise(F.array(F.lit("unknown")))).alias("artist")
        )
        by_listens = Window.partitionBy("date").orderBy(F.desc("listen_count"), "artist")
        (
            valid.select("date", "track_id", "user_id", "listening_time_ms")
            .join(F.broadcast(credits), "track_id")
            .groupBy("date", "artist")
            .agg(
                F.count("*").alias("listen_count"),
                F.countDistinct("user_id").alias("unique_listeners"),
                F.sum("listening_time_ms").alias("total_listening_time_ms"),
            )
            .withColumn("rank", F.row_number().over(by_listens).cast("long"))
            .coalesce(1)
            .write.mode("overwrite")
            .parquet(f"{out}/artist_daily_popularity")
        )

        # platform: listens by device type, UTC hour, country and subscription type of the user
        dimensions = F.array(
            F.struct(F.lit("device_type").alias("dimension"), F.col("device_type").alias("value")),
            F.struct(F.lit("hour").alias("dimension"), F.lpad(F.hour("listen_time").cast("string"), 2, "0").alias("value")),
            F.struct(F.lit("country").alias("dimension"), F.coalesce("user_country", F.lit("unknown")).alias("value")),
            F.struct(
                F.lit("subscription_type").alias("dimension"), F.coalesce("subscription_type", F.lit("unknown")).alias("value")
            ),
        )
        (
            valid.join(F.broadcast(users), "user_id", "left")
            .select("date", "user_id", "listening_time_ms", F.explode(dimensions).alias("d"))
            .groupBy("date", F.col("d.dimension").alias("dimension"), F.col("d.value").alias("value"))
            .agg(
                F.count("*").alias("listen_count"),
                F.countDistinct("user_id").alias("unique_listeners"),
                F.sum("listening_time_ms").alias("total_listening_time_ms"),
            )
            .withColumn(
                "listen_share",
                F.col("listen_count").cast("double") / F.sum("listen_count").over(Window.partitionBy("date", "dimension")),
            )
            .coalesce(1)
            .write.mode("overwrite")
            .parquet(f"{out}/platform_usage_daily")
        )
    finally:
        for frame in reversed(cached):
            frame.unpersist()
