-- Per date: active users, listens, sessions, completion and the peak hour of the validated listens.
-- A session is a user's listens of one day in (listen_time, source_file, source_line) order; a gap
-- of more than $session_gap_minutes minutes starts a new one (exactly that gap does not). It lasts
-- from its first listen_time to its last listen's listen_time + that listen's listening time.
-- One sort of the day's listens: each listen knows whether it starts a session (LAG) and ends one
-- (LEAD); the (few) boundary listens then pair each session's start with its end.
WITH ordered AS (
  SELECT
    date, user_id, listen_time, listening_time_ms, source_file, source_line,
    LAG(listen_time) OVER w AS previous_listen_time,
    LEAD(listen_time) OVER w AS next_listen_time
  FROM validated_streams
  WINDOW w AS (PARTITION BY date, user_id ORDER BY listen_time, source_file, source_line)
),
boundaries AS (
  SELECT
    date, user_id, listen_time, listening_time_ms, source_file, source_line,
    previous_listen_time IS NULL
    OR listen_time > previous_listen_time + INTERVAL $session_gap_minutes MINUTES AS starts_session,
    next_listen_time IS NULL
    OR next_listen_time > listen_time + INTERVAL $session_gap_minutes MINUTES AS ends_session
  FROM ordered
),
paired AS (
  SELECT
    date, starts_session, listen_time AS started,
    CASE WHEN ends_session THEN listen_time ELSE LEAD(listen_time) OVER b END AS last_listen_time,
    CASE WHEN ends_session THEN listening_time_ms ELSE LEAD(listening_time_ms) OVER b END AS last_listening_time_ms
  FROM boundaries
  WHERE starts_session OR ends_session
  WINDOW b AS (PARTITION BY date, user_id ORDER BY listen_time, source_file, source_line)
),
sessions AS (
  SELECT
    date,
    COUNT(*) AS sessions,
    CAST(SUM(TIMESTAMPDIFF(MICROSECOND, started, last_listen_time) DIV 1000 + last_listening_time_ms) AS DOUBLE)
    / COUNT(*) AS avg_session_duration_ms
  FROM paired
  WHERE starts_session
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
  CASE
    WHEN l.completion_known_listens > 0
      THEN CAST(l.completed_listens AS DOUBLE) / l.completion_known_listens
  END AS completion_rate,
  l.completion_known_listens,
  p.peak_hour
FROM listens AS l
INNER JOIN sessions AS s ON l.date = s.date
INNER JOIN peak AS p ON l.date = p.date
