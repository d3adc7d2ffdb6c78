-- validated_streams' listens with `listen_key`, 64 bits that order them by pair, then time (repeats.py sorts
-- them): the upper bits of HASH(user_id, track_id), then the $second_bits lower bits of the listen's second
-- counted from $first_us (microseconds since the epoch, before the day starts), held within 0 .. $last_second; a
-- listen without a time counts as the last second. Along one pair the key never decreases as time goes on, and
-- two listens t seconds apart have keys at most ceil(t) apart.
SELECT
  user_id,
  track_id,
  listen_time,
  source_file,
  source_line,
  ((HASH(user_id, track_id) >> $second_bits) << $second_bits)
  | CAST(
    COALESCE(LEAST(GREATEST((EPOCH_US(listen_time) - $first_us) // 1000000, 0), $last_second), $last_second) AS UBIGINT
  ) AS listen_key
FROM validated_streams
