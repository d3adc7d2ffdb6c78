-- Rows per source file of the day in bronze, validated and rejected listens: the files whose
-- bronze rows are not validated + rejected. Views: bronze_streams, validated_streams, stream_rejects.
WITH b AS (SELECT source_file, COUNT(*) AS n FROM bronze_streams GROUP BY source_file),
v AS (SELECT source_file, COUNT(*) AS n FROM validated_streams GROUP BY source_file),
r AS (SELECT source_file, COUNT(*) AS n FROM stream_rejects GROUP BY source_file)
SELECT
  COALESCE(b.source_file, v.source_file, r.source_file) AS source_file,
  COALESCE(b.n, 0) AS bronze_rows, COALESCE(v.n, 0) AS validated_rows, COALESCE(r.n, 0) AS rejected_rows
FROM b
FULL OUTER JOIN v ON b.source_file = v.source_file
FULL OUTER JOIN r ON COALESCE(b.source_file, v.source_file) = r.source_file
WHERE COALESCE(b.n, 0) <> COALESCE(v.n, 0) + COALESCE(r.n, 0)
ORDER BY 1
