-- Per (date, dimension, value) for device_type, hour (00-23 UTC), country and subscription_type of the
-- validated listens (a missing value is 'unknown'); each dimension's listen_count sums to the day's
-- listens, and listen_share is the value's share of them.
WITH listens AS (
  SELECT
    v.date, v.user_id, v.listening_time_ms,
    v.device_type,
    LPAD(CAST(HOUR(v.listen_time) AS STRING), 2, '0') AS hour,
    COALESCE(u.user_country, 'unknown') AS country,
    COALESCE(u.subscription_type, 'unknown') AS subscription_type
  FROM validated_streams AS v
  LEFT JOIN users AS u ON v.user_id = u.user_id
),
by_value AS (
  SELECT date, 'device_type' AS dimension, device_type AS value, user_id, listening_time_ms FROM listens
  UNION ALL SELECT date, 'hour', hour, user_id, listening_time_ms FROM listens
  UNION ALL SELECT date, 'country', country, user_id, listening_time_ms FROM listens
  UNION ALL SELECT date, 'subscription_type', subscription_type, user_id, listening_time_ms FROM listens
)
SELECT
  date, dimension, value,
  COUNT(*) AS listen_count,
  COUNT(DISTINCT user_id) AS unique_listeners,
  SUM(listening_time_ms) AS total_listening_time_ms,
  CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY date, dimension) AS listen_share
FROM by_value
GROUP BY date, dimension, value
