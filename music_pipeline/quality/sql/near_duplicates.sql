-- Listens of the same user and track less than $seconds seconds after the previous one
-- (exact duplicates are already rejected by validation). View: validated_streams.
-- Only (user, track) pairs played more than once can repeat: an aggregate finds them, and only
-- their listens are sorted.
WITH repeated AS (
  SELECT user_id, track_id FROM validated_streams GROUP BY user_id, track_id HAVING COUNT(*) > 1
),
ordered AS (
  SELECT
    v.user_id, v.track_id, v.listen_time, v.source_file, v.source_line,
    LAG(v.listen_time) OVER (PARTITION BY v.user_id, v.track_id ORDER BY v.listen_time) AS previous_listen_time
  FROM validated_streams AS v
  INNER JOIN repeated AS r ON v.user_id = r.user_id AND v.track_id = r.track_id
)
SELECT user_id, track_id, previous_listen_time, listen_time, source_file, source_line
FROM ordered
WHERE
  previous_listen_time IS NOT NULL
  AND listen_time - previous_listen_time < INTERVAL $seconds SECOND
ORDER BY user_id, track_id, listen_time
