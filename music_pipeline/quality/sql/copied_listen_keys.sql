-- Keys of validated_streams that occur more than once, as unique_keys.sql would count them: a key of
-- n copies has n - 1 rows that copy the previous one (table: repeated_listens).
SELECT user_id, track_id, listen_time, COUNT(*) + 1 AS copies
FROM repeated_listens
WHERE is_copy
GROUP BY user_id, track_id, listen_time
ORDER BY copies DESC, user_id, track_id, listen_time
