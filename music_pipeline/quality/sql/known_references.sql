-- Validated listens whose track or user is not in the validated reference tables, or whose
-- genre is not the song's genre (views: validated_streams, songs, users).
SELECT
  v.user_id, v.track_id, v.listen_time, v.genre, s.genre AS song_genre, v.source_file, v.source_line,
  CASE
    WHEN s.track_id IS NULL THEN 'unknown track_id'
    WHEN u.user_id IS NULL THEN 'unknown user_id'
    ELSE 'genre is not the song''s genre'
  END AS problem
FROM validated_streams AS v
LEFT JOIN songs AS s ON v.track_id = s.track_id
LEFT JOIN users AS u ON v.user_id = u.user_id
WHERE s.track_id IS NULL OR u.user_id IS NULL OR v.genre IS DISTINCT FROM s.genre
-- by source_file, source_line (output positions: the sample is ordered after the query ran)
ORDER BY 6, 7
