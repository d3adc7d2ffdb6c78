-- The day's artists: ranks 1..n in order of listen_count desc then artist asc, and every artist
-- credited on a validated listen present with that many listens. Views: validated_streams, songs,
-- artist_daily_popularity.
WITH credits AS (
  SELECT DISTINCT v.source_file, v.source_line, TRIM(a.artist) AS artist
  FROM validated_streams AS v
  LEFT JOIN songs AS s ON v.track_id = s.track_id
  CROSS JOIN UNNEST(STR_SPLIT(COALESCE(s.artists, ''), ';')) AS a(artist)
  WHERE TRIM(a.artist) <> ''
),
credited AS (
  SELECT artist, COUNT(*) AS listens
  FROM (
    SELECT artist FROM credits
    UNION ALL
    SELECT 'unknown' FROM validated_streams AS v
    WHERE NOT EXISTS (SELECT 1 FROM credits AS c WHERE c.source_file = v.source_file AND c.source_line = v.source_line)
  ) AS all_credits
  GROUP BY artist
),
ordered AS (
  SELECT p.*, ROW_NUMBER() OVER (ORDER BY listen_count DESC, artist ASC) AS position
  FROM artist_daily_popularity AS p
)
SELECT artist, rank, 'rank ' || CAST(rank AS VARCHAR) || ' at position ' || CAST(position AS VARCHAR) AS problem
FROM ordered WHERE rank <> position
UNION ALL
SELECT COALESCE(c.artist, p.artist), p.rank,
       'listen_count ' || COALESCE(CAST(p.listen_count AS VARCHAR), 'missing') || ', credited listens '
       || COALESCE(CAST(c.listens AS VARCHAR), '0')
FROM credited AS c FULL OUTER JOIN artist_daily_popularity AS p ON c.artist = p.artist
WHERE c.listens IS DISTINCT FROM p.listen_count
ORDER BY 2 NULLS FIRST, 1
