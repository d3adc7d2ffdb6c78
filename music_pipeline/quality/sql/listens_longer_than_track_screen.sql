-- How many tracks have a listen longer than the track (listens_longer_than_track.sql lists them):
-- 0 exactly when that query has no rows, from each track's longest listen of the day
-- (views: validated_streams, songs).
SELECT COUNT(*) AS tracks
FROM (
  SELECT track_id, MAX(listening_time_ms) AS longest_ms
  FROM validated_streams
  GROUP BY track_id
) AS v
INNER JOIN songs AS s ON v.track_id = s.track_id
WHERE v.longest_ms > s.duration_ms
