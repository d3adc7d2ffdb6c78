-- The candidates of repeated_listens.sql that repeats.py found by sorting the listen keys in this process:
-- the listens of view listen_keys whose key is one of table close_listen_keys.
SELECT
  user_id,
  track_id,
  listen_time,
  source_file,
  source_line
FROM listen_keys
WHERE listen_key IN (SELECT c.listen_key FROM close_listen_keys AS c)
