-- The listens of a plain CSV delivery (ingestion/plain_csv.py), in file order: the header line skipped, every field
-- text exactly as written (no NULL string, no trimming: an empty field is ''), a record whose field count is not the
-- header's, or a line that is not UTF-8, an error (strict). listen_time is typed only where it is spelled
-- `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS` and names a real instant: the text must be the canonical spelling of
-- the timestamp it casts to (so no Feb 30, no hour 24, no second 60, no year 0), which is exactly what
-- stream_typing.parse_listen_time gives for that shape. Anything else is NULL, and a NULL sends the whole file to the
-- careful reader.
-- $path: the file (quoted); $columns: the header's names in file order as a read_csv `columns` struct.
WITH fields AS (
  SELECT user_id, track_id, listen_time, TRY_CAST(listen_time AS TIMESTAMP) AS instant
  FROM READ_CSV(
    $path,
    auto_detect = false,
    header = false,
    skip = 1,
    delim = ',',
    quote = '"',
    escape = '"',
    new_line = '\n',
    columns = $columns,
    force_not_null = ['user_id', 'track_id', 'listen_time'],
    strict_mode = true,
    null_padding = false,
    ignore_errors = false,
    parallel = true
  )
)
SELECT
  user_id,
  track_id,
  -- the canonical text of a whole-second timestamp is `YYYY-MM-DD HH:MM:SS` (19 characters; a year before 1 has
  -- ' (BC)'): equal to the text with its T made a space, the text is that spelling with ' ' or 'T' at position 11
  CASE WHEN LENGTH(listen_time) = 19 AND CAST(instant AS VARCHAR) = REPLACE(listen_time, 'T', ' ') THEN instant END
    AS listen_time
FROM fields
