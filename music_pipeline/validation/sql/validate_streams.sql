-- Classify every bronze listen of the requested days against the validated reference tables.
-- `reason` is NULL for a valid listen. The first failing rule, in this order, is the reason.
-- `duplicate_listen`: an exact duplicate of (user_id, track_id, listen_time), or a repeated
-- non-blank stream_id of the day, beyond the first in (source_file, source_line) order, across
-- all files of the day.
WITH listens AS (
  SELECT
    date,
    TRIM(user_id) AS user_id,
    TRIM(track_id) AS track_id,
    listen_time,
    listen_duration_ms,
    NULLIF(TRIM(stream_id), '') AS stream_id,
    completed,
    COALESCE(NULLIF(LOWER(TRIM(device_type)), ''), 'unknown') AS device_type,
    source_file,
    source_line
  FROM bronze_streams
),
-- Duplicates are found by aggregating the keys that repeat, never by a sort of every row: first the
-- hashes of the keys that repeat (view repeated_listen_hashes: the values of listen_key_hashes.sql that occur
-- more than once), then, over the rows of those hashes only, the keys that repeat and their first occurrence in
-- (source_file, source_line) order (a hash shared by two different keys only adds candidates, the exact
-- aggregate decides). These read bronze_streams with the same expressions as `listens`, so `listens` is read once.
repeated_listens AS (
  SELECT
    TRIM(user_id) AS user_id,
    TRIM(track_id) AS track_id,
    listen_time,
    MIN(STRUCT(source_file, source_line)) AS first_occurrence
  FROM bronze_streams
  WHERE HASH(TRIM(user_id), TRIM(track_id), listen_time) IN (SELECT rh.value FROM repeated_listen_hashes AS rh)
  GROUP BY TRIM(user_id), TRIM(track_id), listen_time
  HAVING COUNT(*) > 1
),
repeated_streams AS (
  SELECT date, NULLIF(TRIM(stream_id), '') AS stream_id, MIN(STRUCT(source_file, source_line)) AS first_occurrence
  FROM bronze_streams
  WHERE NULLIF(TRIM(stream_id), '') IS NOT NULL
  GROUP BY date, NULLIF(TRIM(stream_id), '')
  HAVING COUNT(*) > 1
),
numbered AS (
  SELECT
    l.*,
    COALESCE(STRUCT(l.source_file, l.source_line) <> rl.first_occurrence, FALSE)
    OR COALESCE(STRUCT(l.source_file, l.source_line) <> rs.first_occurrence, FALSE) AS repeated
  FROM listens AS l
  LEFT JOIN repeated_listens AS rl
    ON l.user_id = rl.user_id AND l.track_id = rl.track_id AND l.listen_time = rl.listen_time
  LEFT JOIN repeated_streams AS rs ON l.date = rs.date AND l.stream_id = rs.stream_id
)
SELECT
  n.date,
  n.user_id,
  n.track_id,
  n.listen_time,
  s.genre,
  COALESCE(n.listen_duration_ms, s.duration_ms) AS listening_time_ms,
  n.stream_id,
  n.completed,
  n.device_type,
  n.source_file,
  n.source_line,
  CASE
    WHEN n.user_id IS NULL OR n.user_id = '' THEN 'missing_user_id'
    WHEN n.track_id IS NULL OR n.track_id = '' THEN 'missing_track_id'
    WHEN s.track_id IS NULL THEN 'unknown_track_id'
    WHEN u.user_id IS NULL THEN 'unknown_user_id'
    WHEN n.repeated THEN 'duplicate_listen'
  END AS reason
FROM numbered AS n
LEFT JOIN songs AS s ON n.track_id = s.track_id
LEFT JOIN users AS u ON n.user_id = u.user_id
