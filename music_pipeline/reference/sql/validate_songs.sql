-- Classify every row of songs.csv (bronze_songs: canonical text columns + source_line, either shape).
-- `reason` is NULL for the one row kept per track_id. Among rows that pass the row rules, the
-- first in file order (lowest source_line) is kept; later ones are `duplicate_track_id`.
-- A duration must be a whole number of milliseconds in 1 .. 86,400,000 (24 h).
-- A genre is part of DynamoDB keys: at most 1000 bytes of UTF-8 and no `#` (contracts.GENRE_MAX_BYTES).
WITH typed AS (
  SELECT
    NULLIF(TRIM(track_id), '') AS track_id,
    TRIM(track_id) AS id,
    track_name,
    artists,
    album_name,
    NULLIF(TRIM(track_genre), '') AS genre,
    TRY_CAST(TRIM(duration_ms) AS BIGINT) AS duration_ms,
    TRY_CAST(TRIM(popularity) AS BIGINT) AS popularity,
    NULLIF(TRIM(release_date), '') AS release_date,
    source_line,
    ingest_reason,
    record
  FROM bronze_songs
),
checked AS (
  SELECT
    *,
    CASE
      WHEN ingest_reason IS NOT NULL THEN ingest_reason
      WHEN track_id IS NULL THEN 'missing_track_id'
      WHEN genre IS NULL THEN 'missing_genre'
      WHEN OCTET_LENGTH(ENCODE(genre, 'UTF-8')) > 1000 OR genre LIKE '%#%' THEN 'invalid_genre'
      WHEN duration_ms IS NULL OR duration_ms <= 0 OR duration_ms > 86400000 THEN 'invalid_duration_ms'
    END AS rule_failure
  FROM typed
)
SELECT
  track_id, id, track_name, artists, album_name, genre, duration_ms, popularity, release_date, source_line, record,
  COALESCE(
    rule_failure,
    CASE
      WHEN ROW_NUMBER() OVER (PARTITION BY track_id, rule_failure IS NULL ORDER BY source_line) > 1
        THEN 'duplicate_track_id'
    END
  ) AS reason
FROM checked
