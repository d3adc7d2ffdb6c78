-- Per (date, artist): every artist credited on a listen's song (`;`-separated, trimmed, each name once
-- per listen; a song without one credits 'unknown') is credited the whole listen. Every artist of the
-- day is ranked by listen_count desc, then artist asc.
-- The credits are a small bridge built from songs (track_id -> each distinct artist), so the day's
-- listens are joined to it once instead of splitting a string per listen.
WITH named_credits AS (
  SELECT DISTINCT s.track_id, TRIM(credit_list.credit) AS artist
  FROM songs AS s
    LATERAL VIEW EXPLODE(SPLIT(COALESCE(s.artists, ''), ';')) credit_list AS credit
  WHERE TRIM(credit_list.credit) <> ''
),
totals AS (
  SELECT
    v.date,
    COALESCE(c.artist, 'unknown') AS artist,
    COUNT(*) AS listen_count,
    COUNT(DISTINCT v.user_id) AS unique_listeners,
    SUM(v.listening_time_ms) AS total_listening_time_ms
  FROM validated_streams AS v
  LEFT JOIN named_credits AS c ON v.track_id = c.track_id
  GROUP BY v.date, COALESCE(c.artist, 'unknown')
)
SELECT
  date, artist, listen_count, unique_listeners, total_listening_time_ms,
  ROW_NUMBER() OVER (PARTITION BY date ORDER BY listen_count DESC, artist ASC) AS rank
FROM totals
