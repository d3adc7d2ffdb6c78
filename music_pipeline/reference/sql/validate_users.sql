-- Classify every row of users.csv (bronze_users: canonical text columns + source_line, either shape).
-- `reason` is NULL for the one row kept per user_id (the first in file order).
-- A created_at later than a listen is NOT an error; an unparseable one becomes NULL, and so does an
-- age outside 0 .. 150. A blank country or subscription type is NULL (`unknown` in the KPIs).
WITH typed AS (
  SELECT
    NULLIF(TRIM(user_id), '') AS user_id,
    TRIM(user_id) AS id,
    user_name,
    CASE WHEN TRY_CAST(TRIM(user_age) AS BIGINT) BETWEEN 0 AND 150 THEN TRY_CAST(TRIM(user_age) AS BIGINT) END AS user_age,
    NULLIF(TRIM(user_country), '') AS user_country,
    NULLIF(LOWER(TRIM(subscription_type)), '') AS subscription_type,
    TRY_CAST(TRIM(created_at) AS TIMESTAMP_NTZ) AS created_at,
    source_line,
    ingest_reason,
    record
  FROM bronze_users
),
checked AS (
  SELECT
    *, CASE
      WHEN ingest_reason IS NOT NULL THEN ingest_reason
      WHEN user_id IS NULL THEN 'missing_user_id'
    END AS rule_failure
  FROM typed
)
SELECT
  user_id, id, user_name, user_age, user_country, subscription_type, created_at, source_line, record,
  COALESCE(
    rule_failure,
    CASE
      WHEN ROW_NUMBER() OVER (PARTITION BY user_id, rule_failure IS NULL ORDER BY source_line) > 1
        THEN 'duplicate_user_id'
    END
  ) AS reason
FROM checked
