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
-- One pass over the listens computes every dimension (GROUPING SETS), not one copy of the day per dimension.
by_value AS (
  SELECT
    date,
    CASE
      WHEN GROUPING(device_type) = 0 THEN 'device_type'
      WHEN GROUPING(hour) = 0 THEN 'hour'
      WHEN GROUPING(country) = 0 THEN 'country'
      ELSE 'subscription_type'
    END AS dimension,
    COALESCE(device_type, hour, country, subscription_type) AS value,
    COUNT(*) AS listen_count,
    COUNT(DISTINCT user_id) AS unique_listeners,
    SUM(listening_time_ms) AS total_listening_time_ms
  FROM listens
  GROUP BY GROUPING SETS ((date, device_type), (date, hour), (date, country), (date, subscription_type))
)
SELECT
  date, dimension, value, listen_count, unique_listeners, total_listening_time_ms,
  CAST(listen_count AS DOUBLE) / SUM(listen_count) OVER (PARTITION BY date, dimension) AS listen_share
FROM by_value
