-- Listens of the same user and track less than $seconds seconds after the previous one
-- (exact duplicates are already rejected by validation). View: validated_streams.
WITH ordered AS (
  SELECT
    user_id, track_id, listen_time, source_file, source_line,
    LAG(listen_time) OVER (PARTITION BY user_id, track_id ORDER BY listen_time) AS previous_listen_time
  FROM validated_streams
)
SELECT user_id, track_id, previous_listen_time, listen_time, source_file, source_line
FROM ordered
WHERE
  previous_listen_time IS NOT NULL
  AND listen_time - previous_listen_time < INTERVAL $seconds SECOND
ORDER BY user_id, track_id, listen_time
