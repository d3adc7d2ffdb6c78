-- Exactly min($top_songs_n, tracks) songs per (date, genre): play count desc, then track_id asc.
WITH plays AS (
  SELECT date, genre, track_id, COUNT(*) AS play_count
  FROM validated_streams
  GROUP BY date, genre, track_id
),
ranked AS (
  SELECT
    p.*,
    ROW_NUMBER() OVER (PARTITION BY p.date, p.genre ORDER BY p.play_count DESC, p.track_id ASC) AS rank
  FROM plays AS p
)
SELECT r.date, r.genre, r.rank, r.track_id, s.track_name, s.artists, r.play_count
FROM ranked AS r
LEFT JOIN songs AS s ON r.track_id = s.track_id
WHERE r.rank <= $top_songs_n
