-- Per date: active users, listens, sessions, completion and the peak hour of the validated listens.
-- A session is a user's listens of one day in (listen_time, source_file, source_line) order; a gap
-- of more than $session_gap_minutes minutes starts a new one (exactly that gap does not). It lasts
-- from its first listen_time to its last listen's listen_time + that listen's listening time.
WITH ordered AS (
  SELECT
    date, user_id, listen_time, listening_time_ms, completed,
    LAG(listen_time) OVER w AS previous_listen_time,
    ROW_NUMBER() OVER w AS position
  FROM validated_streams
  WINDOW w AS (PARTITION BY date, user_id ORDER BY listen_time, source_file, source_line)
),
numbered AS (
  SELECT
    *,
    SUM(CASE WHEN previous_listen_time IS NULL
              OR listen_time > previous_listen_time + INTERVAL $session_gap_minutes MINUTES THEN 1 ELSE 0 END)
      OVER (PARTITION BY date, user_id ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session
  FROM ordered
),
session_ends AS (
  SELECT
    date, user_id, session, listen_time, listening_time_ms,
    MIN(listen_time) OVER (PARTITION BY date, user_id, session) AS started,
    ROW_NUMBER() OVER (PARTITION BY date, user_id, session ORDER BY position DESC) AS from_last
  FROM numbered
),
sessions AS (
  SELECT
    date,
    COUNT(*) AS sessions,
    CAST(SUM(TIMESTAMPDIFF(MICROSECOND, started, listen_time) DIV 1000 + listening_time_ms) AS DOUBLE)
      / COUNT(*) AS avg_session_duration_ms
  FROM session_ends
  WHERE from_last = 1
  GROUP BY date
),
hours AS (
  SELECT date, HOUR(listen_time) AS hour, COUNT(*) AS listens FROM validated_streams GROUP BY date, HOUR(listen_time)
),
peak AS (
  SELECT date, hour AS peak_hour
  FROM (SELECT date, hour, ROW_NUMBER() OVER (PARTITION BY date ORDER BY listens DESC, hour ASC) AS position FROM hours) AS h
  WHERE position = 1
),
listens AS (
  SELECT
    date,
    COUNT(DISTINCT user_id) AS daily_active_users,
    COUNT(*) AS listens,
    SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS completed_listens,
    COUNT(completed) AS completion_known_listens
  FROM validated_streams
  GROUP BY date
)
SELECT
  l.date,
  l.daily_active_users,
  l.listens,
  CAST(l.listens AS DOUBLE) / l.daily_active_users AS listens_per_user,
  s.sessions,
  s.avg_session_duration_ms,
  CASE WHEN l.completion_known_listens > 0
       THEN CAST(l.completed_listens AS DOUBLE) / l.completion_known_listens END AS completion_rate,
  l.completion_known_listens,
  p.peak_hour
FROM listens AS l
JOIN sessions AS s ON l.date = s.date
JOIN peak AS p ON l.date = p.date
