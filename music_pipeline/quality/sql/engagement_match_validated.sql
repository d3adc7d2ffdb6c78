-- The day's engagement row against the validated listens: exactly one row when there are listens,
-- daily_active_users = distinct users, listens = rows, completion counts, DAU <= sessions <= listens,
-- and the peak hour has the most listens (the earliest such hour). Views: validated_streams,
-- daily_user_engagement.
WITH v AS (
  SELECT COUNT(DISTINCT user_id) AS users, COUNT(*) AS listens, COUNT(completed) AS known,
         SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS completed
  FROM validated_streams
),
hours AS (
  SELECT HOUR(listen_time) AS hour, COUNT(*) AS n FROM validated_streams GROUP BY 1
),
peak AS (
  SELECT hour FROM hours ORDER BY n DESC, hour LIMIT 1
),
rows AS (
  SELECT COUNT(*) AS n FROM daily_user_engagement
)
SELECT CAST(NULL AS BIGINT) AS daily_active_users, CAST(r.n AS VARCHAR) || ' rows' AS problem
FROM rows AS r, v WHERE r.n <> CASE WHEN v.listens > 0 THEN 1 ELSE 0 END
UNION ALL
SELECT e.daily_active_users, 'daily_active_users is not the distinct users of validated_streams'
FROM daily_user_engagement AS e, v WHERE e.daily_active_users <> v.users
UNION ALL
SELECT e.daily_active_users, 'listens is not the rows of validated_streams'
FROM daily_user_engagement AS e, v WHERE e.listens <> v.listens
UNION ALL
SELECT e.daily_active_users, 'sessions outside daily_active_users .. listens'
FROM daily_user_engagement AS e WHERE e.sessions < e.daily_active_users OR e.sessions > e.listens
UNION ALL
SELECT e.daily_active_users, 'completion figures differ from the validated listens'
FROM daily_user_engagement AS e, v
WHERE e.completion_known_listens <> v.known
   OR (v.known = 0 AND e.completion_rate IS NOT NULL)
   OR (v.known > 0 AND ABS(e.completion_rate - CAST(v.completed AS DOUBLE) / v.known) > 1e-9)
UNION ALL
SELECT e.daily_active_users, 'peak_hour is not the hour with the most listens'
FROM daily_user_engagement AS e, peak AS p WHERE e.peak_hour <> p.hour
