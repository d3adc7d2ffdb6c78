-- Each platform dimension of the day: listen_count sums to the validated listens and listen_share to 1
-- (every dimension present when there are listens). Views: validated_streams, platform_usage_daily.
WITH expected AS (
  SELECT dimension, (SELECT COUNT(*) FROM validated_streams) AS listens
  FROM (VALUES ('device_type'), ('hour'), ('country'), ('subscription_type')) AS d(dimension)
),
actual AS (
  SELECT dimension, SUM(listen_count) AS listens, SUM(listen_share) AS shares FROM platform_usage_daily GROUP BY 1
)
SELECT COALESCE(e.dimension, a.dimension) AS dimension, e.listens AS validated_listens, a.listens AS listen_count,
       a.shares AS share_sum,
       CASE WHEN e.dimension IS NULL THEN 'unknown dimension'
            WHEN COALESCE(a.listens, 0) <> e.listens THEN 'listen_count does not sum to the validated listens'
            ELSE 'listen_share does not sum to 1' END AS problem
FROM expected AS e FULL OUTER JOIN actual AS a ON e.dimension = a.dimension
WHERE e.dimension IS NULL OR COALESCE(a.listens, 0) <> e.listens
   OR (e.listens > 0 AND ABS(a.shares - 1) > $tolerance)
ORDER BY 1
