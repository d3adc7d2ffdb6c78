-- The listens of a day that repeat their (user_id, track_id) pair's previous listen by less than
-- $seconds seconds, exact copies of the key included (is_copy): one query answers both
-- near_duplicates and unique_keys of validated_streams (an exact copy is a gap of 0).
--
-- View repeat_candidates (repeats.py): the listens that may repeat their pair's previous one, each with every
-- listen of its pair between the two, so that within them a candidate's previous listen is its previous listen
-- of the whole day. Only they are ordered with their strings.
WITH ordered AS (
  SELECT
    user_id,
    track_id,
    listen_time,
    source_file,
    source_line,
    LAG(listen_time) OVER pair AS previous_listen_time,
    (
      ROW_NUMBER() OVER pair > 1
      AND listen_time IS NOT DISTINCT FROM LAG(listen_time) OVER pair
    ) AS is_copy
  FROM repeat_candidates
  -- copies of one listen_time in source order: every engine reports the same copy as the repeat
  WINDOW pair AS (PARTITION BY user_id, track_id ORDER BY listen_time, source_file, source_line)
)

SELECT
  user_id, track_id, listen_time, source_file, source_line, previous_listen_time, is_copy
FROM ordered
WHERE is_copy OR listen_time - previous_listen_time < INTERVAL $seconds SECOND
