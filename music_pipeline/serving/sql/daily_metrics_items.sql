-- The DailyMetrics items of the days (docs/design.md section 6), from the gold tables: one row per item,
-- metric_key `<date>` or `<date>#<dimension>=<value>`; (dimension, dimension_value) become the item's
-- `dimensions` map. Views: daily_user_engagement, platform_usage_daily, artist_daily_popularity,
-- genre_daily_kpis, data_quality_daily (the scorecard: quality_* items, absent on a day without one).
WITH engagement AS (
  SELECT CAST(date AS STRING) AS day, * FROM daily_user_engagement
),
per_day AS (
  SELECT day, 'daily_active_users' AS metric_type, CAST(daily_active_users AS DOUBLE) AS value, 'count' AS unit FROM engagement
  UNION ALL
  SELECT day, 'listens', CAST(listens AS DOUBLE), 'count' FROM engagement
  UNION ALL
  SELECT day, 'listens_per_user', listens_per_user, 'ratio' FROM engagement
  UNION ALL
  SELECT day, 'sessions', CAST(sessions AS DOUBLE), 'count' FROM engagement
  UNION ALL
  SELECT day, 'avg_session_duration_ms', avg_session_duration_ms, 'ms' FROM engagement
  UNION ALL
  SELECT day, 'completion_rate', completion_rate, 'ratio' FROM engagement WHERE completion_rate IS NOT NULL
  UNION ALL
  SELECT day, 'peak_hour', CAST(peak_hour AS DOUBLE), 'hour' FROM engagement
  UNION ALL
  SELECT CAST(date AS STRING), 'quality_completeness', completeness, 'ratio' FROM data_quality_daily
  UNION ALL
  SELECT CAST(date AS STRING), 'quality_validity', validity, 'ratio' FROM data_quality_daily
  UNION ALL
  SELECT CAST(date AS STRING), 'quality_consistency', consistency, 'ratio' FROM data_quality_daily
  UNION ALL
  SELECT CAST(date AS STRING), 'quality_uniqueness', uniqueness, 'ratio' FROM data_quality_daily
  UNION ALL
  SELECT CAST(date AS STRING), 'quality_timeliness_seconds', timeliness_seconds, 's'
  FROM data_quality_daily
  WHERE timeliness_seconds IS NOT NULL
),
per_value AS (
  SELECT
    CAST(date AS STRING) AS day, 'listens_by_genre' AS metric_type, 'genre' AS dimension, genre AS dimension_value,
    CAST(listen_count AS DOUBLE) AS value, listen_share AS share, CAST(NULL AS BIGINT) AS rank
  FROM genre_daily_kpis
  UNION ALL
  SELECT
    CAST(date AS STRING), CONCAT('listens_by_', dimension), dimension, value, CAST(listen_count AS DOUBLE),
    listen_share, CAST(NULL AS BIGINT)
  FROM platform_usage_daily
  UNION ALL
  SELECT CAST(date AS STRING), 'top_artists', 'artist', artist, CAST(listen_count AS DOUBLE), CAST(NULL AS DOUBLE), rank
  FROM artist_daily_popularity
  WHERE rank <= $top_artists_n
)
SELECT
  metric_type, day AS metric_key, day AS date, value, unit, CAST(NULL AS DOUBLE) AS share,
  CAST(NULL AS BIGINT) AS rank, CAST(NULL AS STRING) AS dimension, CAST(NULL AS STRING) AS dimension_value
FROM per_day
UNION ALL
SELECT
  metric_type, CONCAT(day, '#', dimension, '=', dimension_value), day, value, 'count', share, rank, dimension,
  dimension_value
FROM per_value
