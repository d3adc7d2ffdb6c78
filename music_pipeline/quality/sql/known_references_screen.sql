-- How many of the day's distinct (track_id, genre) pairs and user_ids known_references.sql would
-- find fault with: 0 exactly when it has no rows, from a few thousand distinct values instead of
-- every listen (views: validated_streams, songs, users).
SELECT
  (
    SELECT COUNT(*)
    FROM (SELECT DISTINCT track_id, genre FROM validated_streams) AS v
    LEFT JOIN songs AS s ON v.track_id = s.track_id
    WHERE s.track_id IS NULL OR v.genre IS DISTINCT FROM s.genre
  )
  + (
    SELECT COUNT(*)
    FROM (SELECT DISTINCT user_id FROM validated_streams) AS v
    ANTI JOIN users AS u ON v.user_id = u.user_id
  ) AS faults
