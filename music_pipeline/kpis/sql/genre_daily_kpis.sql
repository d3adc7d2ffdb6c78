-- Daily KPIs per genre over validated listens; listen_share = the genre's share of the day's listens.
SELECT
  date,
  genre,
  COUNT(*) AS listen_count,
  COUNT(DISTINCT user_id) AS unique_listeners,
  SUM(listening_time_ms) AS total_listening_time_ms,
  SUM(listening_time_ms) / COUNT(DISTINCT user_id) AS avg_listening_time_per_user_ms,
  CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY date) AS listen_share
FROM validated_streams
GROUP BY date, genre
