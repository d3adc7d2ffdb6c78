-- Exactly min($top_genres_n, genres) genres per date: listen_count desc, then genre asc.
WITH ranked AS (
  SELECT
    k.*,
    ROW_NUMBER() OVER (PARTITION BY k.date ORDER BY k.listen_count DESC, k.genre ASC) AS rank
  FROM genre_daily_kpis AS k
)
SELECT date, rank, genre, listen_count, unique_listeners, total_listening_time_ms
FROM ranked
WHERE rank <= $top_genres_n
