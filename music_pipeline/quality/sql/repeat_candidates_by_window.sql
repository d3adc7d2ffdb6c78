-- The candidates of repeated_listens.sql, found with the engine's own windows (Spark, and a day too large to
-- sort in this process): the listens of validated_streams that may repeat their (user_id, track_id) pair's
-- previous listen by less than $seconds seconds, each with every listen of its pair between the two.
--
-- Sorting the whole day with its strings is what costs, so the day is first ordered by two fixed-width values
-- only, a hash of the pair and the time; the listens this order puts close to their predecessor, and those
-- predecessors, are the candidates. Complete whatever the hash does: a listen close to its pair's previous one
-- is close to its predecessor in the hash's order too (pairs sharing a hash only interleave listens between
-- them), and every listen between the two, its predecessor included, is then a candidate; pairs sharing a
-- hash only add candidates.
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
)

SELECT
  v.user_id,
  v.track_id,
  v.listen_time,
  v.source_file,
  v.source_line
FROM validated_streams AS v
INNER JOIN candidate_keys AS c
  ON HASH(v.user_id, v.track_id) = c.pair_hash AND v.listen_time IS NOT DISTINCT FROM c.listen_time
