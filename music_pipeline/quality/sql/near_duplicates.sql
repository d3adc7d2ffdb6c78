-- Listens of the same user and track less than $seconds seconds after the previous one
-- (exact duplicates are already rejected by validation). Table: repeated_listens.
SELECT user_id, track_id, previous_listen_time, listen_time, source_file, source_line
FROM repeated_listens
WHERE listen_time - previous_listen_time < INTERVAL $seconds SECOND
ORDER BY user_id, track_id, listen_time, source_file, source_line
