-- The listens validate_streams.sql keeps (reason NULL), without classifying the day again: the bronze
-- listens minus the rejects already written (view `stream_rejects`: every classified row with a reason),
-- matched on bronze's key (source_file, source_line), with the columns validate_streams.sql gives them
-- (the same expressions: keep both files equal). The rejects' classification is the only one.
SELECT
  b.date,
  TRIM(b.user_id) AS user_id,
  TRIM(b.track_id) AS track_id,
  b.listen_time,
  s.genre,
  COALESCE(b.listen_duration_ms, s.duration_ms) AS listening_time_ms,
  NULLIF(TRIM(b.stream_id), '') AS stream_id,
  b.completed,
  COALESCE(NULLIF(LOWER(TRIM(b.device_type)), ''), 'unknown') AS device_type,
  b.source_file,
  b.source_line
FROM bronze_streams AS b
LEFT ANTI JOIN stream_rejects AS r
  ON b.source_file <=> r.source_file AND b.source_line <=> r.source_line
LEFT JOIN songs AS s ON TRIM(b.track_id) = s.track_id
