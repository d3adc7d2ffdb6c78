-- Per (date, artist): every artist credited on a listen's song (`;`-separated, trimmed, each name once
-- per listen; a song without one credits 'unknown') is credited the whole listen. Every artist of the
-- day is ranked by listen_count desc, then artist asc.
WITH credits AS (
  SELECT DISTINCT v.date, v.user_id, v.listening_time_ms, v.source_file, v.source_line, TRIM(credit_list.credit) AS artist
  FROM validated_streams AS v
  -- songs is read by the LATERAL VIEW below (sqlfluff does not see it)
  LEFT JOIN songs AS s ON v.track_id = s.track_id  -- noqa: ST11
    LATERAL VIEW EXPLODE(SPLIT(COALESCE(s.artists, ''), ';')) credit_list AS credit
  WHERE TRIM(credit_list.credit) <> ''
),
uncredited AS (
  SELECT v.date, v.user_id, v.listening_time_ms, v.source_file, v.source_line, 'unknown' AS artist
  FROM validated_streams AS v
  LEFT ANTI JOIN credits AS c ON v.source_file = c.source_file AND v.source_line = c.source_line
),
totals AS (
  SELECT
    date, artist, COUNT(*) AS listen_count, COUNT(DISTINCT user_id) AS unique_listeners,
    SUM(listening_time_ms) AS total_listening_time_ms
  FROM (
    SELECT * FROM credits
    UNION ALL
    SELECT * FROM uncredited
  ) AS credited
  GROUP BY date, artist
)
SELECT
  date, artist, listen_count, unique_listeners, total_listening_time_ms,
  ROW_NUMBER() OVER (PARTITION BY date ORDER BY listen_count DESC, artist ASC) AS rank
FROM totals
