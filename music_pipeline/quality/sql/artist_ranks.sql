-- The day's artists: ranks 1..n in order of listen_count desc then artist asc, and every artist
-- credited on a validated listen present with that many listens. Views: validated_streams, songs,
-- artist_daily_popularity.
WITH song_credits AS (
  SELECT DISTINCT s.track_id, TRIM(a.artist) AS artist
  FROM songs AS s
  CROSS JOIN UNNEST(STR_SPLIT(COALESCE(s.artists, ''), ';')) AS a (artist)
  WHERE TRIM(a.artist) <> ''
),
-- listens per track first (a few thousand rows), then credited to each of the track's artists
plays AS (
  SELECT track_id, COUNT(*) AS listens FROM validated_streams GROUP BY track_id
),
credited AS (
  SELECT COALESCE(c.artist, 'unknown') AS artist, SUM(p.listens) AS listens
  FROM plays AS p
  LEFT JOIN song_credits AS c ON p.track_id = c.track_id
  GROUP BY COALESCE(c.artist, 'unknown')
),
ordered AS (
  SELECT p.*, ROW_NUMBER() OVER (ORDER BY p.listen_count DESC, p.artist ASC) AS position
  FROM artist_daily_popularity AS p
)
SELECT artist, rank, 'rank ' || CAST(rank AS VARCHAR) || ' at position ' || CAST(position AS VARCHAR) AS problem
FROM ordered WHERE rank <> position
UNION ALL
SELECT
  COALESCE(c.artist, p.artist), p.rank,
  'listen_count ' || COALESCE(CAST(p.listen_count AS VARCHAR), 'missing') || ', credited listens '
  || COALESCE(CAST(c.listens AS VARCHAR), '0')
FROM credited AS c FULL OUTER JOIN artist_daily_popularity AS p ON c.artist = p.artist
WHERE c.listens IS DISTINCT FROM p.listen_count
ORDER BY 2 NULLS FIRST, 1
