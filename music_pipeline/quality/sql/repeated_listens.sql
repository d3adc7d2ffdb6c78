-- The listens of a day that repeat their (user_id, track_id) pair's previous listen by less than
-- $seconds seconds, exact copies of the key included (is_copy): one query answers both
-- near_duplicates and unique_keys of validated_streams (an exact copy is a gap of 0).
-- View: validated_streams.
--
-- Sorting the whole day with its strings is what costs (10M listens: 4 s), so the day is first ordered
-- by two fixed-width values only, a hash of the pair and the time, and only the listens that ordering
-- puts close to their predecessor, with that predecessor, are ordered again with their strings. Exact,
-- whatever the hash does: a listen close to its pair's previous one is close to its predecessor in the
-- hash's order too (pairs sharing a hash only interleave listens between them), and every listen between
-- the two, its predecessor included, is then a candidate; pairs sharing a hash only add candidates.
WITH hashed AS (
  SELECT
    HASH(user_id, track_id) AS pair_hash,
    listen_time
  FROM validated_streams
),

stepped AS (
  SELECT
    pair_hash,
    listen_time,
    ROW_NUMBER() OVER by_hash > 1 AS has_previous,
    LAG(listen_time) OVER by_hash AS previous_listen_time
  FROM hashed
  WINDOW by_hash AS (PARTITION BY pair_hash ORDER BY listen_time)
),

close_steps AS (
  SELECT
    pair_hash,
    listen_time,
    previous_listen_time
  FROM stepped
  WHERE
    has_previous
    AND (
      listen_time IS NOT DISTINCT FROM previous_listen_time
      OR listen_time - previous_listen_time < INTERVAL $seconds SECOND
    )
),

candidate_keys AS (
  SELECT
    pair_hash,
    listen_time
  FROM close_steps
  UNION
  SELECT
    pair_hash,
    previous_listen_time AS listen_time
  FROM close_steps
),

ordered AS (
  SELECT
    v.user_id,
    v.track_id,
    v.listen_time,
    v.source_file,
    v.source_line,
    LAG(v.listen_time) OVER pair AS previous_listen_time,
    (
      ROW_NUMBER() OVER pair > 1
      AND v.listen_time IS NOT DISTINCT FROM LAG(v.listen_time) OVER pair
    ) AS is_copy
  FROM validated_streams AS v
  INNER JOIN candidate_keys AS c
    ON HASH(v.user_id, v.track_id) = c.pair_hash AND v.listen_time IS NOT DISTINCT FROM c.listen_time
  -- copies of one listen_time in source order: every engine reports the same copy as the repeat
  WINDOW pair AS (PARTITION BY v.user_id, v.track_id ORDER BY v.listen_time, v.source_file, v.source_line)
)

SELECT
  user_id, track_id, listen_time, source_file, source_line, previous_listen_time, is_copy
FROM ordered
WHERE is_copy OR listen_time - previous_listen_time < INTERVAL $seconds SECOND
