-- Top songs of the day: per genre exactly min($top_songs_n, tracks played) rows ranked 1..n, ordered by
-- play_count desc then track_id asc, each play_count equal to the track's validated listens.
-- Views: validated_streams, top_songs_per_genre.
WITH plays AS (
  SELECT genre, track_id, COUNT(*) AS plays FROM validated_streams GROUP BY genre, track_id
),
expected AS (
  SELECT genre, LEAST(COUNT(*), $top_songs_n) AS n FROM plays GROUP BY genre
),
sizes AS (
  SELECT genre, COUNT(*) AS n FROM top_songs_per_genre GROUP BY genre
),
ordered AS (
  SELECT
    t.*,
    ROW_NUMBER() OVER w AS position,
    LAG(play_count) OVER w AS previous_play_count,
    LAG(track_id) OVER w AS previous_track_id
  FROM top_songs_per_genre AS t
  WINDOW w AS (PARTITION BY genre ORDER BY rank, track_id)
)
SELECT COALESCE(e.genre, s.genre) AS genre, CAST(NULL AS BIGINT) AS rank, CAST(NULL AS VARCHAR) AS track_id,
       CAST(COALESCE(s.n, 0) AS VARCHAR) || ' rows, expected ' || CAST(COALESCE(e.n, 0) AS VARCHAR) AS problem
FROM expected AS e FULL OUTER JOIN sizes AS s ON e.genre = s.genre
WHERE s.n IS DISTINCT FROM e.n
UNION ALL
SELECT genre, rank, track_id, 'rank ' || CAST(rank AS VARCHAR) || ' at position ' || CAST(position AS VARCHAR)
FROM ordered WHERE rank <> position
UNION ALL
SELECT genre, rank, track_id, 'ranked above a song with more plays or a smaller track_id on a tie'
FROM ordered
WHERE previous_play_count < play_count OR (previous_play_count = play_count AND previous_track_id >= track_id)
UNION ALL
SELECT t.genre, t.rank, t.track_id,
       'play_count ' || CAST(t.play_count AS VARCHAR) || ', validated listens ' || CAST(COALESCE(p.plays, 0) AS VARCHAR)
FROM top_songs_per_genre AS t LEFT JOIN plays AS p ON t.genre = p.genre AND t.track_id = p.track_id
WHERE p.plays IS DISTINCT FROM t.play_count
ORDER BY 1, 2 NULLS FIRST
