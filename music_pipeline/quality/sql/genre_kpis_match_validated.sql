-- Per genre, the KPIs against the validated listens they summarize: listen_count,
-- unique_listeners and total_listening_time_ms (views: validated_streams, genre_daily_kpis).
-- KPI rows are summed per genre first, so a genre with two KPI rows shows up (with its name).
WITH listens AS (
  SELECT genre, COUNT(*) AS listens, COUNT(DISTINCT user_id) AS listeners, CAST(SUM(listening_time_ms) AS BIGINT) AS time_ms
  FROM validated_streams
  GROUP BY genre
),
kpis AS (
  SELECT
    genre, COUNT(*) AS kpi_rows, CAST(SUM(listen_count) AS BIGINT) AS listen_count,
    CAST(SUM(unique_listeners) AS BIGINT) AS unique_listeners,
    CAST(SUM(total_listening_time_ms) AS BIGINT) AS total_listening_time_ms
  FROM genre_daily_kpis
  GROUP BY genre
)
SELECT
  COALESCE(l.genre, k.genre) AS genre,
  l.listens AS validated_listens, k.listen_count,
  l.listeners AS validated_listeners, k.unique_listeners,
  l.time_ms AS validated_time_ms, k.total_listening_time_ms,
  CASE
    WHEN k.genre IS NULL THEN 'genre missing from the KPIs'
    WHEN l.genre IS NULL THEN 'genre has no validated listens'
    WHEN k.kpi_rows > 1 THEN 'genre has ' || CAST(k.kpi_rows AS VARCHAR) || ' KPI rows'
    WHEN l.listens <> k.listen_count THEN 'listen_count differs from validated listens'
    WHEN l.listeners <> k.unique_listeners THEN 'unique_listeners differs from distinct validated users'
    ELSE 'total_listening_time_ms differs from validated listening time'
  END AS problem
FROM listens AS l
FULL OUTER JOIN kpis AS k ON l.genre = k.genre
WHERE
  k.genre IS NULL OR l.genre IS NULL OR k.kpi_rows > 1
  OR l.listens <> k.listen_count OR l.listeners <> k.unique_listeners OR l.time_ms <> k.total_listening_time_ms
ORDER BY 1
