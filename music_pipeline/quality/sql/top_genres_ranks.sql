-- Top genres of the day: exactly min($top_genres_n, genres) rows ranked 1..n, ordered by listen_count desc
-- then genre asc, each equal to its genre's KPI row, and no genre left out with more listens
-- than the last one in. Views: genre_daily_kpis, top_genres_daily.
WITH expected AS (
  SELECT LEAST(COUNT(*), $top_genres_n) AS n FROM genre_daily_kpis
),
actual AS (
  SELECT COUNT(*) AS n FROM top_genres_daily
),
ordered AS (
  SELECT
    t.*,
    ROW_NUMBER() OVER w AS position,
    LAG(listen_count) OVER w AS previous_listen_count,
    LAG(genre) OVER w AS previous_genre
  FROM top_genres_daily AS t
  WINDOW w AS (ORDER BY rank, genre)
),
last_in AS (
  SELECT listen_count, genre FROM top_genres_daily ORDER BY rank DESC LIMIT 1
)
SELECT CAST(NULL AS BIGINT) AS rank, CAST(NULL AS VARCHAR) AS genre,
       CAST(a.n AS VARCHAR) || ' rows, expected ' || CAST(e.n AS VARCHAR) AS problem
FROM expected AS e, actual AS a WHERE a.n <> e.n
UNION ALL
SELECT rank, genre, 'rank ' || CAST(rank AS VARCHAR) || ' at position ' || CAST(position AS VARCHAR)
FROM ordered WHERE rank <> position
UNION ALL
SELECT rank, genre, 'ranked above a genre with more listens or a smaller name on a tie'
FROM ordered
WHERE previous_listen_count < listen_count OR (previous_listen_count = listen_count AND previous_genre >= genre)
UNION ALL
SELECT t.rank, t.genre, 'differs from its genre_daily_kpis row'
FROM top_genres_daily AS t LEFT JOIN genre_daily_kpis AS k ON t.genre = k.genre
WHERE k.genre IS NULL OR k.listen_count <> t.listen_count OR k.unique_listeners <> t.unique_listeners
   OR k.total_listening_time_ms <> t.total_listening_time_ms
UNION ALL
SELECT CAST(NULL AS BIGINT), k.genre, 'left out with more listens than the last genre in'
FROM genre_daily_kpis AS k, last_in AS l
WHERE k.genre NOT IN (SELECT genre FROM top_genres_daily)
  AND (k.listen_count > l.listen_count OR (k.listen_count = l.listen_count AND k.genre < l.genre))
ORDER BY 1 NULLS FIRST, 2
