-- The hash of each bronze listen's key (user_id, track_id, listen_time), with the expressions of
-- validate_streams.sql: the values whose repeats are the view repeated_listen_hashes it reads.
SELECT HASH(TRIM(user_id), TRIM(track_id), listen_time) AS value
FROM bronze_streams
