-- Validated listens whose own listening time is longer than their track's duration (kept, and
-- warned about: docs/design.md section 3). Views: validated_streams, songs.
SELECT
  v.user_id, v.track_id, v.listen_time, v.listening_time_ms, s.duration_ms AS track_duration_ms,
  v.source_file, v.source_line
FROM validated_streams AS v
INNER JOIN songs AS s ON v.track_id = s.track_id
WHERE v.listening_time_ms > s.duration_ms
-- by source_file, source_line (output positions: the sample is ordered after the query ran)
ORDER BY 6, 7
